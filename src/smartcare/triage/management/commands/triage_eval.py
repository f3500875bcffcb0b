"""``smartcare triage-eval FILE``: precision and recall per department, confusions, and a JSON summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from smartcare.core.errors import CodedError
from smartcare.organization.models import NationalDepartmentCode
from smartcare.triage.engine import get_engine
from smartcare.triage.evaluation import evaluate, read_cases
from smartcare.triage.types import TriageRequest


class Command(BaseCommand):
    help = "Evaluate the triage engine on a CSV with text,department_code[,age,sex]."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--errors", action="store_true", help="list every case answered wrongly at top 3")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"TRIAGE-011 file not found: {path}")
        codes = set(NationalDepartmentCode.objects.values_list("code", flat=True))
        try:
            cases = read_cases(path.read_bytes(), codes)
        except CodedError as exc:
            problems = getattr(exc, "errors", {})
            lines = [f"{where}: {'; '.join(map(str, texts))}" for where, texts in problems.items()]
            raise CommandError("\n".join([f"{exc.code} {exc.detail}", *lines])) from exc
        engine = get_engine()
        engine.triage(TriageRequest(text="warm-up"))  # the first call pays for loading
        report = evaluate(engine, cases)
        out = self.stdout
        out.write(f"{'code':<8}{'cases':>6}{'pred':>6}{'prec':>7}{'recall':>8}  department")
        names = dict(NationalDepartmentCode.objects.values_list("code", "name_en"))
        for code, truth, predicted, precision, recall in report.per_department():
            out.write(
                f"{code:<8}{truth:>6}{predicted:>6}{precision:>7.2f}{recall:>8.2f}  {names.get(code, '')}"
            )
        out.write("\nConfusions (label -> top-1 answer: cases), most frequent first:")
        pairs = [
            (count, label, answer)
            for label, row in report.confusion().items()
            for answer, count in row.items()
            if answer != label
        ]
        for count, label, answer in sorted(pairs, reverse=True)[:40]:
            out.write(f"  {label:<6} -> {answer:<6} {count}")
        if options["errors"]:
            out.write("\nWrong at top 3:")
            for outcome in report.outcomes:
                if outcome.case.code not in outcome.predicted[:3]:
                    out.write(f"  [{outcome.case.code}] {outcome.case.text} -> {outcome.predicted}")
        out.write(json.dumps(report.summary()))
