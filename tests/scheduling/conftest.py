from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.scheduling.choices import Period
from smartcare.scheduling.models import ReleaseRule, ScheduleTemplate
from smartcare.scheduling.services import generate_sessions


@pytest.fixture()
def clinic(hospital: Any) -> Any:
    """Cardiology with the `doctor` holding a clinic every weekday morning (09:00-11:00, 30-minute
    slots of 2 patients), released 7 days ahead at 08:00; sessions for the next 8 days."""
    ReleaseRule.objects.create(department=hospital.cardiology, days_ahead=7, release_time=dt.time(8, 0))
    practitioner = hospital.user("doctor").practitioner
    for weekday in range(7):
        ScheduleTemplate.objects.create(
            department=hospital.cardiology, practitioner=practitioner, weekday=weekday, period=Period.MORNING,
            start_time=dt.time(9, 0), end_time=dt.time(11, 0), slot_minutes=30, capacity_per_slot=2,
        )
    generate_sessions(clock.today(), 9)
    return hospital
