"""Permission rules for check-in, queues and displays: the pages under /visits/.

Loaded by tests/test_permissions.py after tests/scheduling/permission_rules.py, whose ``setup``
made today's cardiology clinic and the target patient's booking in it. This ``setup`` adds a
second patient booked in the same clinic and already checked in at the desk (so the doctor's
queue has someone to call) and a display token for cardiology.

Capabilities: ``visits.check_in`` (patients, front desk, nurses, devices) for checking in a
booking; ``visits.check_in_desk`` (front desk, nurses) for the desk page, which also sets the
queue priority; ``visits.kiosk`` (devices, front desk) for the kiosk pages; ``visits.call``
(doctors, nurses, department heads) for the doctor's queue, limited to the caller's department;
``visits.displays`` (front desk, nurses, department heads, operations) for the list of display
links. A display itself needs only a valid signed token.
"""

from __future__ import annotations

from typing import Any

from django.test import Client

from smartcare.scheduling.choices import AppointmentStatus, Channel
from smartcare.visits.choices import EntryState
from smartcare.visits.models import KioskPresence, QueueEntry
from tests.factories import PatientFactory
from tests.test_permissions import (
    ANON,
    CARE,
    CLINICIANS,
    DEVICE,
    EVERYONE,
    FRONT_DESK,
    HEAD,
    MISSING_ID,
    NOBODY,
    PATIENT_OTHER,
    PATIENT_OWN,
    RECORD,
    SIGNED_IN,
    Rule,
    World,
)

KIOSK = frozenset({DEVICE, FRONT_DESK})
# Callers with visits.check_in; of those, who may open the target patient checks them in.
CHECKERS_IN = frozenset({PATIENT_OWN, PATIENT_OTHER, FRONT_DESK, DEVICE})
CALLERS_IN_CARDIOLOGY = frozenset({CARE, HEAD})

assert ANON not in KIOSK | CHECKERS_IN | CLINICIANS


def setup(world: World) -> None:
    from smartcare.scheduling.services import book_slot
    from smartcare.visits.displays import make_token
    from smartcare.visits.services import check_in

    assert "clinic" in world.extra, "tests/scheduling/permission_rules.py sets up the clinic first"
    frontdesk = world.h.user("frontdesk")
    queue_patient = PatientFactory(name="排队病人")
    book_slot(
        frontdesk,
        patient_id=queue_patient.pk,
        slot_id=world.extra["clinic_slots"][0].pk,
        channel=Channel.FRONT_DESK,
    )
    entry = check_in(frontdesk, code=queue_patient.one_code, channel="desk")
    assert entry.state == EntryState.WAITING
    world.extra.update(
        queue_patient=queue_patient,
        queue_entry=entry,
        display_token=make_token(world.h.cardiology.pk),
    )


# --- URL parameters and payloads ------------------------------------------------------------------


def _appointment(world: World, missing: bool) -> dict[str, Any]:
    return {"appointment_id": MISSING_ID if missing else world.extra["appointment"].pk}


def _token(world: World, missing: bool) -> dict[str, Any]:
    return {"token": world.extra["display_token"]}


# --- Effects ---------------------------------------------------------------------------------------


def _target_checked_in(world: World, channel: str) -> QueueEntry:
    appointment = world.extra["appointment"]
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CHECKED_IN
    entry = QueueEntry.objects.get(appointment=appointment)
    assert entry.check_in_channel == channel
    assert entry.state == EntryState.WAITING
    return entry


def _checked_in_by_phone(world: World, kind: str, response: Any) -> None:
    _target_checked_in(world, "phone")
    assert response["Location"] == f"/visits/queue/{world.extra['appointment'].pk}/"


def _checked_in_at_desk(world: World, kind: str, response: Any) -> None:
    entry = _target_checked_in(world, "desk")
    assert entry.number.encode() in response.content


def _identified_at_kiosk(world: World, kind: str, response: Any) -> None:
    assert world.target.name in response.content.decode()
    presences = KioskPresence.objects.filter(kiosk=world.user, patient=world.target)
    # Only a device acts for the patient by their presence; the front desk sees demographics anyway.
    assert presences.exists() == (kind == DEVICE)


