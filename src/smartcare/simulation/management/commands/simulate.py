"""``smartcare simulate --department CODE --scenario FILE [--runs N --weeks N --seed N]``: compare the
department's current clinic setup with a what-if scenario (wait time, overtime, staff load, with
95 % intervals from repeated seeded runs); the last line is one JSON object.

``smartcare simulate --department CODE --validate [--month YYYY-MM]``: fit the model on the 91 days
before a past month (default: last month), replay that month's booked sessions, and compare the
simulated waits with the measured ones; ``within_tolerance`` says whether the model holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from smartcare.core.errors import CodedError
from smartcare.simulation.errors import InvalidScenarioFile
from smartcare.simulation.whatif import compare
from smartcare.simulation.whatif.measure import department_by_code
from smartcare.simulation.whatif.scenario import Scenario, parse


class Command(BaseCommand):
    help = "Compare a department's clinic with a what-if scenario, or validate the model on a past month."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--department", required=True, help="national department code, e.g. 03.04")
        parser.add_argument("--scenario", help="scenario file (JSON or YAML); without it the current setup")
        parser.add_argument("--runs", help="repeated runs (2-100, default 10; 5 with --validate)")
        parser.add_argument("--weeks", default="4", help="weeks simulated per run (1-12, default 4)")
        parser.add_argument("--seed", default="1", help="seed of the first run (default 1)")
        parser.add_argument("--validate", action="store_true", help="validate the model on a past month")
        parser.add_argument("--month", help="month to validate on, YYYY-MM (default: last month)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            department = department_by_code(options["department"])
            if options["validate"]:
                runs, _weeks, seed = compare.check_options(options["runs"] or 5, 1, options["seed"])
                result = compare.validate(
                    department, options["month"] or compare.last_full_month(), runs=runs, seed=seed
                )
            else:
                scenario = Scenario()
                if options["scenario"]:
                    path = Path(options["scenario"])
                    if not path.is_file():
                        raise InvalidScenarioFile(problem=f"no such file: {path}")
                    scenario = parse(path.read_bytes())
                result = compare.compare_department(
                    department,
                    scenario,
                    runs=options["runs"] or 10,
                    weeks=options["weeks"],
                    seed=options["seed"],
                )
        except CodedError as exc:
            raise CommandError(f"{exc.code} {exc.detail}") from exc
        if not options["validate"]:
            for name, values in result["metrics"].items():
                self.stdout.write(
                    f"{name:30} {values['current']['mean']:10.2f} -> {values['scenario']['mean']:10.2f}"
                    f"  (difference {values['difference']['mean']:+.2f}, 95 % "
                    f"{values['difference']['low']:+.2f} .. {values['difference']['high']:+.2f})"
                )
        self.stdout.write(json.dumps(result, ensure_ascii=False, sort_keys=True))
