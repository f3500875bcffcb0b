"""multipart/related bodies (DICOMweb STOW-RS requests and WADO-RS responses), read with the
standard library's MIME parser and written by hand (the format is a few lines)."""

from __future__ import annotations

import secrets
from email.parser import BytesParser
from email.policy import HTTP

from smartcare.interop.dicom.errors import BadMultipart


def content_type_parameters(content_type: str) -> tuple[str, dict[str, str]]:
    main, *rest = content_type.split(";")
    params: dict[str, str] = {}
    for part in rest:
        name, _sep, value = part.strip().partition("=")
        if name:
            params[name.strip().lower()] = value.strip().strip('"')
    return main.strip().lower(), params


def parse_related(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """The parts of a multipart/related body as (content type, bytes)."""
    main, params = content_type_parameters(content_type)
    if main != "multipart/related" or not params.get("boundary"):
        raise BadMultipart(reason="missing multipart/related boundary")
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise BadMultipart(reason="no parts")
    parts: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise BadMultipart(reason="a part has no content")
        parts.append((part.get_content_type(), payload))
    if not parts:
        raise BadMultipart(reason="no parts")
    return parts


def build_related(parts: list[bytes], part_type: str = "application/dicom") -> tuple[bytes, str]:
    """(body, content type) of a multipart/related message."""
    boundary = "smartcare-" + secrets.token_hex(12)
    chunks = []
    for data in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="{part_type}"; boundary={boundary}'
