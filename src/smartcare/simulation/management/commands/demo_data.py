"""``smartcare demo-data --seed N``: build the demo hospital (deterministic for a seed and a date)."""

from __future__ import annotations

import random
import time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

import smartcare.simulation.emr_demo
import smartcare.simulation.equipment_demo
import smartcare.simulation.followup_demo
import smartcare.simulation.health_demo
import smartcare.simulation.interop_demo
import smartcare.simulation.kpi_demo
import smartcare.simulation.monitoring_demo
import smartcare.simulation.quality_demo
import smartcare.simulation.research_demo
import smartcare.simulation.research_projects_demo
import smartcare.simulation.telemedicine_demo
import smartcare.simulation.workforce_demo  # noqa: F401 (registers its generator)
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import context
from smartcare.organization.models import Hospital
from smartcare.simulation import billing_demo, cdss_demo, foundation, scheduling_demo, triage_demo  # noqa: F401 (registers generators)
from smartcare.simulation.registry import DemoContext, generators


class Command(BaseCommand):
    help = "Create the demo hospital with staff, patients and a year of activity from every module."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--patients", type=int, default=5000)
        parser.add_argument(
            "--if-missing", action="store_true", help="Do nothing when the demo hospital exists"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if Hospital.objects.filter(code=foundation.HOSPITAL_CODE).exists():
            if options["if_missing"]:
                self.stdout.write("demo hospital already present")
                return
            self.stderr.write(
                "SIM-001 the demo hospital exists already; use a fresh database (smartcare flush)"
            )
            raise SystemExit(1)
        ctx = DemoContext(
            seed=options["seed"],
            rng=random.Random(options["seed"]),
            patients=options["patients"],
            log=lambda line: self.stdout.write(line),
            state={},
        )
        started = time.monotonic()
        with context.acting(context.RequestContext(channel="cli")), transaction.atomic():
            for generator in generators():
                generator.run(ctx)
            record(
                None,
                AuditAction.SYSTEM,
                actor_username="demo-data",
                detail={"event": "demo hospital created", "seed": options["seed"]},
            )
        self.stdout.write(self.style.SUCCESS(f"demo hospital ready in {time.monotonic() - started:.1f}s"))
        self.stdout.write(demo_logins_text())


def demo_logins_text() -> str:
    lines = ["", f"Demo logins (password: {foundation.DEMO_PASSWORD})"]
    for username, role, display, _dept in foundation.DEMO_LOGINS:
        lines.append(f"  {role:<20} {username:<12} {display}")
    return "\n".join(lines)
