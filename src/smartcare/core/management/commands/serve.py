"""``smartcare serve``: the ASGI web server (uvicorn), with HTTPS when given a certificate."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve smartcare over HTTP or HTTPS (uvicorn, ASGI: pages, API and websockets)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("SMARTCARE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("SMARTCARE_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("SMARTCARE_WEB_WORKERS", "1")))
        parser.add_argument(
            "--certfile", help="TLS certificate (PEM); serves HTTPS with secure cookies and HSTS"
        )
        parser.add_argument("--keyfile", help="TLS private key (PEM)")
        parser.add_argument("--log-level", default="info")

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        certfile, keyfile = options["certfile"], options["keyfile"]
        if bool(certfile) != bool(keyfile):
            raise CommandError("--certfile and --keyfile go together")
        if certfile:
            for path in (certfile, keyfile):
                if not os.path.exists(path):
                    raise CommandError(f"not found: {path}")
            # Settings read this at import in every worker process.
            os.environ["SMARTCARE_HTTPS"] = "1"
        scheme = "https" if certfile else "http"
        self.stdout.write(f"smartcare serving on {scheme}://{options['host']}:{options['port']}")
        uvicorn.run(
            "smartcare.asgi:application",
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            log_level=options["log_level"],
            proxy_headers=True,
            lifespan="off",
        )
