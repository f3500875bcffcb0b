"""``smartcare hl7-listen --port 2575``: the HL7 v2 listener (MLLP over TCP, optionally TLS)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.urls import get_resolver

from smartcare.interop.hl7.mllp import IDLE_TIMEOUT_SECONDS, MllpServer, tls_context


class Command(BaseCommand):
    help = "Listen for HL7 v2 messages (ADT^A01/A04/A08, ORU^R01) over MLLP and acknowledge each."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="0.0.0.0", help="Address to listen on (default: all)")  # noqa: S104
        parser.add_argument("--port", type=int, default=2575, help="TCP port (default 2575)")
        parser.add_argument("--certfile", default="", help="TLS certificate (PEM): MLLP over TLS")
        parser.add_argument("--keyfile", default="", help="TLS private key (PEM)")
        parser.add_argument(
            "--idle-timeout",
            type=float,
            default=IDLE_TIMEOUT_SECONDS,
            help="Close idle connections after seconds",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tls = None
        if options["certfile"] or options["keyfile"]:
            if not (options["certfile"] and options["keyfile"]):
                raise CommandError("HL7-021 --certfile and --keyfile go together")
            tls = tls_context(options["certfile"], options["keyfile"])
        try:
            server = MllpServer(
                (options["host"], options["port"]), idle_timeout=options["idle_timeout"], tls=tls
            )
        except OSError as exc:
            raise CommandError(
                f"HL7-022 cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from None

        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
        get_resolver().url_patterns  # noqa: B018 (the URLconf loads now, not during the first message)
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True)
        serving.start()
        scheme = "MLLP over TLS" if tls else "MLLP"
        self.stdout.write(f"smartcare hl7-listen: {scheme} on {options['host']}:{server.port}")
        self.stdout.flush()
        try:
            while not stopping.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()
        self.stdout.write("smartcare hl7-listen: stopped")
