"""The triage pages: the portal conversation (with and without htmx) and the kiosk."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.triage.models import TriageRecord
from tests.factories import TestHospital, department
from tests.triage.conftest import (
    CALL_120_ZH,
    CARDIOLOGY_ZH,
    NEGATED_ZH,
    QUESTION_EN,
    UNCLEAR,
)

pytestmark = pytest.mark.django_db


def _status(response: Any) -> str:
    found = re.search(rb'data-testid="triage-exchange" data-status="(\w+)"', response.content)
    return found.group(1).decode() if found else ""


def _question(response: Any) -> str:
    found = re.search(rb'data-testid="triage-question" data-question="([^"]+)"', response.content)
    return found.group(1).decode() if found else ""


def _english() -> Client:
    return Client(headers={"accept-language": "en"})


def test_anonymous_sees_the_conversation_and_an_empty_form(hospital: TestHospital) -> None:
    events = AuditEvent.objects.count()
    response = Client().get("/triage/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="greeting"' in page
    assert 'name="text"' in page
    assert 'id="triage-age"' in page and 'name="age" value=""' in page
    assert AuditEvent.objects.count() == events


def test_signed_in_patient_gets_age_and_sex_from_their_record(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("patient"))
    response = client.get("/triage/")
    assert response.status_code == 200
    own = hospital.own_patient
    assert f'name="age" value="{own.age}"'.encode() in response.content
    assert b'<option value="female" selected>' in response.content
    # Read through the access helper: audited as a read of the patient's own record.
    event = AuditEvent.objects.get(patient_id=own.pk)
    assert (event.action, event.reason) == ("read", "triage")


def test_emergency_shows_the_alert_the_120_button_and_first_aid(hospital: TestHospital) -> None:
    response = Client().post("/triage/", {"text": CALL_120_ZH, "age": "60", "sex": "male"})
    assert response.status_code == 200
    assert _status(response) == "emergency"
    page = response.content.decode()
    assert 'data-testid="triage-emergency" data-action="call_120"' in page
    assert 'href="tel:120"' in page
    assert 'data-testid="red-flag"' in page
    assert 'data-testid="emergency-directions"' in page
    assert 'data-testid="department-card"' not in page  # no clinic booking in an emergency
    record = TriageRecord.objects.get()
    assert (record.status, record.action, record.channel) == ("emergency", "call_120", "portal")
    assert record.red_flags and record.user is None and record.patient is None
    assert record.suggested_departments[0] == "20"


def test_emergency_names_the_hospitals_emergency_department(hospital: TestHospital) -> None:
    emergency = department(hospital.hospital, "20")
    emergency.location = "急诊楼一层"
    emergency.save()
    response = Client().post("/triage/", {"text": CALL_120_ZH, "age": "60", "sex": "male"})
    directions = re.search(rb'data-testid="emergency-directions">(.*?)</p>', response.content, re.DOTALL)
    assert directions is not None
    assert "急诊楼一层" in directions.group(1).decode()


def test_a_follow_up_question_carries_the_complaint_and_each_answer(hospital: TestHospital) -> None:
    client = _english()
    form = {"text": QUESTION_EN, "age": "30", "sex": "female"}
    response = client.post("/triage/", form)
    assert response.status_code == 200
    assert _status(response) == "question"
    key = _question(response)
    assert key
    page = response.content.decode()
    for answer in ("yes", "no", "unsure"):
        assert f'name="reply" value="{key}:{answer}"' in page
    assert f'<input type="hidden" name="text" value="{QUESTION_EN}">' in page
    record = TriageRecord.objects.get()
    assert (record.status, record.question, record.answers) == ("question", key, {})

    # "No": the answer goes back with the complaint; the conversation shows question and reply.
    response = client.post("/triage/", {**form, "reply": f"{key}:no"})
    assert response.status_code == 200
    assert _status(response) in ("question", "departments")
    page = response.content.decode()
    assert 'data-testid="asked-question"' in page and 'data-testid="user-reply"' in page
    latest = TriageRecord.objects.latest("pk")
    assert latest.answers == {key: False}
    if _status(response) == "question":
        assert _question(response) != key
        assert f'<input type="hidden" name="answer_{key}" value="no">' in page


def test_not_sure_never_asks_the_same_question_again(hospital: TestHospital) -> None:
    client = _english()
    form = {"text": QUESTION_EN, "age": "30", "sex": "female"}
    key = _question(client.post("/triage/", form))
    response = client.post("/triage/", {**form, "reply": f"{key}:unsure"})
    assert response.status_code == 200
    assert _question(response) != key
    record = TriageRecord.objects.latest("pk")
    assert record.answers == {key: None}
    assert record.question != key


def test_departments_show_cards_with_reasons_and_booking_links(hospital: TestHospital) -> None:
    response = Client().post("/triage/", {"text": CARDIOLOGY_ZH, "age": "55", "sex": "male"})
    assert response.status_code == 200
    assert _status(response) == "departments"
    record = TriageRecord.objects.get()
    assert record.suggested_departments[0] == "03.04"
    page = response.content.decode()
    cards = re.findall(r'data-testid="department-card" data-code="([^"]+)"', page)
    assert cards == record.suggested_departments[:3]
    assert f'href="/triage/{record.pk}/book/03.04/"' in page
    assert hospital.cardiology.name_zh in page and hospital.cardiology.name_en in page
    assert 'data-testid="why"' in page
    # Departments this hospital does not have: no booking link, ask at the front desk.
    missing = [code for code in cards if code not in ("03.04", "03.03")]
    assert page.count('data-testid="no-clinic"') == len(missing)
    assert record.findings and not record.negated


def test_negated_findings_are_shown_as_not_present(hospital: TestHospital) -> None:
    response = _english().post("/triage/", {"text": NEGATED_ZH, "age": "30"})
    assert response.status_code == 200
    negated = re.search(rb'data-testid="negated">(.*?)</p>', response.content)
    assert negated is not None
    assert b"Not present" in negated.group(1)
    assert b"Fever" in negated.group(1)
    assert "symptom:fever" in TriageRecord.objects.get().negated


def test_unclear_asks_for_more_and_offers_general_practice(hospital: TestHospital) -> None:
    response = Client().post("/triage/", {"text": UNCLEAR})
    assert _status(response) == "unclear"
    assert b'data-testid="triage-unclear"' in response.content
    assert b"book-general-practice" not in response.content  # the hospital has no general practice
    department(hospital.hospital, "02")
    response = Client().post("/triage/", {"text": UNCLEAR})
    assert b'href="/booking/department/02/" data-testid="book-general-practice"' in response.content


def test_htmx_gets_only_the_new_exchange_and_the_updated_context(hospital: TestHospital) -> None:
    client = Client(headers={"HX-Request": "true"})
    response = client.post("/triage/", {"text": "头痛"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    assert page.count('data-testid="user-message"') == 1
    assert 'id="triage-earlier" value="头痛" hx-swap-oob="true"' in page
    # A second message adds to the first one.
    client.post("/triage/", {"text": "发烧三天", "earlier": "头痛"})
    assert TriageRecord.objects.latest("pk").text == "头痛，发烧三天"


def test_htmx_errors_are_shown_in_the_conversation(hospital: TestHospital) -> None:
    response = Client(headers={"HX-Request": "true"}).post("/triage/", {"text": "  "})
    assert response.status_code == 200  # htmx swaps only successful responses
    assert b'data-error-code="TRIAGE-001"' in response.content
    assert response["X-Triage-Error"] == "TRIAGE-001"
    assert not TriageRecord.objects.exists()


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"text": ""}, "TRIAGE-001"),
        ({"text": "头" * 2001}, "TRIAGE-002"),
        ({"text": "头痛", "age": "121"}, "TRIAGE-003"),
        ({"text": "头痛", "age": "ten"}, "TRIAGE-003"),
        ({"text": "头痛", "sex": "other"}, "TRIAGE-004"),
        ({"text": "头痛", "answer_no_such_question": "yes"}, "TRIAGE-005"),
    ],
)
def test_bad_input_shows_the_coded_error_and_writes_nothing(
    hospital: TestHospital, form: dict[str, str], code: str
) -> None:
    response = Client().post("/triage/", form)
    assert response.status_code == 400
    assert f'data-error-code="{code}"'.encode() in response.content
    assert not TriageRecord.objects.exists()


def test_front_desk_triage_is_recorded_as_the_desk(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("frontdesk"))
    client.post("/triage/", {"text": CARDIOLOGY_ZH})
    record = TriageRecord.objects.get()
    assert (record.channel, record.user, record.patient) == ("desk", hospital.user("frontdesk"), None)


# --- The kiosk ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [(None, 302), ("device", 200), ("frontdesk", 200), ("patient", 403), ("doctor", 403)],
)
def test_kiosk_needs_the_kiosk_capability(hospital: TestHospital, name: str | None, status: int) -> None:
    client = Client()
    if name:
        client.force_login(hospital.user(name))
    response = client.get("/triage/kiosk/")
    assert response.status_code == status
    if status == 200:
        assert re.search(rb'<body class="[^"]*\belderly kiosk\b', response.content)
        assert b'data-testid="area-chest"' in response.content


def test_kiosk_shortcut_and_cards_say_where_to_go(hospital: TestHospital) -> None:
    hospital.cardiology.location = "门诊楼三层A区"
    hospital.cardiology.save()
    client = Client()
    client.force_login(hospital.user("device"))
    response = client.post("/triage/kiosk/", {"text": "", "area": "chest"})
    assert response.status_code == 200
    record = TriageRecord.objects.get()
    assert record.channel == "kiosk"
    assert record.text  # the shortcut's words
    # Typed words and a shortcut together.
    response = client.post("/triage/kiosk/", {"text": CARDIOLOGY_ZH})
    assert _status(response) == "departments"
    page = response.content.decode()
    assert 'data-testid="department-location"' in page and "门诊楼三层A区" in page
    assert "kiosk-book-department" not in page  # nobody identified at the kiosk: book at the desk
    # An emergency at the kiosk: the staff are told at once.
    response = client.post("/triage/kiosk/", {"text": CALL_120_ZH, "age": "60"})
    assert _status(response) == "emergency"
    assert b'data-testid="tell-staff"' in response.content


def test_the_shared_kiosk_never_carries_a_patient_from_an_earlier_scan(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("frontdesk"))
    session = client.session
    session["kiosk_patient"] = hospital.patient_in_care.pk  # someone scanned their code earlier
    session.save()
    response = client.post("/triage/kiosk/", {"text": CARDIOLOGY_ZH})
    record = TriageRecord.objects.get()
    assert f"/triage/{record.pk}/book/".encode() not in response.content
    assert f"patient={hospital.patient_in_care.pk}".encode() not in response.content
    assert hospital.patient_in_care.name.encode() not in response.content
    assert record.patient_id is None
