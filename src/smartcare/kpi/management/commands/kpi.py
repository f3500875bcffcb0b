"""``smartcare kpi``: the operations cockpit on the command line.

- ``show --period 2026-Q3 [--department CODE] [--live]``: every indicator with value, target and
  status; the last line is one JSON object keyed by indicator code.
- ``backfill [--start DATE] [--end DATE]``: recompute the daily facts (default: the last 365 days).
- ``report --quarter 2026-Q3``: generate (or regenerate) the quarterly evaluation report.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _

from smartcare.core import clock, context
from smartcare.core.errors import CodedError
from smartcare.kpi.errors import InvalidDateRange


class Command(BaseCommand):
    help = "Operations cockpit: show indicators, backfill daily facts, generate quarterly reports."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        show = sub.add_parser("show", help="Every indicator of a period with value, target and status")
        show.add_argument("--period", required=True, help="2026, 2026-Q3, 2026-09, 2026-W37 or 2026-09-14")
        show.add_argument("--department", default="", help="National department code (default: hospital)")
        show.add_argument("--live", action="store_true", help="Compute from the source data, not the facts")
        backfill = sub.add_parser("backfill", help="Recompute the daily facts of a date range")
        backfill.add_argument("--start", default="", help="First day (default: 365 days ago)")
        backfill.add_argument("--end", default="", help="Last day (default: today)")
        report = sub.add_parser("report", help="Generate the quarterly evaluation report")
        report.add_argument("--quarter", required=True, help="A quarter such as 2026-Q3")
        report.add_argument("--pdf", default="", help="Also write the PDF to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with context.acting(context.RequestContext(channel="cli")):
                getattr(self, "_" + options["operation"])(options)
        except CodedError as error:
            raise CommandError(f"{error.code} {error.detail}") from error

    def _show(self, options: dict[str, Any]) -> None:
        from smartcare.kpi.periods import parse_period
        from smartcare.kpi.selectors import department_by_code, evaluate
        from smartcare.kpi.templatetags.kpi import format_value, target_text

        period = parse_period(options["period"])
        department = department_by_code(options["department"]) if options["department"] else None
        evaluation = evaluate(period, department, use_facts=False if options["live"] else None)
        scope = department.name if department else "hospital"
        self.stdout.write(
            f"{period.label} ({period.start} .. {period.end}), {scope}, from {evaluation.source}"
        )
        with translation.override("en"):
            for r in evaluation.results:
                self.stdout.write(
                    f"  {r.code:<24} {format_value(r.value, r.indicator.unit):>14}  "
                    f"target {target_text(r):<16} {r.status}"
                )
            score = evaluation.score
            score_text = f"{score.value:.1f}" if score.value is not None else "no data"
            self.stdout.write(
                f"  performance score: {score_text} (weight with data {score.coverage * 100:.0f} %)"
            )
            payload = dict(evaluation.as_dict()["indicators"].items())
        payload["_score"] = evaluation.score.as_dict()
        payload["_period"] = {
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "source": evaluation.source,
        }
        self.stdout.write(json.dumps(payload, ensure_ascii=False, sort_keys=False))

    def _backfill(self, options: dict[str, Any]) -> None:
        from smartcare.kpi import services

        today = clock.today()
        try:
            start = (
                dt.date.fromisoformat(options["start"])
                if options["start"]
                else today - dt.timedelta(days=365)
            )
            end = dt.date.fromisoformat(options["end"]) if options["end"] else today
        except ValueError:
            raise InvalidDateRange(problem=_("dates are written YYYY-MM-DD")) from None
        rows = services.backfill(None, start, end)
        self.stdout.write(json.dumps({"start": start.isoformat(), "end": end.isoformat(), "facts": rows}))

    def _report(self, options: dict[str, Any]) -> None:
        from smartcare.kpi.report import generate_report

        report = generate_report(None, options["quarter"])
        if options["pdf"] and report.pdf:
            with open(options["pdf"], "wb") as out:
                out.write(bytes(report.pdf))
        self.stdout.write(
            json.dumps({"period": report.period, "id": report.pk, "pdf_bytes": len(report.pdf or b"")})
        )
