"""Reporting periods: a year (``2026``), quarter (``2026-Q3``), month (``2026-09``), ISO week
(``2026-W37``) or day (``2026-09-14``), each a range of local dates."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from smartcare.kpi.errors import InvalidPeriod

_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")

KINDS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date
    end: dt.date  # inclusive
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return parse_period(_label_of(self.kind, self.start - dt.timedelta(days=1)))

    def same_in_year(self, year: int) -> Period:
        """The same period in another year (week 53 falls back to week 52)."""
        if self.kind == "year":
            return parse_period(str(year))
        if self.kind == "quarter":
            return parse_period(f"{year}-Q{(self.start.month - 1) // 3 + 1}")
        if self.kind == "month":
            return parse_period(f"{year}-{self.start.month:02d}")
        if self.kind == "week":
            week = min(self.start.isocalendar()[1], dt.date(year, 12, 28).isocalendar()[1])
            return parse_period(f"{year}-W{week:02d}")
        day = self.start.day if not (self.start.month == 2 and self.start.day == 29) else 28
        return parse_period(f"{year}-{self.start.month:02d}-{day:02d}")

    def split(self) -> list[Period]:
        """The trend points of this period: months of a year or quarter, days of a month or week,
        the hours of a day are not periods (a day has one point)."""
        if self.kind in ("year", "quarter"):
            points = []
            d = self.start
            while d <= self.end:
                points.append(parse_period(f"{d.year}-{d.month:02d}"))
                d = (d.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            return points
        if self.kind in ("month", "week"):
            return [parse_period((self.start + dt.timedelta(days=i)).isoformat()) for i in range(self.days)]
        return [self]


def _label_of(kind: str, day: dt.date) -> str:
    if kind == "year":
        return str(day.year)
    if kind == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if kind == "month":
        return f"{day.year}-{day.month:02d}"
    if kind == "week":
        year, week, _weekday = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def period_containing(kind: str, day: dt.date) -> Period:
    if kind not in KINDS:
        raise InvalidPeriod(period=kind)
    return parse_period(_label_of(kind, day))


def parse_period(text: str) -> Period:
    """The period named by ``text`` (KPI-001 when it names none)."""
    value = (text or "").strip()
    try:
        if m := _YEAR.match(value):
            year = int(m[1])
            return Period("year", dt.date(year, 1, 1), dt.date(year, 12, 31), value)
        if m := _QUARTER.match(value):
            year, quarter = int(m[1]), int(m[2])
            start = dt.date(year, 3 * quarter - 2, 1)
            end = (dt.date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)) - dt.timedelta(days=1)
            return Period("quarter", start, end, f"{year}-Q{quarter}")
        if m := _MONTH.match(value):
            year, month = int(m[1]), int(m[2])
            start = dt.date(year, month, 1)
            end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            return Period("month", start, end, value)
        if m := _WEEK.match(value):
            year, week = int(m[1]), int(m[2])
            start = dt.date.fromisocalendar(year, week, 1)
            return Period("week", start, start + dt.timedelta(days=6), f"{year}-W{week:02d}")
        if m := _DAY.match(value):
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
            return Period("day", day, day, value)
    except ValueError:
        pass
    raise InvalidPeriod(period=value[:40] or "''")
