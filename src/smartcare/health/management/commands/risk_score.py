"""``smartcare risk-score MODEL --input JSON``: one validated risk, printed as one JSON object on
the last line. A refused input prints the coded problem (``{"code": "HL-003", ...}``) as the last
line and exits with status 1."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import translation

from smartcare.core.errors import CodedError
from smartcare.health import equations
from smartcare.health.errors import RiskInputInvalid


class Command(BaseCommand):
    help = "Compute a validated risk score (pce, framingham, findrisc) from JSON inputs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help=", ".join(equations.MODELS))
        parser.add_argument("--input", required=True, help="the inputs as one JSON object")
        parser.add_argument("--language", default="en", help="language of labels and messages (en, zh-hans)")

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["language"]):
            self._score(options)

    def _score(self, options: dict[str, Any]) -> None:
        try:
            try:
                raw = json.loads(options["input"])
            except json.JSONDecodeError as exc:
                raise RiskInputInvalid(errors={"input": [str(exc)]}) from None
            result = equations.compute(options["model"], raw)
        except CodedError as exc:
            self.stdout.write(json.dumps(exc.as_problem(), ensure_ascii=False))
            raise SystemExit(1) from None
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
