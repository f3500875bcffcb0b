"""The triage API: public, or with the caller's token; validation with TRIAGE-00x codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.choices import Role
from smartcare.accounts.services import create_api_token
from smartcare.api import api
from smartcare.triage.models import TriageRecord
from tests.factories import TestHospital, UserFactory
from tests.triage.conftest import CALL_120_ZH, CARDIOLOGY_ZH, EMERGENCY_EN, QUESTION_EN

pytestmark = pytest.mark.django_db


def _post(client: Client, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/api/triage/", json.dumps(body), content_type="application/json", headers=headers)


def test_anonymous_gets_departments_with_booking_urls(hospital: TestHospital) -> None:
    response = _post(Client(), {"text": CARDIOLOGY_ZH, "age": 55, "sex": "male"})
    assert response.status_code == 200
    body = response.json()
    record = TriageRecord.objects.get()
    assert body["record_id"] == record.pk
    assert body["status"] == "departments"
    assert (record.channel, record.user) == ("api", None)
    first = body["departments"][0]
    assert first["code"] == "03.04"
    assert first["booking_code"] == "03.04"
    assert first["booking_url"] == f"http://testserver/triage/{record.pk}/book/03.04/"
    assert 0 < first["score"] <= 1
    assert first["name_zh"] and first["name_en"] and first["reasons_zh"] and first["reasons_en"]
    for other in body["departments"][1:]:
        if other["code"] not in ("03.04", "03.03"):
            assert other["booking_url"] is None and other["booking_code"] is None
    assert {f["key"] for f in body["findings"]} == set(record.findings)


def test_emergency_answer(hospital: TestHospital) -> None:
    body = _post(Client(), {"text": CALL_120_ZH, "age": 60, "sex": "male"}).json()
    assert body["status"] == "emergency"
    assert body["action"] == "call_120"
    flag = body["red_flags"][0]
    assert flag["reason_zh"] and flag["reason_en"] and flag["action"] == "call_120"


def test_question_then_the_answer(hospital: TestHospital) -> None:
    client = Client()
    body = _post(client, {"text": QUESTION_EN, "age": 30, "sex": "female", "language": "en"}).json()
    assert body["status"] == "question"
    key = body["question"]["key"]
    assert body["question"]["question_zh"] and body["question"]["question_en"]
    again = _post(client, {"text": QUESTION_EN, "age": 30, "sex": "female", "answers": {key: True}}).json()
    assert again["status"] in ("question", "departments")
    assert (again["question"] or {}).get("key") != key
    # null: "not sure" -- the same question is not asked again.
    unsure = _post(client, {"text": QUESTION_EN, "age": 30, "sex": "female", "answers": {key: None}}).json()
    assert (unsure["question"] or {}).get("key") != key
    records = list(TriageRecord.objects.order_by("pk"))
    assert [r.language for r in records] == ["en", "zh-hans", "zh-hans"]
    assert records[1].answers == {key: True}
    assert records[2].answers == {key: None}


def test_a_channel_token_is_recorded(hospital: TestHospital) -> None:
    channel = UserFactory(username="channel-app-triage", role=Role.CHANNEL)
    secret = create_api_token(hospital.user("itadmin"), user=channel, name="triage")
    response = _post(Client(), {"text": EMERGENCY_EN}, Authorization=f"Bearer {secret}")
    assert response.status_code == 200
    assert TriageRecord.objects.get().user == channel


def test_a_bad_token_is_refused(hospital: TestHospital) -> None:
    response = _post(Client(), {"text": EMERGENCY_EN}, Authorization="Bearer sc_not-a-token")
    assert response.status_code == 401
    assert response.json()["code"] == "CORE-401"
    assert not TriageRecord.objects.exists()


def test_session_calls_need_the_csrf_token(hospital: TestHospital) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(hospital.user("patient"))
    response = _post(client, {"text": EMERGENCY_EN})
    assert response.status_code == 403
    assert not TriageRecord.objects.exists()
    # Without a session, nobody's identity can be borrowed: no token needed.
    assert _post(Client(enforce_csrf_checks=True), {"text": EMERGENCY_EN}).status_code == 200


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"text": ""}, "TRIAGE-001", "text"),
        ({"text": "   \n "}, "TRIAGE-001", "text"),
        ({"text": "a" * 2001}, "TRIAGE-002", "text"),
        ({"text": "headache", "age": -1}, "TRIAGE-003", "age"),
        ({"text": "headache", "age": 121}, "TRIAGE-003", "age"),
        ({"text": "headache", "age_months": -2}, "TRIAGE-003", "age_months"),
        ({"text": "headache", "sex": "unknown"}, "TRIAGE-004", "sex"),
        ({"text": "headache", "answers": {"q_not_a_question": True}}, "TRIAGE-005", "answers"),
        ({"text": "headache", "answers": {"q_not_a_question": None}}, "TRIAGE-005", "answers"),
        ({"text": "headache", "age": "ten"}, "CORE-001", None),
        ({"age": 30}, "CORE-001", None),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    hospital: TestHospital, body: dict[str, Any], code: str, field: str | None
) -> None:
    response = _post(Client(), body)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    if field:
        assert problem["field"] == field
    assert not TriageRecord.objects.exists()


def test_the_longest_allowed_text_is_accepted(hospital: TestHospital) -> None:
    assert _post(Client(), {"text": "头痛" + "a" * 1998}).status_code == 200


def test_openapi_describes_the_operation_as_public() -> None:
    schema = api.get_openapi_schema()
    operation = schema["paths"]["/api/triage/"]["post"]
    assert operation["summary"].startswith("Triage a complaint")
    assert "TriageOut" in json.dumps(operation["responses"])
