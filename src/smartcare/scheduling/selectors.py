"""Reading schedules and bookings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, QuerySet

from smartcare.core import clock
from smartcare.organization.models import Department
from smartcare.scheduling.choices import SessionStatus
from smartcare.scheduling.models import Appointment, ClinicSession, Slot


def bookable_departments() -> QuerySet[Department]:
    return (
        Department.objects.filter(is_active=True, clinic_sessions__date__gte=clock.today())
        .distinct()
        .order_by("national_code_id")
    )


def open_sessions(
    department_id: int, *, date_from: dt.date | None = None, days: int = 14
) -> QuerySet[ClinicSession]:
    start = date_from or clock.today()
    now = clock.now()
    return (
        ClinicSession.objects.select_related("practitioner__user", "exam_type", "department")
        .filter(
            department_id=department_id,
            status=SessionStatus.SCHEDULED,
            date__gte=start,
            date__lt=start + dt.timedelta(days=days),
            releases_at__lte=now,
            ends_at__gt=now,
        )
        .order_by("starts_at")
    )


def upcoming_sessions(department_id: int, days: int = 14) -> QuerySet[ClinicSession]:
    """Sessions not released yet, so the pages can say when they open."""
    now = clock.now()
    return ClinicSession.objects.filter(
        department_id=department_id,
        status=SessionStatus.SCHEDULED,
        releases_at__gt=now,
        date__lt=clock.today() + dt.timedelta(days=days),
    ).order_by("releases_at")


def free_slots(session: ClinicSession) -> QuerySet[Slot]:
    return session.slots.filter(starts_at__gt=clock.now(), booked__lt=F("capacity")).order_by("starts_at")


def appointments_of(patient: Any) -> QuerySet[Appointment]:
    """Bookings of a patient the caller has already been allowed to open (see access_patient)."""
    return (
        Appointment.objects.select_related(
            "slot", "session__practitioner__user", "department", "session__exam_type"
        )
        .filter(patient=patient)
        .order_by("-slot__starts_at")
    )
