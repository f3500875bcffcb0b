"""``smartcare equipment rul-eval PATH``: evaluate the remaining-useful-life method on NASA C-MAPSS.

Trains on ``train_FD001.txt``, predicts the last cycle of each test unit, compares with
``RUL_FD001.txt`` and prints ``{"units", "rmse", "score", "seconds"}`` as its last line (``score`` is
the PHM08 asymmetric scoring function). ``--units N`` uses the first N units only (tests).

``smartcare equipment predict``: train per device kind on the hospital's failure histories and
predict every asset now (what the periodic job does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from smartcare.equipment.errors import InvalidBenchmarkData


class Command(BaseCommand):
    help = "Equipment operations: rul-eval PATH (C-MAPSS benchmark), predict, heartbeats."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        evaluate = sub.add_parser("rul-eval", help="Evaluate the RUL model on C-MAPSS")
        evaluate.add_argument("path", help="Directory with train_FD001.txt, test_FD001.txt, RUL_FD001.txt")
        evaluate.add_argument("--subset", default="FD001")
        evaluate.add_argument("--units", type=int, default=None, help="Use only the first N units")
        evaluate.add_argument("--cap", type=int, default=125, help="Cap of the RUL target")
        sub.add_parser("predict", help="Predict failures of the hospital's equipment now")
        sub.add_parser("heartbeats", help="Check for lost heartbeats now")

    def handle(self, *args: Any, **options: Any) -> None:
        operation = options["operation"].replace("_", "-")
        if operation == "rul-eval":
            self._rul_eval(options)
        elif operation == "predict":
            from smartcare.equipment.tasks import predict_failures

            self.stdout.write(json.dumps({"predictions": predict_failures.call()}))
        elif operation == "heartbeats":
            from smartcare.equipment.services import check_heartbeats

            self.stdout.write(json.dumps({"lost": [a.pk for a in check_heartbeats()]}))

    def _rul_eval(self, options: dict[str, Any]) -> None:
        from smartcare.equipment.rul import evaluate_cmapss

        path = Path(options["path"])
        subset = options["subset"]
        for name in (f"train_{subset}.txt", f"test_{subset}.txt", f"RUL_{subset}.txt"):
            if not (path / name).is_file():
                error = InvalidBenchmarkData(path=str(path), reason=f"{name} is missing")
                raise CommandError(f"{error.code} {error.detail}")
        if options["units"] is not None and options["units"] < 2:
            error = InvalidBenchmarkData(path=str(path), reason="--units must be at least 2")
            raise CommandError(f"{error.code} {error.detail}")
        try:
            result = evaluate_cmapss(path, subset, units=options["units"], cap=options["cap"])
        except (ValueError, KeyError, IndexError) as exc:
            error = InvalidBenchmarkData(path=str(path), reason=str(exc)[:200])
            raise CommandError(f"{error.code} {error.detail}") from exc
        self.stdout.write(json.dumps(result))
