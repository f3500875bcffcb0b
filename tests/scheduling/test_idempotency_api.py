"""The booking API: idempotent booking, problem+json errors that write nothing, channel tokens,
sessions, waitlist and cancelling."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.choices import Role
from smartcare.accounts.services import create_api_token
from smartcare.core import clock
from smartcare.patients.services import bind_channel
from smartcare.scheduling.choices import AppointmentStatus, Channel, WaitlistStatus
from smartcare.scheduling.models import Appointment, Slot, WaitlistEntry
from tests.factories import UserFactory
from tests.scheduling.builders import PREPARATION_EN, PREPARATION_ZH, Clinic, at, snapshot, tz

pytestmark = pytest.mark.django_db

BOOK = "/api/booking/appointments"


def signed_in(clinic: Clinic, name: str) -> Client:
    client = Client()
    client.force_login(clinic.user(name))
    return client


def post(client: Client, url: str, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", headers=headers)


def local(value: str) -> str:
    """An API timestamp as hospital local time (the API answers in UTC)."""
    return dt.datetime.fromisoformat(value).astimezone(tz()).strftime("%Y-%m-%d %H:%M")


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["type"].endswith(code)
    return body


def test_a_retried_request_with_the_same_key_books_once(clinic: Clinic) -> None:
    client = signed_in(clinic, "patient")
    body = {"patient_id": clinic.own_patient.pk, "slot_id": clinic.slot(1).pk}
    first = post(client, BOOK, body, **{"Idempotency-Key": "order-1"})
    assert first.status_code == 201, first.content
    again = post(client, BOOK, body, **{"Idempotency-Key": "order-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    created = first.json()
    assert created["patient_id"] == clinic.own_patient.pk
    assert created["slot_id"] == clinic.slot(1).pk
    assert created["status"] == AppointmentStatus.BOOKED
    assert created["channel"] == Channel.PORTAL
    assert created["department_code"] == "03.04"
    assert (created["preparation_zh"], created["preparation_en"]) == (PREPARATION_ZH, PREPARATION_EN)
    assert local(created["starts_at"]) == "2027-03-02 09:00"
    assert Appointment.objects.filter(patient=clinic.own_patient).count() == 1
    assert clinic.slot(1).booked == 1


def test_the_same_key_for_another_booking_is_a_conflict(clinic: Clinic) -> None:
    client = signed_in(clinic, "frontdesk")
    key = {"Idempotency-Key": "desk-42"}
    assert (
        post(
            client, BOOK, {"patient_id": clinic.patient_in_care.pk, "slot_id": clinic.slot(1).pk}, **key
        ).status_code
        == 201
    )
    before = snapshot()
    other_slot = post(
        client, BOOK, {"patient_id": clinic.patient_in_care.pk, "slot_id": clinic.slot(2).pk}, **key
    )
    problem(other_slot, 409, "SCHED-007")
    other_patient = post(
        client, BOOK, {"patient_id": clinic.patient_elsewhere.pk, "slot_id": clinic.slot(1).pk}, **key
    )
    problem(other_patient, 409, "SCHED-007")
    assert snapshot() == before
    # Keys belong to the caller: another user's identical key is a different request.
    mine = post(
        signed_in(clinic, "patient"),
        BOOK,
        {"patient_id": clinic.own_patient.pk, "slot_id": clinic.slot(1).pk},
        **key,
    )
    assert mine.status_code == 201
    # Without a key, a second request is a second booking attempt (refused by the rules).
    problem(
        post(client, BOOK, {"patient_id": clinic.patient_in_care.pk, "slot_id": clinic.slot(1).pk}),
        409,
        "SCHED-003",
    )


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"patient_id": "PATIENT"}, {}, None),
        ({"slot_id": "SLOT"}, {}, "patient_id"),
        ({"patient_id": "PATIENT", "slot_id": "not a number"}, {}, "slot_id"),
        ("{not json", {}, None),
        ("", {}, None),
        ({"patient_id": "PATIENT", "slot_id": "SLOT"}, {"Idempotency-Key": "k" * 81}, None),
    ],
    ids=["no-slot", "no-patient", "bad-slot", "not-json", "empty", "long-key"],
)
def test_invalid_requests_are_problem_json_and_write_nothing(
    clinic: Clinic, body: Any, headers: dict[str, str], field: str | None
) -> None:
    def fill(value: Any) -> Any:
        return {"PATIENT": clinic.own_patient.pk, "SLOT": clinic.slot(1).pk}.get(value, value)

    if isinstance(body, dict):
        body = {name: fill(value) for name, value in body.items()}
    before = snapshot()
    response = post(signed_in(clinic, "patient"), BOOK, body, **headers)
    answer = problem(response, 400, "CORE-001")
    if field is not None:
        assert field in {error["field"] for error in answer["errors"]}
    assert snapshot() == before


def test_coded_refusals_are_problem_json(clinic: Clinic) -> None:
    client = signed_in(clinic, "patient")
    before = snapshot()
    problem(
        post(client, BOOK, {"patient_id": clinic.own_patient.pk, "slot_id": clinic.slot(7).pk}),
        409,
        "SCHED-002",
    )
    problem(
        post(client, BOOK, {"patient_id": clinic.other_patient.pk, "slot_id": clinic.slot(1).pk}),
        404,
        "CORE-404",
    )
    problem(
        post(Client(), BOOK, {"patient_id": clinic.own_patient.pk, "slot_id": clinic.slot(1).pk}),
        401,
        "CORE-401",
    )
    researcher = signed_in(clinic, "researcher")
    problem(
        post(researcher, BOOK, {"patient_id": clinic.own_patient.pk, "slot_id": clinic.slot(1).pk}),
        403,
        "CORE-403",
    )
    assert snapshot() == before


def test_a_channel_books_with_its_bearer_token_for_bound_patients(clinic: Clinic) -> None:
    mini = UserFactory(username="channel-miniprogram-api", role=Role.CHANNEL)
    secret = create_api_token(clinic.user("itadmin"), user=mini, name="mini-program")
    patient = clinic.patient_in_care
    client = Client()
    auth = {"Authorization": f"Bearer {secret}"}
    before = snapshot()
    problem(
        post(client, BOOK, {"patient_id": patient.pk, "slot_id": clinic.slot(1).pk}, **auth), 404, "CORE-404"
    )
    problem(
        post(
            client,
            BOOK,
            {"patient_id": patient.pk, "slot_id": clinic.slot(1).pk},
            Authorization="Bearer sc_bad_token",
        ),
        401,
        "CORE-401",
    )
    assert snapshot() == before

    bind_channel(mini, national_id=patient.national_id, name=patient.name, phone=patient.phone)
    body = {"patient_id": patient.pk, "slot_id": clinic.slot(1).pk, "channel": Channel.FRONT_DESK}
    response = post(client, BOOK, body, **auth, **{"Idempotency-Key": "wx-order-9"})
    assert response.status_code == 201, response.content
    assert response.json()["channel"] == Channel.MINI_PROGRAM  # fixed by the identity, not the body
    appointment = Appointment.objects.get(pk=response.json()["id"])
    assert (appointment.booked_by, appointment.channel) == (mini, Channel.MINI_PROGRAM)
    # The same token in X-API-Key, same key: the same booking.
    retry = post(client, BOOK, body, **{"X-API-Key": secret, "Idempotency-Key": "wx-order-9"})
    assert (retry.status_code, retry.json()["id"]) == (200, appointment.pk)
    # The channel lists the bound patient's bookings, not others'.
    listed = client.get(f"/api/booking/patients/{patient.pk}/appointments", headers=auth)
    assert [a["id"] for a in listed.json()] == [appointment.pk]
    problem(
        client.get(f"/api/booking/patients/{clinic.own_patient.pk}/appointments", headers=auth),
        404,
        "CORE-404",
    )


def test_open_sessions_list_released_sessions_with_free_slots(clinic: Clinic) -> None:
    client = signed_in(clinic, "patient")
    response = client.get("/api/booking/departments/03.04/sessions?days=8")
    assert response.status_code == 200
    sessions = response.json()
    # Monday to Sunday are released; next Monday opens at 08:00.
    assert [s["date"] for s in sessions] == [f"2027-03-0{d}" for d in range(1, 8)]
    first = sessions[0]
    assert first["doctor"] == str(clinic.user("doctor"))
    assert (first["department_code"], first["period"], first["fee_class"]) == ("03.04", "morning", "ordinary")
    assert [(s["remaining"], local(s["starts_at"])[11:]) for s in first["slots"]] == [
        (2, "09:00"),
        (2, "09:30"),
        (2, "10:00"),
        (2, "10:30"),
    ]
    with clock.frozen_at(at(0, 8)):
        later = client.get("/api/booking/departments/03.04/sessions?days=8").json()
    assert later[-1]["date"] == "2027-03-08"
    # A full slot disappears, a partly booked one shows what is left.
    desk = signed_in(clinic, "frontdesk")
    for patient in (clinic.patient_in_care, clinic.patient_elsewhere):
        post(desk, BOOK, {"patient_id": patient.pk, "slot_id": clinic.slot(0, 9).pk})
    post(desk, BOOK, {"patient_id": clinic.other_patient.pk, "slot_id": clinic.slot(0, 9, 30).pk})
    today = client.get("/api/booking/departments/03.04/sessions?days=1").json()
    assert [(s["remaining"], local(s["starts_at"])[11:]) for s in today[0]["slots"]] == [
        (1, "09:30"),
        (2, "10:00"),
        (2, "10:30"),
    ]
    slot = client.get(f"/api/booking/slots/{clinic.slot(0, 9, 30).pk}").json()
    assert slot["remaining"] == 1
    from_thursday = client.get("/api/booking/departments/03.04/sessions?date_from=2027-03-04&days=2").json()
    assert [s["date"] for s in from_thursday] == ["2027-03-04", "2027-03-05"]
    problem(client.get("/api/booking/departments/99.99/sessions"), 404, "CORE-404")
    problem(client.get("/api/booking/slots/999999"), 404, "CORE-404")
    problem(signed_in(clinic, "researcher").get("/api/booking/departments/03.04/sessions"), 403, "CORE-403")
    problem(Client().get("/api/booking/departments/03.04/sessions"), 401, "CORE-401")


def test_waitlist_endpoints(clinic: Clinic, django_capture_on_commit_callbacks: Any) -> None:
    desk = signed_in(clinic, "frontdesk")
    slot = clinic.slot(1)
    booked = [
        post(desk, BOOK, {"patient_id": p.pk, "slot_id": slot.pk}).json()["id"]
        for p in (clinic.patient_in_care, clinic.patient_elsewhere)
    ]
    client = signed_in(clinic, "patient")
    body = {"patient_id": clinic.own_patient.pk, "department_code": "03.04", "date": "2027-03-02"}
    joined = post(client, "/api/booking/waitlist", body)
    assert joined.status_code == 201, joined.content
    entry = joined.json()
    assert (entry["status"], entry["offered_slot_id"], entry["offer_expires_at"]) == ("waiting", None, None)
    assert WaitlistEntry.objects.get(pk=entry["id"]).channel == Channel.PORTAL
    before = snapshot()
    problem(post(client, "/api/booking/waitlist", body), 409, "SCHED-003")
    problem(post(client, "/api/booking/waitlist", {**body, "department_code": "99.99"}), 404, "CORE-404")
    problem(
        post(client, "/api/booking/waitlist", {**body, "patient_id": clinic.other_patient.pk}),
        404,
        "CORE-404",
    )
    problem(post(client, "/api/booking/waitlist", {**body, "date": "someday"}), 400, "CORE-001")
    problem(post(client, f"/api/booking/waitlist/{entry['id']}/accept", {}), 409, "SCHED-009")
    assert snapshot() == before

    with django_capture_on_commit_callbacks(execute=True):
        cancelled = post(desk, f"/api/booking/appointments/{booked[0]}/cancel", {"reason": "ill"})
    assert cancelled.status_code == 200
    assert WaitlistEntry.objects.get(pk=entry["id"]).status == WaitlistStatus.OFFERED
    problem(
        post(signed_in(clinic, "other_patient_user"), f"/api/booking/waitlist/{entry['id']}/accept", {}),
        404,
        "CORE-404",
    )
    accepted = post(client, f"/api/booking/waitlist/{entry['id']}/accept", {})
    assert accepted.status_code == 201, accepted.content
    assert (accepted.json()["slot_id"], accepted.json()["patient_id"]) == (slot.pk, clinic.own_patient.pk)
    assert Slot.objects.get(pk=slot.pk).booked == 2


def test_cancel_endpoint(clinic: Clinic) -> None:
    client = signed_in(clinic, "patient")
    today = post(client, BOOK, {"patient_id": clinic.own_patient.pk, "slot_id": clinic.slot(0).pk}).json()
    tomorrow = post(client, BOOK, {"patient_id": clinic.own_patient.pk, "slot_id": clinic.slot(1).pk}).json()
    before = snapshot()
    problem(
        post(signed_in(clinic, "other_patient_user"), f"{BOOK}/{tomorrow['id']}/cancel", {}), 404, "CORE-404"
    )
    problem(post(client, f"{BOOK}/999999/cancel", {}), 404, "CORE-404")
    problem(post(client, f"{BOOK}/{tomorrow['id']}/cancel", {"reason": "x" * 301}), 400, "CORE-001")
    with clock.frozen_at(at(0, 7, 30)):
        problem(post(client, f"{BOOK}/{today['id']}/cancel", {"reason": "late"}), 409, "SCHED-006")
    assert snapshot() == before
    response = post(client, f"{BOOK}/{tomorrow['id']}/cancel", {"reason": "feeling better"})
    assert response.status_code == 200
    assert response.json()["status"] == AppointmentStatus.CANCELLED
    assert Appointment.objects.get(pk=tomorrow["id"]).cancel_reason == "feeling better"
    assert clinic.slot(1).booked == 0
    problem(post(client, f"{BOOK}/{tomorrow['id']}/cancel", {}), 409, "SCHED-008")
