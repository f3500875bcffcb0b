"""Test data for booking and queues: a cardiology clinic on a fixed, frozen Monday.

Time is frozen at ``NOW`` (Monday 2027-03-01, 07:00 hospital time) by the conftests of
tests/scheduling and tests/visits, so weekdays, release times and check-in windows are exact.
The doctor holds a clinic every day 09:00-11:00 in 30-minute slots of 2 patients; sessions are
released 7 days ahead at 08:00 and generated for 9 days (Monday 1 to Tuesday 9 March).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Sum

from smartcare.accounts.choices import Role
from smartcare.accounts.models import CareRelationship, User
from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent
from smartcare.notifications.models import Notification
from smartcare.organization.models import Department, Practitioner
from smartcare.patients.models import Patient
from smartcare.scheduling.choices import Period
from smartcare.scheduling.models import (
    Appointment,
    ClinicSession,
    ExamType,
    ReleaseRule,
    ScheduleTemplate,
    Slot,
    VisitPreparation,
    WaitlistEntry,
)
from smartcare.scheduling.services import build_session, generate_sessions
from tests.factories import PatientFactory, TestHospital, department, staff

MONDAY = dt.date(2027, 3, 1)
PREPARATION_ZH = "请携带既往心电图和用药清单"
PREPARATION_EN = "Bring your previous ECGs and a list of your medicines"


def tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """Hospital local time ``day`` days after the frozen Monday."""
    return dt.datetime.combine(MONDAY + dt.timedelta(days=day), dt.time(hour, minute), tzinfo=tz())


def now() -> dt.datetime:
    """The frozen moment every test starts at: Monday 07:00, before the day's clinic."""
    return at(0, 7)


def every_day(
    dept: Department,
    *,
    practitioner: Practitioner | None = None,
    exam_type: ExamType | None = None,
    start: dt.time = dt.time(9, 0),
    end: dt.time = dt.time(11, 0),
    slot_minutes: int = 30,
    capacity: int = 2,
    period: str = Period.MORNING,
    weekdays: Any = range(7),
) -> list[ScheduleTemplate]:
    return [
        ScheduleTemplate.objects.create(
            department=dept,
            practitioner=practitioner,
            exam_type=exam_type,
            weekday=weekday,
            period=period,
            start_time=start,
            end_time=end,
            slot_minutes=slot_minutes,
            capacity_per_slot=capacity,
        )
        for weekday in weekdays
    ]


def one_session(
    dept: Department,
    date: dt.date,
    *,
    practitioner: Practitioner | None = None,
    exam_type: ExamType | None = None,
    start: dt.time = dt.time(9, 0),
    end: dt.time = dt.time(11, 0),
    slot_minutes: int = 30,
    capacity: int = 2,
    period: str = Period.MORNING,
) -> ClinicSession:
    template = ScheduleTemplate.objects.create(
        department=dept,
        practitioner=practitioner,
        exam_type=exam_type,
        weekday=date.weekday(),
        period=period,
        start_time=start,
        end_time=end,
        slot_minutes=slot_minutes,
        capacity_per_slot=capacity,
        is_active=False,  # only this one date
    )
    session = build_session(template, date)
    assert session is not None
    return session


def slot_of(session: ClinicSession, hour: int, minute: int = 0) -> Slot:
    local = dt.datetime.combine(session.date, dt.time(hour, minute), tzinfo=tz())
    return Slot.objects.get(session=session, starts_at=local)


def doctor_in(dept: Department, username: str, role: str = Role.DOCTOR) -> User:
    return staff(username, role, dept)


def new_patient(**fields: Any) -> Patient:
    return PatientFactory(**fields)


def portal_patient(username: str, **fields: Any) -> Patient:
    """A patient with their own portal account."""
    from tests.factories import UserFactory

    return PatientFactory(user=UserFactory(username=username, role=Role.PATIENT), **fields)


def inbox(user: User, category: str | None = None) -> list[Notification]:
    rows = Notification.objects.filter(recipient=user).order_by("pk")
    if category is not None:
        rows = rows.filter(category=category)
    return list(rows)


def snapshot() -> dict[str, Any]:
    """What a refused booking must leave untouched."""
    return {
        "appointments": Appointment.objects.count(),
        "booked": Slot.objects.aggregate(total=Sum("booked"))["total"] or 0,
        "audit_creates": AuditEvent.objects.filter(action=AuditAction.CREATE).count(),
        "care_relationships": CareRelationship.objects.count(),
        "notifications": Notification.objects.count(),
        "waitlist": list(WaitlistEntry.objects.order_by("pk").values_list("pk", "status")),
    }


@dataclass
class Clinic:
    """The shared hospital plus a cardiology clinic with its sessions."""

    h: TestHospital

    def __getattr__(self, name: str) -> Any:
        return getattr(self.h, name)

    @property
    def cardiology(self) -> Department:
        return self.h.cardiology

    @property
    def doctor(self) -> Practitioner:
        return self.h.user("doctor").practitioner

    def session(self, day: int, dept: Department | None = None) -> ClinicSession:
        return ClinicSession.objects.get(
            department=dept or self.h.cardiology,
            date=MONDAY + dt.timedelta(days=day),
            template__is_active=True,
        )

    def slot(self, day: int, hour: int = 9, minute: int = 0) -> Slot:
        return slot_of(self.session(day), hour, minute)


def build_clinic(hospital: TestHospital) -> Clinic:
    ReleaseRule.objects.create(department=hospital.cardiology, days_ahead=7, release_time=dt.time(8, 0))
    VisitPreparation.objects.create(
        department=hospital.cardiology, text_zh=PREPARATION_ZH, text_en=PREPARATION_EN
    )
    every_day(hospital.cardiology, practitioner=hospital.user("doctor").practitioner)
    generate_sessions(MONDAY, 9)
    return Clinic(hospital)


def extra_department(hospital: TestHospital, code: str, **fields: Any) -> Department:
    dept = department(hospital.hospital, code)
    for name, value in fields.items():
        setattr(dept, name, value)
    dept.save()
    return dept