def _kiosk_check_in(world: World, kind: str, response: Any) -> None:
    """Without a patient identified first, the kiosk goes back to the start; after identifying, the
    same caller checks the patient in."""
    assert response["Location"] == "/visits/kiosk/"
    client = Client()
    client.force_login(world.user)
    identified = client.post("/visits/kiosk/", {"action": "identify", "code": world.target.one_code})
    assert identified.status_code == 200
    ticket = client.post("/visits/kiosk/check-in/", {"appointment": world.extra["appointment"].pk})
    assert ticket.status_code == 200
    assert _target_checked_in(world, "kiosk").number.encode() in ticket.content


def _queue_called(world: World, kind: str, response: Any) -> None:
    """Department staff call the waiting patient; clinicians elsewhere see no cardiology queue."""
    entry = world.extra["queue_entry"]
    entry.refresh_from_db()
    if kind in CALLERS_IN_CARDIOLOGY:
        assert entry.state == EntryState.CALLED
        assert entry.appointment.status == AppointmentStatus.IN_CONSULTATION
    else:
        assert entry.state == EntryState.WAITING


def _no_full_names(world: World, kind: str, response: Any) -> None:
    content = response.content.decode()
    assert world.extra["queue_patient"].name not in content


def _display(world: World, kind: str, response: Any) -> None:
    """The screen names no patient in full, and a token that is not signed shows nothing."""
    _no_full_names(world, kind, response)
    assert world.target.name not in response.content.decode()
    forged = Client().get("/visits/display/not-a-signed-token/")
    assert forged.status_code == 404
    assert b'data-error-code="CORE-404"' in forged.content


# --- The rules -------------------------------------------------------------------------------------

RULES: list[Rule] = [
    # The patient's phone inside the check-in window, or the front desk for them. Callers without
    # visits.check_in are sent back to "my bookings" with the CORE-403 message (302).
    Rule("GET", "/visits/check-in/{appointment_id}/", SIGNED_IN, ok=405, params=_appointment),
    Rule(
        "POST",
        "/visits/check-in/{appointment_id}/",
        CHECKERS_IN & RECORD,
        ok=302,
        deny=302,
        special=dict.fromkeys(CHECKERS_IN - RECORD, 404),
        record=True,
        params=_appointment,
        effect=_checked_in_by_phone,
    ),
    Rule(
        "GET",
        "/visits/queue/{appointment_id}/",
        RECORD,
        deny=404,
        record=True,
        params=_appointment,
        effect=_no_full_names,
    ),
    Rule("GET", "/visits/kiosk/", KIOSK),
    Rule(
        "POST",
        "/visits/kiosk/",
        KIOSK,
        payload=lambda w, m: {"action": "identify", "code": w.target.one_code},
        effect=_identified_at_kiosk,
    ),
    Rule("GET", "/visits/kiosk/check-in/", SIGNED_IN, ok=405),
    Rule(
        "POST",
        "/visits/kiosk/check-in/",
        KIOSK,
        ok=302,
        payload=lambda w, m: {"appointment": w.extra["appointment"].pk},
        writes_for=NOBODY,  # no patient was identified in this session
        effect=_kiosk_check_in,
    ),
    Rule("GET", "/visits/desk/", frozenset({FRONT_DESK})),
    Rule(
        "POST",
        "/visits/desk/",
        frozenset({FRONT_DESK}),
        payload=lambda w, m: {"code": w.target.one_code},
        effect=_checked_in_at_desk,
    ),
    Rule("GET", "/visits/doctor/", CLINICIANS, effect=_no_full_names),
    Rule(
        "POST",
        "/visits/doctor/",
        CLINICIANS,
        payload=lambda w, m: {"session": w.extra["clinic"].pk, "action": "next"},
        writes_for=CALLERS_IN_CARDIOLOGY,
        effect=_queue_called,
    ),
    Rule("GET", "/visits/displays/", frozenset({FRONT_DESK, HEAD})),
    Rule("GET", "/visits/display/{token}/", EVERYONE, params=_token, effect=_display),
]
