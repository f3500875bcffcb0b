"""``smartcare worker``: runs background tasks from whichever queue is configured."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run background tasks: the database queue by default, RQ on Redis when REDIS_URL is set."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty")

    def handle(self, *args: Any, **options: Any) -> None:
        import threading

        from smartcare.core.periodic import start_ticker

        backend = str(settings.TASKS["default"]["BACKEND"])
        if not options["burst"]:
            start_ticker(threading.Event())
        if backend.startswith("django_tasks_rq"):
            self.stdout.write("smartcare worker: RQ on Redis")
            extra = ["--burst"] if options["burst"] else []
            call_command(
                "rqworker", "default", "--job-class", "django_tasks_rq.Job", "--with-scheduler", *extra
            )
        else:
            self.stdout.write("smartcare worker: database queue")
            extra = ["--batch"] if options["burst"] else []
            call_command("db_worker", "--interval", "1", *extra)
