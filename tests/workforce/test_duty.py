"""The published roster names the duty doctor for escalated home-monitoring alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from smartcare.accounts.choices import Role
from smartcare.monitoring import alerts
from smartcare.monitoring.models import DutyAssignment
from smartcare.organization.choices import Title
from smartcare.workforce import selectors
from smartcare.workforce.choices import RosterStatus, StaffGroup
from smartcare.workforce.models import Assignment, Roster, ShiftType
from tests.factories import build_hospital, staff

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 2)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def shift(h: Any, code: str, start: int, end: int, group: str = StaffGroup.DOCTOR) -> ShiftType:
    return ShiftType.objects.create(
        department=h.cardiology,
        code=code,
        name_zh=code,
        name_en=code,
        start_time=dt.time(start),
        end_time=dt.time(end),
        group=group,
    )


def roster(h: Any, status: str) -> Roster:
    return Roster.objects.create(
        department=h.cardiology,
        start_date=DAY - dt.timedelta(days=1),
        end_date=DAY + dt.timedelta(days=6),
        created_by=h.users["head"],
        status=status,
    )


def test_the_doctor_on_shift_is_on_duty_night_shifts_included(db: Any) -> None:
    h = build_hospital()
    day_doctor = h.users["doctor"].practitioner
    night_doctor = staff("nightdoc", Role.DOCTOR, h.cardiology, Title.ATTENDING_PHYSICIAN).practitioner
    draft_doctor = staff("draftdoc", Role.DOCTOR, h.cardiology, Title.ATTENDING_PHYSICIAN).practitioner
    nurse = h.users["nurse"].practitioner
    day, night = shift(h, "D", 8, 17), shift(h, "N", 20, 8)
    nurse_day = shift(h, "ND", 8, 17, StaffGroup.NURSE)
    published, draft = roster(h, RosterStatus.PUBLISHED), roster(h, RosterStatus.DRAFT)
    Assignment.objects.create(roster=published, practitioner=day_doctor, date=DAY, shift_type=day)
    Assignment.objects.create(
        roster=published, practitioner=night_doctor, date=DAY - dt.timedelta(days=1), shift_type=night
    )
    Assignment.objects.create(roster=published, practitioner=nurse, date=DAY, shift_type=nurse_day)
    Assignment.objects.create(roster=draft, practitioner=draft_doctor, date=DAY, shift_type=day)

    assert selectors.doctors_on_duty(h.cardiology.pk, local(DAY, 9)) == [day_doctor.user]
    # The night shift that began at 20:00 the day before still runs at 07:59, not at 08:00.
    assert selectors.doctors_on_duty(h.cardiology.pk, local(DAY, 7, 59)) == [night_doctor.user]
    assert selectors.doctors_on_duty(h.cardiology.pk, local(DAY, 8)) == [day_doctor.user]
    assert selectors.doctors_on_duty(h.cardiology.pk, local(DAY, 18)) == []
    assert selectors.doctors_on_duty(h.neurology.pk, local(DAY, 9)) == []

    # Monitoring asks the roster, unless a duty doctor was entered for that time.
    assert alerts.duty_doctors(h.cardiology.pk, local(DAY, 9)) == [day_doctor.user]
    DutyAssignment.objects.create(
        department=h.cardiology,
        doctor=night_doctor.user,
        starts_at=local(DAY, 8),
        ends_at=local(DAY, 12),
        created_by=h.users["head"],
    )
    assert alerts.duty_doctors(h.cardiology.pk, local(DAY, 9)) == [night_doctor.user]
    assert alerts.duty_doctors(h.cardiology.pk, local(DAY, 13)) == [day_doctor.user]
