"""Realistic workload patterns for the demo hospital's history (no database access).

Per department and half-day: outpatient visits, admissions, surgeries, exams and occupied beds,
shaped by the weekday (Monday peak, quiet weekends), the season (respiratory and paediatric
winter peak, digestive summer peak), the Chinese public holidays (clinics nearly closed, the
emergency department busier, a surge on the first working days after a long holiday), the
adjusted working days (worked like a weekday) and Poisson noise.

Used by the demo generator, the forecasting benchmark and the forecasting tests.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from smartcare.workforce.calendar import WorkingCalendar

# Outpatient weekday factors, Monday first.
WEEKDAY = (1.28, 1.10, 1.02, 1.0, 0.96, 0.50, 0.38)


@dataclass(frozen=True)
class Profile:
    """Mean workload of an ordinary Wednesday morning, and what shapes it."""

    outpatient: float
    admissions: float
    surgeries: float
    exams: float
    beds: int
    winter: float = 0.0  # extra share in mid-winter (respiratory, paediatrics)
    summer: float = 0.0  # extra share in mid-summer (digestive)
    emergency: bool = False
    pm_share: float = 0.65  # afternoon relative to the morning


PROFILES: dict[str, Profile] = {
    "02": Profile(70, 0.0, 0.0, 25, 0, winter=0.15),
    "03.01": Profile(55, 2.5, 0.0, 20, 40, winter=0.45),
    "03.02": Profile(60, 2.0, 3.0, 30, 36, summer=0.25),
    "03.03": Profile(45, 2.0, 0.0, 18, 36),
    "03.04": Profile(65, 3.0, 2.0, 35, 48, winter=0.18),
    "03.06": Profile(30, 1.0, 0.0, 12, 24),
    "03.07": Profile(40, 1.0, 0.0, 20, 24),
    "03.10": Profile(35, 1.5, 0.0, 12, 30, winter=0.20),
    "04.01": Profile(50, 3.0, 6.0, 20, 48, summer=0.10),
    "04.02": Profile(30, 1.5, 3.0, 10, 24),
    "04.03": Profile(45, 2.0, 5.0, 18, 40),
    "04.04": Profile(25, 1.0, 2.0, 8, 24),
    "04.05": Profile(20, 1.0, 2.0, 8, 20),
    "05.01": Profile(50, 1.5, 2.5, 25, 24),
    "05.02": Profile(40, 3.0, 2.0, 20, 36),
    "07": Profile(80, 3.0, 0.5, 25, 36, winter=0.55),
    "10": Profile(35, 0.5, 1.0, 10, 12),
    "11": Profile(35, 0.5, 1.5, 10, 12),
    "12": Profile(40, 0.0, 1.0, 8, 0),
    "13": Profile(45, 0.0, 0.0, 6, 0, summer=0.15),
    "15": Profile(15, 0.5, 0.0, 4, 20),
    "16": Profile(20, 1.0, 0.0, 12, 20, winter=0.25, summer=0.25),
    "19": Profile(30, 2.0, 1.0, 20, 40),
    "20": Profile(55, 4.0, 1.0, 40, 20, winter=0.25, emergency=True, pm_share=1.35),
    "21": Profile(15, 0.5, 0.0, 4, 24),
    "26": Profile(0, 0.0, 8.0, 0, 0),
    "28": Profile(0, 1.5, 0.0, 6, 16, winter=0.20, emergency=True, pm_share=1.0),
    "30": Profile(0, 0.0, 0.0, 160, 0, winter=0.10),
    "32.02": Profile(0, 0.0, 0.0, 60, 0),
    "32.05": Profile(0, 0.0, 0.0, 70, 0),
    "32.06": Profile(0, 0.0, 0.0, 40, 0),
    "50": Profile(25, 0.0, 0.0, 5, 0),
}


def _season(day: dt.date, profile: Profile) -> float:
    phase = 2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25  # mid-January = winter peak
    return 1.0 + profile.winter * max(0.0, math.cos(phase)) + profile.summer * max(0.0, -math.cos(phase))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 40:  # normal approximation, fast and close enough for big counts
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def generate(
    code: str,
    first: dt.date,
    last: dt.date,
    rng: random.Random,
    calendar: WorkingCalendar | None = None,
    growth_per_year: float = 0.04,
) -> list[dict[str, object]]:
    """Rows ``{date, half_day, outpatient_visits, admissions, surgeries, exams, inpatients}``."""
    profile = PROFILES.get(code, Profile(30, 1.0, 0.5, 10, 0))
    calendar = calendar or WorkingCalendar()
    rows: list[dict[str, object]] = []
    occupancy = 0.82
    previous_closed = 0  # consecutive non-working days just before this one
    day = first
    while day <= last:
        info = calendar.day(day)
        trend = 1.0 + growth_per_year * (day - first).days / 365.25
        season = _season(day, profile)
        if profile.emergency:
            flow = (
                1.15 if info.is_holiday else (1.05 if day.weekday() >= 5 and not info.is_working_day else 1.0)
            )
            elective = 0.6 if not info.is_working_day else 1.0
        elif info.is_holiday:
            flow, elective = 0.18, 0.1
        elif info.is_adjusted_workday:
            flow, elective = 0.92, 0.9
        elif not info.is_working_day:
            flow = WEEKDAY[day.weekday()]
            elective = 0.15
        else:
            flow = WEEKDAY[day.weekday()]
            elective = 1.0
            if previous_closed >= 3:
                flow *= 1.35  # the first working day after a long holiday
                elective *= 1.2
        # Occupancy drifts slowly; discharges before long holidays empty the wards a little.
        target = 0.86 if info.is_working_day else 0.78
        if info.is_holiday:
            target = 0.62
        occupancy += (target - occupancy) * 0.25 + rng.gauss(0, 0.01)
        occupancy = min(max(occupancy, 0.4), 1.0)
        for half in ("am", "pm"):
            pm = half == "pm"
            share = profile.pm_share if pm else 1.0
            outpatient = profile.outpatient * flow * season * trend * share
            rows.append(
                {
                    "date": day,
                    "half_day": half,
                    "outpatient_visits": _poisson(rng, outpatient),
                    "admissions": _poisson(rng, profile.admissions * elective * trend * (0.8 if pm else 1.2)),
                    "surgeries": _poisson(rng, profile.surgeries * elective * trend * (0.6 if pm else 1.4)),
                    "exams": _poisson(
                        rng, profile.exams * max(flow, 0.3) * season * trend * (0.8 if pm else 1.2)
                    ),
                    "inpatients": min(profile.beds, _poisson(rng, profile.beds * occupancy))
                    if profile.beds
                    else 0,
                }
            )
        previous_closed = 0 if info.is_working_day else previous_closed + 1
        day += dt.timedelta(days=1)
    return rows
