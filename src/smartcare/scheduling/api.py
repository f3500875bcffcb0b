"""Booking API for every channel: the portal's own pages, the hospital app, mini-programs and the
website. External channels authenticate with their channel identity's API token and act for the
patients bound to them; every booking records its channel."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Header, Router, Schema
from pydantic import Field

from smartcare.accounts.choices import Role
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.scheduling import selectors, services
from smartcare.scheduling.choices import Channel
from smartcare.scheduling.models import Appointment, ClinicSession, Slot

router = Router(tags=["booking"])

# A channel identity's username says which channel it is (channel-app, channel-miniprogram, ...).
CHANNEL_BY_PREFIX = {
    "channel-app": Channel.APP,
    "channel-miniprogram": Channel.MINI_PROGRAM,
    "channel-website": Channel.WEBSITE,
}


def channel_of(user: Any, requested: str | None = None) -> str:
    """The channel a booking is recorded under: fixed by identity for external channels."""
    role = getattr(user, "role", "")
    if role == Role.CHANNEL:
        for prefix, channel in CHANNEL_BY_PREFIX.items():
            if user.username.startswith(prefix):
                return channel
        return Channel.APP
    if role == Role.PATIENT:
        return Channel.PORTAL
    if role == Role.DEVICE:
        return Channel.KIOSK
    if requested in (Channel.FRONT_DESK, Channel.PHONE):
        return requested
    return Channel.FRONT_DESK


class SlotOut(Schema):
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    remaining: int


class SessionOut(Schema):
    id: int
    date: dt.date
    period: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    fee_class: str
    doctor: str | None
    doctor_title: str | None
    exam_type: str | None
    department_code: str
    slots: list[SlotOut]


def _session(s: ClinicSession, with_slots: bool = True) -> dict[str, Any]:
    doctor = s.practitioner
    return {
        "id": s.pk,
        "date": s.date,
        "period": s.period,
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "fee_class": s.fee_class,
        "doctor": str(doctor.user) if doctor else None,
        "doctor_title": doctor.get_title_display() if doctor else None,
        "exam_type": s.exam_type.code if s.exam_type_id and s.exam_type else None,
        "department_code": s.department.code,
        "slots": [
            {"id": x.pk, "starts_at": x.starts_at, "ends_at": x.ends_at, "remaining": x.remaining}
            for x in selectors.free_slots(s)
        ]
        if with_slots
        else [],
    }


@router.get(
    "/departments/{code}/sessions", response=list[SessionOut], summary="Open sessions with free slots"
)
def sessions(
    request: HttpRequest, code: str, date_from: dt.date | None = None, days: int = 7
) -> list[dict[str, Any]]:
    require_capability(request.user, "scheduling.view_schedule")
    from smartcare.organization.models import Department

    department = Department.objects.filter(national_code_id=code, is_active=True).first()
    if department is None:
        raise NotFound()
    rows = selectors.open_sessions(department.pk, date_from=date_from, days=max(1, min(days, 31)))
    return [_session(s) for s in rows.prefetch_related("slots")]


class BookingIn(Schema):
    patient_id: int
    slot_id: int
    channel: str | None = Field(default=None, description="front_desk or phone for staff; fixed for others")


class AppointmentOut(Schema):
    id: int
    patient_id: int
    slot_id: int
    starts_at: dt.datetime
    department_code: str
    doctor: str | None
    status: str
    channel: str
    fee_class: str
    preparation_zh: str
    preparation_en: str


def _appointment(a: Appointment) -> dict[str, Any]:
    doctor = a.session.practitioner
    return {
        "id": a.pk,
        "patient_id": a.patient_id,
        "slot_id": a.slot_id,
        "starts_at": a.slot.starts_at,
        "department_code": a.department.code,
        "doctor": str(doctor.user) if doctor else None,
        "status": a.status,
        "channel": a.channel,
        "fee_class": a.fee_class,
        "preparation_zh": a.preparation_zh,
        "preparation_en": a.preparation_en,
    }


@router.post(
    "/appointments",
    response={200: AppointmentOut, 201: AppointmentOut},
    summary="Book a slot (send Idempotency-Key so a retried request books once)",
)
def book(
    request: HttpRequest,
    payload: BookingIn,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> tuple[int, dict[str, Any]]:
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= 80):
        raise InvalidInput(field="Idempotency-Key")
    result = services.book_slot(
        request.user,
        patient_id=payload.patient_id,
        slot_id=payload.slot_id,
        channel=channel_of(request.user, payload.channel),
        idempotency_key=idempotency_key,
    )
    if result.created:
        # book_slot loaded the slot, session, department and doctor with the booking.
        return 201, _appointment(result.appointment)
    appointment = Appointment.objects.select_related("slot", "department", "session__practitioner__user").get(
        pk=result.appointment.pk
    )
    return 200, _appointment(appointment)


@router.get(
    "/patients/{patient_id}/appointments", response=list[AppointmentOut], summary="A patient's bookings"
)
def patient_appointments(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    patient = access_patient(request.user, patient_id, AccessAction.VIEW, reason="bookings")
    return [_appointment(a) for a in selectors.appointments_of(patient)[:100]]


class CancelIn(Schema):
    reason: str = Field(default="", max_length=300)


@router.post("/appointments/{appointment_id}/cancel", response=AppointmentOut, summary="Cancel a booking")
def cancel(request: HttpRequest, appointment_id: int, payload: CancelIn) -> dict[str, Any]:
    appointment = services.cancel_appointment(request.user, appointment_id, reason=payload.reason)
    return _appointment(appointment)


class WaitlistIn(Schema):
    patient_id: int
    department_code: str
    date: dt.date
    practitioner_id: int | None = None


class WaitlistOut(Schema):
    id: int
    status: str
    offered_slot_id: int | None
    offer_expires_at: dt.datetime | None


@router.post("/waitlist", response={201: WaitlistOut}, summary="Join the waitlist of a department and day")
def join_waitlist(request: HttpRequest, payload: WaitlistIn) -> tuple[int, dict[str, Any]]:
    from smartcare.organization.models import Department

    department = Department.objects.filter(national_code_id=payload.department_code).first()
    if department is None:
        raise NotFound()
    entry = services.join_waitlist(
        request.user,
        patient_id=payload.patient_id,
        department_id=department.pk,
        date=payload.date,
        channel=channel_of(request.user),
        practitioner_id=payload.practitioner_id,
    )
    return 201, {
        "id": entry.pk,
        "status": entry.status,
        "offered_slot_id": entry.offered_slot_id,
        "offer_expires_at": entry.offer_expires_at,
    }


@router.post("/waitlist/{entry_id}/accept", response={201: AppointmentOut}, summary="Accept a waitlist offer")
def accept_offer(request: HttpRequest, entry_id: int) -> tuple[int, dict[str, Any]]:
    appointment = services.accept_offer(request.user, entry_id, channel=channel_of(request.user))
    appointment = Appointment.objects.select_related("slot", "department", "session__practitioner__user").get(
        pk=appointment.pk
    )
    return 201, _appointment(appointment)


@router.get("/slots/{slot_id}", response=SlotOut, summary="One slot's remaining capacity")
def slot(request: HttpRequest, slot_id: int) -> dict[str, Any]:
    require_capability(request.user, "scheduling.view_schedule")
    found = Slot.objects.filter(pk=slot_id).first()
    if found is None:
        raise NotFound()
    return {
        "id": found.pk,
        "starts_at": found.starts_at,
        "ends_at": found.ends_at,
        "remaining": found.remaining,
    }
