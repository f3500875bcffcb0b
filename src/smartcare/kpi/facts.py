"""Daily facts: each indicator's numerator and denominator per local day, per department and for
the hospital, computed in the background so that the cockpit sums a few rows instead of reading
a year of appointments, stays and notes.

``build_facts(start, end)`` recomputes the days (replacing what was there) and marks each day
complete; ``period_sums`` answers a period from the facts when all its days are there."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from smartcare.core import clock
from smartcare.kpi.errors import InvalidDateRange
from smartcare.kpi.indicators import BREAKDOWNS, Indicator, all_indicators
from smartcare.kpi.models import BreakdownFact, DailyFact, FactDay

logger = logging.getLogger("smartcare.kpi")

MAX_BACKFILL_DAYS = 800


def build_facts(start: dt.date, end: dt.date, indicators: Iterable[Indicator] | None = None) -> int:
    """Recompute the facts of every day from ``start`` to ``end`` (inclusive); returns the number of
    fact rows written. A day is marked complete once it has ended."""
    if end < start:
        raise InvalidDateRange(problem=_("the end is before the start"))
    if (end - start).days + 1 > MAX_BACKFILL_DAYS:
        raise InvalidDateRange(problem=_("more than %(days)s days") % {"days": MAX_BACKFILL_DAYS})
    chosen = list(indicators or all_indicators())
    written = 0
    # Month by month: each month is one transaction, so a long backfill shows progress and an
    # interrupted one keeps the months already done.
    month_start = start
    while month_start <= end:
        month_end = min(
            end, (month_start.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        )
        rows: list[DailyFact] = []
        for indicator in chosen:
            daily = indicator.daily(month_start, month_end)
            if daily is None:
                continue  # the module with the data is not there: no facts, "no data"
            for (day, department_id), (numerator, denominator) in daily.items():
                if numerator or denominator:
                    rows.append(
                        DailyFact(
                            date=day,
                            department_id=department_id,
                            code=indicator.code,
                            numerator=numerator,
                            denominator=denominator,
                        )
                    )
        codes = [i.code for i in chosen]
        details: list[BreakdownFact] = []
        for (code, dimension), builder in BREAKDOWNS.items():
            if code not in codes:
                continue
            for (day, department_id, key), (numerator, denominator) in builder(
                month_start, month_end
            ).items():
                details.append(
                    BreakdownFact(
                        date=day,
                        department_id=department_id,
                        code=code,
                        dimension=dimension,
                        key=key[:40],
                        numerator=numerator,
                        denominator=denominator,
                    )
                )
        with transaction.atomic():
            DailyFact.objects.filter(date__gte=month_start, date__lte=month_end, code__in=codes).delete()
            DailyFact.objects.bulk_create(rows, batch_size=2000)
            BreakdownFact.objects.filter(date__gte=month_start, date__lte=month_end, code__in=codes).delete()
            BreakdownFact.objects.bulk_create(details, batch_size=2000)
            today = clock.today()
            now = clock.now()
            for day in _days(month_start, min(month_end, today - dt.timedelta(days=1))):
                FactDay.objects.update_or_create(date=day, defaults={"computed_at": now})
        written += len(rows)
        logger.info("kpi facts %s..%s: %s rows", month_start, month_end, len(rows))
        month_start = month_end + dt.timedelta(days=1)
    return written


def _days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    for i in range((end - start).days + 1):
        yield start + dt.timedelta(days=i)


def covered(start: dt.date, end: dt.date) -> bool:
    """Whether every past day of the range has complete facts (today and later need none)."""
    last = min(end, clock.today() - dt.timedelta(days=1))
    if last < start:
        return False
    needed = (last - start).days + 1
    return FactDay.objects.filter(date__gte=start, date__lte=last).count() == needed


def _scope(department_id: int | None) -> Q:
    return Q(department__isnull=True) if department_id is None else Q(department_id=department_id)


def period_sums(
    start: dt.date, end: dt.date, department_id: int | None = None
) -> dict[str, tuple[float, float]]:
    """Numerator and denominator of every indicator with facts in the range (one query)."""
    rows = (
        DailyFact.objects.filter(_scope(department_id), date__gte=start, date__lte=end)
        .values("code")
        .annotate(n=Sum("numerator"), d=Sum("denominator"))
    )
    return {row["code"]: (row["n"] or 0.0, row["d"] or 0.0) for row in rows}


def trend_sums(
    start: dt.date, end: dt.date, by: str, department_id: int | None = None
) -> dict[str, dict[dt.date, tuple[float, float]]]:
    """Per indicator, numerator and denominator per month (``by="month"``) or day (one query)."""
    rows = DailyFact.objects.filter(_scope(department_id), date__gte=start, date__lte=end)
    grouped: Any
    if by == "month":
        grouped = rows.annotate(point=TruncMonth("date")).values("code", "point")
    else:
        grouped = rows.values("code", point=F("date"))
    result: dict[str, dict[dt.date, tuple[float, float]]] = {}
    for row in grouped.annotate(n=Sum("numerator"), d=Sum("denominator")):
        point = row["point"]
        if isinstance(point, dt.datetime):
            point = point.date()
        result.setdefault(row["code"], {})[point] = (row["n"] or 0.0, row["d"] or 0.0)
    return result


def department_sums(start: dt.date, end: dt.date, code: str) -> dict[int, tuple[float, float]]:
    rows = (
        DailyFact.objects.filter(code=code, date__gte=start, date__lte=end, department__isnull=False)
        .values("department_id")
        .annotate(n=Sum("numerator"), d=Sum("denominator"))
    )
    return {row["department_id"]: (row["n"] or 0.0, row["d"] or 0.0) for row in rows}


def computed_days() -> dict[str, object]:
    summary = FactDay.objects.aggregate(first=Min("date"), days=Count("pk"))
    last = FactDay.objects.order_by("-date").values_list("date", "computed_at").first()
    return {"first": summary["first"], "days": summary["days"], "last": last[0] if last else None}


def breakdown_sums(
    code: str, dimension: str, start: dt.date, end: dt.date, department_id: int | None = None
) -> dict[str, tuple[float, float]]:
    """Numerator and denominator per breakdown key (hour, doctor, channel) over the range, for a
    department or the hospital: from the facts when the range is covered, else computed."""
    if covered(start, end):
        rows = BreakdownFact.objects.filter(code=code, dimension=dimension, date__gte=start, date__lte=end)
        if department_id is not None:
            rows = rows.filter(department_id=department_id)
        return {
            row["key"]: (row["n"] or 0.0, row["d"] or 0.0)
            for row in rows.values("key").annotate(n=Sum("numerator"), d=Sum("denominator"))
        }
    result: dict[str, list[float]] = {}
    for (_day, dep, key), (n, d) in BREAKDOWNS[(code, dimension)](start, end).items():
        if department_id is not None and dep != department_id:
            continue
        row = result.setdefault(key, [0.0, 0.0])
        row[0] += n
        row[1] += d
    return {key: (n, d) for key, (n, d) in result.items()}
