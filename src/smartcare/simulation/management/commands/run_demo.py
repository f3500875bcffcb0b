"""``smartcare run-demo``: the web server and a task worker together, as `make demo` runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from django.core.management.base import BaseCommand

from smartcare.simulation.management.commands.demo_data import demo_logins_text


class Command(BaseCommand):
    help = "Serve the demo on http://127.0.0.1:8000 with a background worker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        smartcare = [sys.executable, "-m", "smartcare.cli"]
        worker = subprocess.Popen([*smartcare, "worker"], env=os.environ.copy())
        self.stdout.write(demo_logins_text())
        self.stdout.write(
            f"\nOpen http://127.0.0.1:{options['port']}/  (Ctrl-C stops the server and the worker)\n"
        )
        try:
            subprocess.run([*smartcare, "serve", "--port", str(options["port"])], check=False)
        except KeyboardInterrupt:
            pass
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
