"""The Chinese working calendar: public holidays and the adjusted working days (调休).

The ``holidays`` package carries both: ``holidays.China`` lists the days off of each holiday,
including the weekdays given off in exchange, and ``weekend_workdays`` lists the Saturdays and
Sundays worked in exchange (for example Sunday 2024-02-04 and Sunday 2024-02-18 around the
Spring Festival), as published each year by the General Office of the State Council. The package
has them up to the latest published year (2026 in holidays 0.109); for a year it does not carry yet
an operator enters the official arrangement as ``CalendarOverride`` rows, which win over the
package.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    is_holiday: bool  # a statutory day off (including weekdays swapped into a holiday)
    is_adjusted_workday: bool  # a Saturday or Sunday worked in exchange
    is_working_day: bool
    holiday_name: str


@lru_cache(maxsize=32)
def _package(year: int) -> tuple[dict[dt.date, str], frozenset[dt.date]]:
    import holidays  # loads its country tables on first use, not with every page

    china = holidays.China(years=[year])
    names = {day: str(name) for day, name in china.items()}
    workdays = frozenset(d for d in china.weekend_workdays if d.year == year)
    return names, workdays


class WorkingCalendar:
    """Answers for a range of dates, with the operator's overrides applied."""

    def __init__(self, overrides: dict[dt.date, str] | None = None) -> None:
        # date -> "holiday" or "workday"
        self.overrides = overrides or {}

    @classmethod
    def from_database(cls) -> WorkingCalendar:
        from smartcare.workforce.models import CalendarOverride

        return cls(dict(CalendarOverride.objects.values_list("date", "kind")))

    def day(self, date: dt.date) -> DayInfo:
        names, workdays = _package(date.year)
        override = self.overrides.get(date)
        is_holiday = date in names
        is_adjusted = date in workdays
        if override == "holiday":
            is_holiday, is_adjusted = True, False
        elif override == "workday":
            is_holiday, is_adjusted = False, date.weekday() >= 5
        weekend = date.weekday() >= 5
        working = (not weekend and not is_holiday) or is_adjusted
        return DayInfo(date, is_holiday, is_adjusted, working, names.get(date, ""))

    def holidays_between(self, first: dt.date, last: dt.date) -> list[dt.date]:
        days = (last - first).days + 1
        return [first + dt.timedelta(n) for n in range(days) if self.day(first + dt.timedelta(n)).is_holiday]
