#!/usr/bin/env python
"""Page times of the operations cockpit on the demo year: the cockpit for a year, a quarter, a
month and a week, one indicator page, and the drill-downs (departments, hours of the day,
doctors, booking channels, the longest waits), as the operations manager and a department head.

    SMARTCARE_VAR_DIR=... .venv/bin/python bench/cockpit.py [--rounds 20] [--backfill]

Runs against the configured database, which must hold the demo hospital (``smartcare demo-data``,
which also backfills the daily facts; ``--backfill`` recomputes them first). Each page is
requested once to warm up, then ``--rounds`` times through Django's test client (full middleware,
sessions, templates; no network).

The last line of stdout is one JSON object: ``{"benchmark": "cockpit", "requests", "p50_ms",
"p95_ms", "max_ms", "slowest", "pages": {path: p95_ms}, "target_ms": 300}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcare.settings")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backfill", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from smartcare.accounts.choices import Role
    from smartcare.core import clock
    from smartcare.kpi import facts
    from smartcare.kpi.periods import period_containing

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    today = clock.today()
    if args.backfill:
        facts.build_facts(today - dt.timedelta(days=365), today)
    users = get_user_model().objects
    manager = users.filter(role=Role.OPERATIONS_MANAGER, is_active=True).order_by("pk").first()
    head = users.filter(role=Role.DEPARTMENT_HEAD, is_active=True).order_by("pk").first()
    if manager is None:
        print("no demo hospital: run smartcare demo-data first", file=sys.stderr)
        return 1
    year = period_containing("year", today).label
    quarter = period_containing("quarter", today).previous().label
    month = period_containing("month", today).previous().label
    week = period_containing("week", today).previous().label
    pages = [
        f"/kpi/?period={year}",
        f"/kpi/?period={quarter}",
        f"/kpi/?period={month}",
        f"/kpi/?period={week}",
        f"/kpi/indicators/arrival_wait/?period={year}&by=department",
        f"/kpi/indicators/arrival_wait/?period={year}&by=hour",
        f"/kpi/indicators/arrival_wait/?period={year}&by=doctor",
        f"/kpi/indicators/arrival_wait/?period={month}&by=cases",
        f"/kpi/indicators/booking_success/?period={year}&by=channel",
        f"/kpi/indicators/cdss_usage/?period={quarter}&by=doctor",
        f"/kpi/indicators/patient_satisfaction/?period={year}",
    ]
    timings: dict[str, list[float]] = {}
    everything: list[float] = []
    for user in (manager, head):
        if user is None:
            continue
        client = Client()
        client.force_login(user)
        for path in pages:
            response = client.get(path)
            if response.status_code != 200:
                print(f"{path} as {user}: HTTP {response.status_code}", file=sys.stderr)
                return 1
            for _ in range(args.rounds):
                started = time.perf_counter()
                client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                timings.setdefault(f"{user.role} {path}", []).append(elapsed)
                everything.append(elapsed)
    per_page = {key: round(percentile(values, 0.95), 1) for key, values in timings.items()}
    slowest = max(per_page, key=lambda k: per_page[k])
    for key, value in per_page.items():
        print(f"{value:8.1f} ms p95  {key}")
    print(
        json.dumps(
            {
                "benchmark": "cockpit",
                "requests": len(everything),
                "p50_ms": round(statistics.median(everything), 1),
                "p95_ms": round(percentile(everything, 0.95), 1),
                "max_ms": round(max(everything), 1),
                "slowest": slowest,
                "pages": per_page,
                "target_ms": 300,
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
