"""Permission rules for booking: the pages under /booking/ and the API under /api/booking/.

Loaded by tests/test_permissions.py. ``setup`` gives the cardiology doctor three sessions added by
hand, with slots starting about an hour from now (local time) so that booking, phone check-in
and cancelling are all still possible when the request runs:

* ``clinic`` today (morning period): the target patient's booking (made by the front desk);
* ``open_session`` today (afternoon period): free slots for the booking form and the waitlist;
* ``tomorrow``: the target's waitlist entry for tomorrow has been offered one of its places.

Cardiology's booking policy lets patients cancel until the start and check in on the phone from
two hours before, so the patient's own cancel and check-in succeed instead of being refused as
too late.

Who may do what: ``scheduling.book`` (patients, clinicians, front desk, devices) opens the booking
pages; ``scheduling.view_schedule`` (not devices) the schedule API; ``scheduling.manage`` (front
desk, department head of the session's department) stopping and replacing sessions. Everything
about one patient's booking also needs access to that patient (``access_patient``): without it
the answer is 404 CORE-404, exactly as for a booking or patient that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.scheduling.api import channel_of
from smartcare.scheduling.choices import AppointmentStatus, Channel, Period, SessionStatus, WaitlistStatus
from smartcare.scheduling.models import (
    Appointment,
    BookingPolicy,
    ClinicSession,
    ReleaseRule,
    Slot,
    WaitlistEntry,
)
from tests.test_permissions import (
    ADMIN,
    ANON,
    AUDITOR,
    CLINICIANS,
    DEVICE,
    FRONT_DESK,
    HEAD,
    MISSING_ID,
    NO_CARE,
    PATIENT_OTHER,
    PATIENTS,
    RECORD,
    RESEARCHER,
    SIGNED_IN,
    Rule,
    World,
)

CARDIOLOGY = "03.04"

# scheduling.book / scheduling.view_schedule / scheduling.manage, among the callers.
BOOKERS = PATIENTS | CLINICIANS | {FRONT_DESK, DEVICE}
SCHEDULE_READERS = PATIENTS | CLINICIANS | {FRONT_DESK}
MANAGERS = frozenset({FRONT_DESK, HEAD})
NOT_BOOKERS = frozenset({ADMIN, AUDITOR, RESEARCHER})
# May book but may not open the target patient: refused as if the patient did not exist.
BOOKERS_WITHOUT_ACCESS = frozenset({PATIENT_OTHER, NO_CARE, DEVICE})
HIDDEN = dict.fromkeys(BOOKERS_WITHOUT_ACCESS, 404)

assert BOOKERS - BOOKERS_WITHOUT_ACCESS == RECORD
assert ANON not in BOOKERS | SCHEDULE_READERS | MANAGERS


# --- The world: sessions, a booking, a waitlist offer -------------------------------------------------


def _add_session(world: World, date: dt.date, starts: dt.datetime, period: str) -> ClinicSession:
    """A session of the cardiology doctor added by hand (four 30-minute slots of two places)."""
    from smartcare.core import clock
    from smartcare.scheduling.services import release_time_for

    length = dt.timedelta(minutes=30)
    releases_at = release_time_for(world.h.cardiology.pk, date)
    assert releases_at <= clock.now()
    session = ClinicSession.objects.create(
        department=world.h.cardiology,
        practitioner=world.h.user("doctor").practitioner,
        date=date,
        period=period,
        starts_at=starts,
        ends_at=starts + 4 * length,
        releases_at=releases_at,
    )
    Slot.objects.bulk_create(
        Slot(session=session, starts_at=starts + i * length, ends_at=starts + (i + 1) * length, capacity=2)
        for i in range(4)
    )
    return session


def _first_slot(session: ClinicSession) -> Slot:
    return session.slots.order_by("starts_at").first()


def setup(world: World) -> None:
    from smartcare.core import clock
    from smartcare.scheduling.services import book_slot, join_waitlist, offer_freed_place

    h = world.h
    ReleaseRule.objects.create(department=h.cardiology, days_ahead=7, release_time=dt.time(8, 0))
    BookingPolicy.objects.create(
        department=h.cardiology, cancellation_deadline_hours=0, check_in_opens_minutes=120
    )
    local = clock.local_now()
    today = local.date()
    starts = (local + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    # The dates are the local today and tomorrow even if the times run past midnight.
    clinic = _add_session(world, today, starts, Period.MORNING)
    open_session = _add_session(world, today, starts + dt.timedelta(hours=2), Period.AFTERNOON)
    tomorrow = _add_session(
        world, today + dt.timedelta(days=1), starts + dt.timedelta(days=1), Period.MORNING
    )

    frontdesk = h.user("frontdesk")
    slots = list(clinic.slots.order_by("starts_at"))
    appointment = book_slot(
        frontdesk, patient_id=world.target.pk, slot_id=slots[1].pk, channel=Channel.FRONT_DESK
    ).appointment
    entry = join_waitlist(
        frontdesk,
        patient_id=world.target.pk,
        department_id=h.cardiology.pk,
        date=tomorrow.date,
        channel=Channel.FRONT_DESK,
    )
    offered = offer_freed_place(_first_slot(tomorrow).pk)
    assert offered is not None and offered.pk == entry.pk
    world.extra.update(
        today=today,
        clinic=clinic,
        clinic_slots=slots,
        open_session=open_session,
        tomorrow=tomorrow,
        appointment=appointment,
        waitlist_entry=offered,
    )


# --- URL parameters and payloads ------------------------------------------------------------------


def _department(world: World, missing: bool) -> dict[str, Any]:
    return {"code": CARDIOLOGY}


def _open_session(world: World, missing: bool) -> dict[str, Any]:
    return {"session_id": world.extra["open_session"].pk}


def _clinic(world: World, missing: bool) -> dict[str, Any]:
    return {"session_id": world.extra["clinic"].pk}


def _appointment(world: World, missing: bool) -> dict[str, Any]:
    return {"appointment_id": MISSING_ID if missing else world.extra["appointment"].pk}


def _entry(world: World, missing: bool) -> dict[str, Any]:
    return {"entry_id": MISSING_ID if missing else world.extra["waitlist_entry"].pk}


def _slot(world: World, missing: bool) -> dict[str, Any]:
    return {"slot_id": _first_slot(world.extra["open_session"]).pk}


def _patient_id(world: World, missing: bool) -> int:
    return MISSING_ID if missing else world.target.pk


def _booking_form(world: World, missing: bool) -> dict[str, Any]:
    return {
        "slot": _first_slot(world.extra["open_session"]).pk,
        "patient": _patient_id(world, missing),
        "idempotency_key": "perm-test-booking",
    }


def _booking_body(world: World, missing: bool) -> dict[str, Any]:
    return {"patient_id": _patient_id(world, missing), "slot_id": _first_slot(world.extra["open_session"]).pk}


def _waitlist_body(world: World, missing: bool) -> dict[str, Any]:
    return {
        "patient_id": _patient_id(world, missing),
        "department_code": CARDIOLOGY,
        "date": world.extra["today"].isoformat(),
    }


# --- Effects of allowed requests ------------------------------------------------------------------


def _new_booking(world: World) -> Appointment:
    appointment = Appointment.objects.get(
        patient=world.target, session=world.extra["open_session"], status=AppointmentStatus.BOOKED
    )
    assert appointment.booked_by == world.user
    assert appointment.channel == channel_of(world.user)
    return appointment


def _booked_page(world: World, kind: str, response: Any) -> None:
    assert response["Location"] == f"/booking/appointment/{_new_booking(world).pk}/"


def _booked_api(world: World, kind: str, response: Any) -> None:
    assert response.json()["id"] == _new_booking(world).pk
    assert response.json()["patient_id"] == world.target.pk


def _cancelled(world: World, kind: str, response: Any) -> None:
    appointment = world.extra["appointment"]
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancel_reason == "权限测试取消"


def _joined_waitlist(world: World, kind: str, response: Any) -> None:
    entry = WaitlistEntry.objects.get(patient=world.target, date=world.extra["today"])
    assert entry.status == WaitlistStatus.WAITING
    assert entry.requested_by == world.user


def _offer_accepted(world: World, kind: str, response: Any) -> Appointment:
    entry = world.extra["waitlist_entry"]
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.ACCEPTED
    assert entry.appointment is not None
    assert entry.appointment.patient_id == world.target.pk
    assert entry.appointment.slot_id == entry.offered_slot_id
    return entry.appointment


def _offer_accepted_page(world: World, kind: str, response: Any) -> None:
    appointment = _offer_accepted(world, kind, response)
    assert response["Location"] == f"/booking/appointment/{appointment.pk}/"


def _offer_accepted_api(world: World, kind: str, response: Any) -> None:
    assert response.json()["id"] == _offer_accepted(world, kind, response).pk


def _stopped(world: World, kind: str, response: Any) -> None:
    clinic = world.extra["clinic"]
    clinic.refresh_from_db()
    assert clinic.status == SessionStatus.STOPPED
    appointment = world.extra["appointment"]
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED


def _replaced(world: World, kind: str, response: Any) -> None:
    clinic = world.extra["clinic"]
    clinic.refresh_from_db()
    assert clinic.practitioner == world.h.user("head").practitioner


def _lists_only_visible_bookings(world: World, kind: str, response: Any) -> None:
    """A patient's "my bookings" shows their own booking, never another patient's."""
    content = response.content.decode()
    if kind in PATIENTS:
        assert (world.target.name in content) == (kind != PATIENT_OTHER)


def _lists_target_bookings(world: World, kind: str, response: Any) -> None:
    assert [row["id"] for row in response.json()] == [world.extra["appointment"].pk]


# --- The rules -------------------------------------------------------------------------------------

RULES: list[Rule] = [
    # --- pages: choosing and booking ---
    Rule("GET", "/booking/", BOOKERS),
    Rule("GET", "/booking/department/{code}/", BOOKERS, params=_department),
    Rule("GET", "/booking/session/{session_id}/", BOOKERS, params=_open_session),
    Rule(
        "POST",
        "/booking/session/{session_id}/",
        RECORD,
        ok=302,
        special=HIDDEN,
        record=True,
        params=_open_session,
        payload=_booking_form,
        effect=_booked_page,
    ),
    # Denied by capability, the page redirects to "my bookings" with the CORE-403 message.
    Rule("GET", "/booking/session/{session_id}/waitlist/", SIGNED_IN, ok=405, params=_open_session),
    Rule(
        "POST",
        "/booking/session/{session_id}/waitlist/",
        RECORD,
        ok=302,
        special={**HIDDEN, **dict.fromkeys(NOT_BOOKERS, 302)},
        record=True,
        params=_open_session,
        payload=lambda w, m: {"patient": _patient_id(w, m)},
        effect=_joined_waitlist,
    ),
    Rule("GET", "/booking/appointment/{appointment_id}/", RECORD, deny=404, record=True, params=_appointment),
    Rule("GET", "/booking/appointment/{appointment_id}/cancel/", SIGNED_IN, ok=405, params=_appointment),
    Rule(
        "POST",
        "/booking/appointment/{appointment_id}/cancel/",
        RECORD,
        ok=302,
        deny=404,
        record=True,
        params=_appointment,
        payload=lambda w, m: {"reason": "权限测试取消"},
        effect=_cancelled,
    ),
    Rule("GET", "/booking/mine/", BOOKERS, effect=_lists_only_visible_bookings),
    Rule("GET", "/booking/waitlist/{entry_id}/accept/", SIGNED_IN, ok=405, params=_entry),
    Rule(
        "POST",
        "/booking/waitlist/{entry_id}/accept/",
        RECORD,
        ok=302,
        deny=404,
        record=True,
        params=_entry,
        effect=_offer_accepted_page,
    ),
    # --- pages: managing sessions (front desk any, department head their own department's) ---
    Rule("GET", "/booking/manage/", MANAGERS),
    Rule("GET", "/booking/manage/{session_id}/stop/", SIGNED_IN, ok=405, params=_clinic),
    Rule(
        "POST",
        "/booking/manage/{session_id}/stop/",
        MANAGERS,
        ok=302,
        params=_clinic,
        payload=lambda w, m: {"reason": "医生临时停诊"},
        effect=_stopped,
    ),
    Rule("GET", "/booking/manage/{session_id}/replace/", SIGNED_IN, ok=405, params=_clinic),
    Rule(
        "POST",
        "/booking/manage/{session_id}/replace/",
        MANAGERS,
        ok=302,
        params=_clinic,
        payload=lambda w, m: {"practitioner": w.h.user("head").practitioner.pk, "reason": "换诊"},
        effect=_replaced,
    ),
    # --- API (mirrors the pages; denials are problem+json) ---
    Rule("GET", "/api/booking/departments/{code}/sessions", SCHEDULE_READERS, params=_department),
    Rule("GET", "/api/booking/slots/{slot_id}", SCHEDULE_READERS, params=_slot),
    Rule(
        "POST",
        "/api/booking/appointments",
        RECORD,
        ok=201,
        special=HIDDEN,
        record=True,
        payload=_booking_body,
        effect=_booked_api,
    ),
    Rule(
        "GET",
        "/api/booking/patients/{patient_id}/appointments",
        RECORD,
        deny=404,
        record=True,
        effect=_lists_target_bookings,
    ),
    Rule(
        "POST",
        "/api/booking/appointments/{appointment_id}/cancel",
        RECORD,
        deny=404,
        record=True,
        params=_appointment,
        payload=lambda w, m: {"reason": "权限测试取消"},
        effect=_cancelled,
    ),
    Rule(
        "POST",
        "/api/booking/waitlist",
        RECORD,
        ok=201,
        special=HIDDEN,
        record=True,
        payload=_waitlist_body,
        effect=_joined_waitlist,
    ),
    Rule(
        "POST",
        "/api/booking/waitlist/{entry_id}/accept",
        RECORD,
        ok=201,
        deny=404,
        record=True,
        params=_entry,
        effect=_offer_accepted_api,
    ),
]
