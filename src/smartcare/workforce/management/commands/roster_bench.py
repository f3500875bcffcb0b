"""``smartcare roster-bench FILE --time-limit SECONDS --workers N``: solve one Curtois & Qu
shift-scheduling instance and print ``{"instance", "objective", "best_known", "gap", "seconds",
"feasible"}`` as the last line.

The objective is the checker's score of the roster found (the benchmark's own definition), not the
solver's number; ``best_known`` comes from a CSV beside the file (instance,value) when there is one;
``gap`` is (objective - best_known) / best_known.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from smartcare.core.errors import CodedError
from smartcare.workforce.engine import checker, curtois, solver


class Command(BaseCommand):
    help = "Solve a Curtois & Qu shift-scheduling instance and print the result as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="instance file in the SECTION_HORIZON format")
        parser.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
        parser.add_argument("--workers", type=int, default=2, help="solver threads (default 2)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--solution", help="also write the roster to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"WORK-002 no such instance file: {path}")
        if options["time_limit"] <= 0 or options["workers"] < 1:
            raise CommandError("WORK-002 --time-limit must be positive and --workers at least 1")
        started = time.monotonic()
        try:
            problem = curtois.read(path)
        except CodedError as exc:
            raise CommandError(f"{exc.code} {exc.detail}") from exc
        result = solver.solve(
            problem,
            time_limit=options["time_limit"],
            workers=options["workers"],
            seed=options["seed"],
            explain_infeasible=False,
        )
        seconds = round(time.monotonic() - started, 2)
        evaluation = checker.evaluate(problem, result.assignments) if result.found else None
        best = curtois.best_known(path)
        objective = evaluation.objective if evaluation is not None else None
        gap = None
        if objective is not None and best:
            gap = round((objective - best) / best, 6)
        if options.get("solution") and result.found:
            Path(options["solution"]).write_text(curtois.write_solution(problem, result.assignments))
        self.stdout.write(
            f"{path.stem}: {result.status}, {len(problem.staff)} staff, {problem.days} days, "
            f"{len(problem.shifts)} shift types, bound {result.bound}"
        )
        if evaluation is not None and evaluation.by_rule():
            self.stdout.write("penalties by rule: " + json.dumps(evaluation.by_rule(), sort_keys=True))
        self.stdout.write(
            json.dumps(
                {
                    "instance": path.stem,
                    "objective": objective,
                    "best_known": best,
                    "gap": gap,
                    "seconds": seconds,
                    "feasible": bool(evaluation is not None and evaluation.feasible),
                }
            )
        )
