"""``selectors.load_rate``: the staff load indicator over any period (used by the KPI cockpit):
forecast demand over people rostered on the shifts with a demand, published rosters only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.accounts.choices import Role
from smartcare.organization.choices import Title
from smartcare.workforce import selectors
from smartcare.workforce.choices import RosterStatus, StaffGroup
from smartcare.workforce.models import Assignment, Roster, RosterMember, RosterRequirement, ShiftType
from tests.factories import build_hospital, staff

pytestmark = pytest.mark.django_db


def test_load_rate(db: Any) -> None:
    h = build_hospital()
    nurses = [
        h.users["nurse"].practitioner,
        staff("nurse2", Role.NURSE, h.cardiology, Title.NURSE).practitioner,
    ]
    day = ShiftType.objects.create(
        department=h.cardiology,
        code="D",
        name_zh="白班",
        name_en="Day",
        start_time=dt.time(8),
        end_time=dt.time(16),
    )
    first = dt.date(2026, 3, 2)
    for status in (RosterStatus.PUBLISHED, RosterStatus.SOLVED):
        start = first if status == RosterStatus.PUBLISHED else first + dt.timedelta(days=7)
        roster = Roster.objects.create(
            department=h.cardiology,
            start_date=start,
            end_date=start + dt.timedelta(days=1),
            created_by=h.users["head"],
            status=status,
        )
        for nurse in nurses:
            RosterMember.objects.create(roster=roster, practitioner=nurse, group=StaffGroup.NURSE)
        for offset, demand in ((0, 1.7), (1, 0.0)):
            date = start + dt.timedelta(days=offset)
            RosterRequirement.objects.create(
                roster=roster, date=date, shift_type=day, group=StaffGroup.NURSE, required=2, demand=demand
            )
            for nurse in nurses:
                Assignment.objects.create(roster=roster, practitioner=nurse, date=date, shift_type=day)
    # Published roster, first day: demand 1.7 over 2 nurses; the second day has no demand.
    result = selectors.load_rate(first, first + dt.timedelta(days=13), h.cardiology)
    assert (result["demand"], result["staffed"]) == (1.7, 2)
    assert result["rate"] == pytest.approx(0.85)
    assert selectors.load_rate(first, first, h.neurology.pk)["rate"] is None
    assert selectors.load_rate(first, first)["rate"] == pytest.approx(0.85)
