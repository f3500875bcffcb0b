"""MLLP (the Minimal Lower Layer Protocol of HL7 v2) over TCP.

A block is ``<VT> message <FS><CR>``; every block gets one block back with its ACK (a batch gets
a batch of ACKs). Each connection is served by its own thread with its own database connection;
bytes before a block start are ignored, a block larger than the limit is refused with an AR and
the connection closed. The ACK is encoded in the character set of the message (MSH-18).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
from typing import Any

from django.db import close_old_connections, connections

from smartcare.core import context
from smartcare.interop.hl7 import services
from smartcare.interop.hl7.ack import build_ack
from smartcare.interop.hl7.errors import Hl7Error, MessageTooLarge
from smartcare.interop.hl7.parsing import MAX_MESSAGE_BYTES, charset_of
from smartcare.interop.models import Transport

logger = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
IDLE_TIMEOUT_SECONDS = 300


def frame(payload: bytes) -> bytes:
    return START_BLOCK + payload + END_BLOCK + CARRIAGE_RETURN


def take_block(buffer: bytes) -> tuple[bytes | None, bytes]:
    """(one complete block's payload or None, the rest of the buffer)."""
    start = buffer.find(START_BLOCK)
    if start < 0:
        return None, b""
    end = buffer.find(END_BLOCK, start + 1)
    if end < 0:
        return None, buffer[start:]
    rest = buffer[end + 1 :]
    if rest.startswith(CARRIAGE_RETURN):
        rest = rest[1:]
    return buffer[start + 1 : end], rest


def _encode(text: str, payload: bytes) -> bytes:
    try:
        codec = charset_of(payload)
    except Hl7Error:
        codec = "utf-8"
    return text.encode(codec, errors="replace")


class MllpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        address = str(self.client_address[0]) if self.client_address else ""
        sock.settimeout(getattr(self.server, "idle_timeout", IDLE_TIMEOUT_SECONDS))
        buffer = b""
        try:
            while True:
                try:
                    chunk = sock.recv(65536)
                except (TimeoutError, OSError):
                    break
                if not chunk:
                    break
                buffer += chunk
                while True:
                    payload, buffer = take_block(buffer)
                    if payload is None:
                        break
                    sock.sendall(frame(self._answer(payload, address)))
                if len(buffer) > MAX_MESSAGE_BYTES + 2:
                    error = MessageTooLarge(limit=MAX_MESSAGE_BYTES)
                    sock.sendall(frame(build_ack(None, "AR", error=error).encode()))
                    break
        finally:
            connections.close_all()

    def _answer(self, payload: bytes, address: str) -> bytes:
        close_old_connections()
        with context.acting(context.RequestContext(client_address=address, channel="hl7")):
            try:
                reply = services.receive(payload, transport=Transport.MLLP, remote_address=address)
            except Exception:  # the connection stays up for the next message
                logger.exception("MLLP message from %s could not be answered", address)
                from smartcare.interop.hl7.errors import InternalError

                return build_ack(None, "AE", error=InternalError()).encode()
        return _encode(reply.text, payload)


class MllpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.idle_timeout = idle_timeout
        super().__init__(address, MllpHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def send(
    host: str, port: int, payload: bytes, *, timeout: float = 30, tls: ssl.SSLContext | None = None
) -> bytes:
    """Send one block and wait for the answer (a small client, used by tests and the demo)."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock: Any = tls.wrap_socket(raw, server_hostname=host) if tls is not None else raw
        sock.sendall(frame(payload))
        buffer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection before answering")
            buffer += chunk
            answer, _rest = take_block(buffer)
            if answer is not None:
                return answer
