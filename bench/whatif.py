#!/usr/bin/env python
"""Throughput of the what-if model (SimPy): simulated bookings per second.

    .venv/bin/python bench/whatif.py [--doctors 8] [--weeks 4] [--runs 10] [--seed 1]

Builds, without a database, a department like the demo's busiest clinic (``--doctors`` doctors,
each with five morning and three afternoon sessions a week of 30-minute slots for four patients,
filled at about 80 %, the demo generator's arrival offsets and consultation times), then runs
``compare`` (current setup against a scenario with one more Monday-morning doctor): ``runs`` times
both setups over ``weeks`` weeks. The figure sizes ``simulation.services.INLINE_LIMIT`` (runs
larger than a couple of seconds go to the background).

The last line of stdout is one JSON object: ``{"benchmark": "whatif", "bookings", "seconds",
"bookings_per_second", "runs", "weeks", "doctors", "loadavg"}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--doctors", type=int, default=8)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcare.settings")
    var_dir = None
    if "SMARTCARE_VAR_DIR" not in os.environ:
        var_dir = tempfile.mkdtemp(prefix="smartcare-bench-whatif-")
        os.environ["SMARTCARE_VAR_DIR"] = var_dir
    try:
        run(args)
    finally:
        if var_dir is not None:
            shutil.rmtree(var_dir, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()

    from smartcare.simulation.whatif.compare import compare
    from smartcare.simulation.whatif.measure import ClinicData, SessionPlan
    from smartcare.simulation.whatif.model import Behaviour
    from smartcare.simulation.whatif.scenario import ExtraSession, Scenario

    rng = random.Random(args.seed)
    offsets = sorted(
        rng.triangular(-30, 5, -12) if rng.random() < 0.85 else rng.uniform(0, 20) for _ in range(2000)
    )
    consult = {d: sorted(rng.triangular(5, 15, 8 + d % 4) for _ in range(500)) for d in range(args.doctors)}
    plans = []
    for d in range(args.doctors):
        for weekday in range(5):
            plans.append(
                SessionPlan(
                    weekday, "morning", d, 480, 720, 30, 4, [rng.randint(22, 30) for _ in range(12)], 1.0
                )
            )
        for weekday in (0, 2, 4):
            plans.append(
                SessionPlan(
                    weekday, "afternoon", d, 810, 1020, 30, 4, [rng.randint(18, 26) for _ in range(12)], 1.0
                )
            )
    data = ClinicData(
        department_code="bench",
        department_name="bench",
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 3, 31),
        plans=plans,
        behaviour=Behaviour(
            offsets, 0.045, 0.55, 0.30, 0.15, 0.1, [0.3, 0.6, 0.9, 1.2, 1.5], [-5, 0, 3, 6, 10]
        ),
        consult=consult,
        consult_all=[m for v in consult.values() for m in v],
        opens_minutes=60,
        late_grace_minutes=15,
        kiosks=2,
        desks=1,
    )
    scenario = Scenario(extra_sessions=(ExtraSession(0, "morning", 1),))
    started = time.perf_counter()
    result = compare(data, scenario, runs=args.runs, weeks=args.weeks, seed=args.seed)
    seconds = time.perf_counter() - started
    metrics = result["metrics"]
    bookings = round(
        (metrics["booked_per_week"]["current"]["mean"] + metrics["booked_per_week"]["scenario"]["mean"])
        * args.weeks
        * args.runs
    )
    print(
        json.dumps(
            {
                "benchmark": "whatif",
                "bookings": bookings,
                "seconds": round(seconds, 2),
                "bookings_per_second": round(bookings / seconds),
                "runs": args.runs,
                "weeks": args.weeks,
                "doctors": args.doctors,
                "wait_difference": metrics["wait_mean"]["difference"],
                "loadavg": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
