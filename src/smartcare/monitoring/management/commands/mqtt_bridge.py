"""``smartcare mqtt-bridge``: device readings from the MQTT broker in MQTT_URL into the database.

Runs until SIGTERM or SIGINT (Ctrl-C); then it stores and acknowledges what has arrived and leaves
the rest with the broker (its session is kept: nothing published meanwhile is lost).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import context
from smartcare.core.errors import CodedError
from smartcare.monitoring.bridge import Bridge, BridgeStats

logger = logging.getLogger("smartcare.monitoring.bridge")


class Command(BaseCommand):
    help = "Subscribe to the MQTT broker (MQTT_URL) and store device readings, with alerts."
    # A long-running process that serves no URLs: starting fast after a restart matters more.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default=None, help="Broker URL (default: MQTT_URL)")
        parser.add_argument("--topic-prefix", default=None, help="Default: SMARTCARE_MQTT_TOPIC_PREFIX")
        parser.add_argument("--client-id", default=None, help="Default: SMARTCARE_MQTT_CLIENT_ID")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--batch-wait-ms", type=int, default=50)
        parser.add_argument("--receive-maximum", type=int, default=20000)
        parser.add_argument(
            "--session-expiry", type=int, default=7 * 24 * 3600, help="Seconds the broker keeps the session"
        )
        parser.add_argument("--idle-exit", type=float, default=None, help="Stop after N idle seconds (tests)")
        parser.add_argument("--stats-every", type=float, default=30.0, help="Log counters every N seconds")
        parser.add_argument("--stats-file", default=None, help="Write the counters as JSON to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        url = options["url"] or settings.MQTT_URL or "mqtt://127.0.0.1:1883"
        last_report = [time.monotonic()]

        def report(stats: BridgeStats) -> None:
            now = time.monotonic()
            if options["stats_file"]:
                with open(options["stats_file"], "w") as handle:
                    json.dump(stats.as_dict(), handle)
            if now - last_report[0] >= options["stats_every"]:
                last_report[0] = now
                logger.info("bridge counters: %s", stats.as_dict())

        try:
            bridge = Bridge(
                url=url,
                topic_prefix=options["topic_prefix"] or settings.SMARTCARE_MQTT_TOPIC_PREFIX,
                client_id=options["client_id"] or settings.SMARTCARE_MQTT_CLIENT_ID,
                batch_size=options["batch_size"],
                batch_wait=options["batch_wait_ms"] / 1000,
                session_expiry=options["session_expiry"],
                receive_maximum=options["receive_maximum"],
                stop=stop,
                on_batch=report,
            )
        except CodedError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from None
        with context.acting(context.RequestContext(channel="mqtt")):
            record(
                None,
                AuditAction.SYSTEM,
                actor_username="mqtt-bridge",
                detail={
                    "event": "mqtt bridge started",
                    "topic": bridge.subscription,
                    "client_id": bridge.client_id,
                },
            )
            self.stdout.write(
                f"smartcare mqtt-bridge: {url} topic {bridge.subscription} as {bridge.client_id}"
            )
            self.stdout.flush()
            stats = bridge.run(idle_exit=options["idle_exit"])
        if options["stats_file"]:
            with open(options["stats_file"], "w") as handle:
                json.dump(stats.as_dict(), handle)
        self.stdout.write("smartcare mqtt-bridge stopped: " + json.dumps(stats.as_dict()))
