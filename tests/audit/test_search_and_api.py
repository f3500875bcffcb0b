"""The auditors' views of the trail: the search page, the events API and chain verification."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent
from smartcare.audit.services import record
from smartcare.core import clock
from tests.factories import as_user

SHANGHAI_EVENING = dt.datetime(2026, 3, 1, 14, 0, tzinfo=dt.UTC)  # 22:00 on 1 March in Shanghai
SHANGHAI_AFTER_MIDNIGHT = dt.datetime(2026, 3, 1, 17, 30, tzinfo=dt.UTC)  # 01:30 on 2 March in Shanghai


@pytest.fixture()
def trail(hospital: Any) -> Any:
    """A few known events on known dates, after whatever building the hospital recorded."""
    doctor, nurse = hospital.user("doctor"), hospital.user("nurse")
    patient = hospital.patient_in_care
    other = hospital.patient_elsewhere
    assert patient is not None and other is not None
    with clock.frozen_at(SHANGHAI_EVENING):
        record(doctor, AuditAction.READ, patient=patient, obj=patient, reason="ward round")
    with clock.frozen_at(SHANGHAI_AFTER_MIDNIGHT):
        record(nurse, AuditAction.UPDATE, patient=patient, obj=patient)
    with clock.frozen_at(SHANGHAI_AFTER_MIDNIGHT + dt.timedelta(days=3)):
        record(doctor, AuditAction.EXPORT, patient=other, obj=other, reason="referral letter")
    return hospital


def sequences(response: Any) -> set[int]:
    return {event.sequence for event in response.context["page"].object_list}


def our_events(**filters: Any) -> set[int]:
    return set(AuditEvent.objects.filter(**filters).values_list("sequence", flat=True))


# --- search page -----------------------------------------------------------------------------


def test_auditor_sees_every_event(client: Any, trail: Any) -> None:
    response = as_user(client, trail.user("auditor")).get("/audit/")
    assert response.status_code == 200
    assert response.context["page"].paginator.count == AuditEvent.objects.count()
    assert b'data-testid="audit-table"' in response.content


def test_filter_by_patient(client: Any, trail: Any) -> None:
    patient = trail.patient_in_care
    assert patient is not None
    response = as_user(client, trail.user("auditor")).get("/audit/", {"patient": patient.pk})
    assert response.status_code == 200
    found = sequences(response)
    assert found == our_events(patient_id=patient.pk)
    assert len(found) >= 2


def test_filter_by_user(client: Any, trail: Any) -> None:
    response = as_user(client, trail.user("auditor")).get("/audit/", {"user": " nurse "})
    assert sequences(response) == our_events(actor_username="nurse")
    assert sequences(response)


def test_filter_by_action(client: Any, trail: Any) -> None:
    response = as_user(client, trail.user("auditor")).get("/audit/", {"action": "export"})
    found = sequences(response)
    assert len(found) == 1
    assert found == our_events(action=AuditAction.EXPORT)


def test_filter_by_date_uses_the_hospital_day(client: Any, trail: Any) -> None:
    """01:30 in Shanghai belongs to 2 March even though it is still 1 March in UTC."""
    auditor = as_user(client, trail.user("auditor"))
    first = sequences(auditor.get("/audit/", {"date_from": "2026-03-01", "date_to": "2026-03-01"}))
    second = sequences(auditor.get("/audit/", {"date_from": "2026-03-02", "date_to": "2026-03-02"}))
    evening = AuditEvent.objects.get(occurred_at=SHANGHAI_EVENING).sequence
    after_midnight = AuditEvent.objects.get(occurred_at=SHANGHAI_AFTER_MIDNIGHT).sequence
    assert first == {evening}
    assert second == {after_midnight}
    later = sequences(auditor.get("/audit/", {"date_from": "2026-03-03"}))
    assert AuditEvent.objects.get(action=AuditAction.EXPORT).sequence in later
    assert evening not in later


def test_filters_combine(client: Any, trail: Any) -> None:
    patient = trail.patient_in_care
    assert patient is not None
    response = as_user(client, trail.user("auditor")).get(
        "/audit/", {"patient": patient.pk, "user": "doctor", "action": "read", "date_to": "2026-03-01"}
    )
    assert sequences(response) == {AuditEvent.objects.get(occurred_at=SHANGHAI_EVENING).sequence}


def test_no_match_shows_empty_table(client: Any, trail: Any) -> None:
    response = as_user(client, trail.user("auditor")).get("/audit/", {"user": "nobody-at-all"})
    assert response.status_code == 200
    assert sequences(response) == set()


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2026-13-01"},
        {"date_to": "yesterday"},
        {"date_from": "2026-02-30"},
        {"patient": "abc"},
    ],
)
def test_bad_filter_gives_coded_error_and_400(client: Any, trail: Any, params: dict[str, str]) -> None:
    response = as_user(client, trail.user("auditor")).get("/audit/", params)
    assert response.status_code == 400
    assert response.context["error"].code == "CORE-001"
    assert b'data-error-code="CORE-001"' in response.content


@pytest.mark.parametrize("role", ["doctor", "head", "itadmin", "manager", "frontdesk", "patient"])
def test_only_auditors_open_the_search(client: Any, trail: Any, role: str) -> None:
    response = as_user(client, trail.user(role)).get("/audit/")
    assert response.status_code == 403
    assert b'data-error-code="CORE-403"' in response.content


def test_anonymous_is_sent_to_sign_in(client: Any, trail: Any) -> None:
    response = client.get("/audit/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- verifying from the page -----------------------------------------------------------------------


def test_verify_button_reports_intact_chain(client: Any, trail: Any) -> None:
    response = as_user(client, trail.user("auditor")).post("/audit/verify/")
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(texts) == 1
    assert "AUD-001" not in texts[0]


def test_verify_button_reports_broken_chain(client: Any, trail: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AuditEvent._meta.db_table} SET reason = 'x' WHERE sequence = 2")  # noqa: S608
    response = as_user(client, trail.user("auditor")).post("/audit/verify/")
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("AUD-001" in t and "2" in t for t in texts), texts


def test_verify_page_needs_post_and_auditor(client: Any, trail: Any) -> None:
    assert as_user(client, trail.user("auditor")).get("/audit/verify/").status_code == 405
    client.logout()
    assert as_user(client, trail.user("doctor")).post("/audit/verify/").status_code == 403


# --- API ---------------------------------------------------------------------------------------------


def test_api_verify_intact(client: Any, trail: Any) -> None:
    response = as_user(client, trail.user("auditor")).post("/api/audit/verify")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "ok": True,
        "checked": AuditEvent.objects.count(),
        "first_bad_sequence": None,
        "problem": "",
    }


def test_api_verify_reports_first_bad_event(client: Any, trail: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE sequence IN (3, 5)")  # noqa: S608
    body = as_user(client, trail.user("auditor")).post("/api/audit/verify").json()
    assert body["ok"] is False
    assert body["first_bad_sequence"] == 3
    assert body["checked"] == 2


@pytest.mark.parametrize(("role", "status", "code"), [("doctor", 403, "CORE-403"), (None, 401, "CORE-401")])
def test_api_verify_refuses_others(client: Any, trail: Any, role: str | None, status: int, code: str) -> None:
    response = as_user(client, trail.user(role) if role else None).post("/api/audit/verify")
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_api_events_filters(client: Any, trail: Any) -> None:
    patient = trail.patient_in_care
    assert patient is not None
    api = as_user(client, trail.user("auditor"))
    body = api.get("/api/audit/events", {"patient_id": patient.pk, "action": "update"}).json()
    assert [e["actor_username"] for e in body] == ["nurse"]
    assert body[0]["patient_id"] == patient.pk
    by_date = api.get("/api/audit/events", {"date_from": "2026-03-02", "date_to": "2026-03-02"}).json()
    assert [e["action"] for e in by_date] == ["update"]
    newest_first = api.get("/api/audit/events", {"limit": 2}).json()
    assert len(newest_first) == 2
    assert newest_first[0]["sequence"] > newest_first[1]["sequence"]


def test_api_events_bad_date_is_coded_400(client: Any, trail: Any) -> None:
    response = as_user(client, trail.user("auditor")).get("/api/audit/events", {"date_from": "2026-02-30"})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "CORE-001"
    assert any(error["field"].endswith("date_from") for error in problem["errors"])


def test_api_events_refuses_non_auditors(client: Any, trail: Any) -> None:
    response = as_user(client, trail.user("head")).get("/api/audit/events")
    assert response.status_code == 403
    assert response.json()["code"] == "CORE-403"
