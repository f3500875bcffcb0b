"""Satisfaction surveys after each visit and discharge, and the satisfaction indicator (target 90%)
for a period and a department."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.core.errors import NotFound, PermissionDenied
from smartcare.emr import services as emr
from smartcare.followup import selectors, services
from smartcare.followup.errors import InvalidAnswers, SurveyClosed
from smartcare.followup.models import QuestionnaireResponse, SurveyInvitation
from tests.factories import TestHospital

ALL_SATISFIED = {
    "overall": "4",
    "registration": "4",
    "waiting": "4",
    "doctor": "5",
    "staff": "4",
    "environment": "4",
    "recommend": "yes",
}
UNHAPPY = {
    "overall": "2",
    "registration": "3",
    "waiting": "1",
    "doctor": "3",
    "staff": "3",
    "environment": "4",
    "recommend": "no",
    "problems": ["waiting", "cost"],
}


def visit(h: TestHospital, patient: Any = None) -> SurveyInvitation:
    doctor = h.user("doctor")
    encounter = emr.open_encounter(doctor, patient_id=(patient or h.own_patient).pk)
    emr.finish_encounter(doctor, encounter.pk)
    return SurveyInvitation.objects.get(encounter=encounter)


def test_a_finished_visit_sends_the_outpatient_survey_once(h: TestHospital) -> None:
    invitation = visit(h)
    assert invitation.questionnaire.key == "outpatient_satisfaction" and invitation.occasion == "visit"
    assert invitation.department == h.cardiology and invitation.is_open()
    note = h.user("patient").notifications.get(category="followup_survey")
    assert note.link == f"/followup/me/surveys/{invitation.pk}/"
    assert services.invite_to_survey(invitation.encounter) is None
    assert SurveyInvitation.objects.count() == 1


def test_a_cancelled_visit_sends_none(h: TestHospital) -> None:
    encounter = emr.open_encounter(h.user("doctor"), patient_id=h.own_patient.pk)
    emr.cancel_encounter(h.user("doctor"), encounter.pk, "opened by mistake")
    assert not SurveyInvitation.objects.exists()


def test_satisfied_answers_and_the_conditional_question(h: TestHospital) -> None:
    invitation = visit(h)
    # "What disappointed you?" appears only for an overall rating of 3 or less: here it is discarded.
    response = services.answer_survey(
        h.user("patient"), invitation.pk, {**ALL_SATISFIED, "problems": ["cost"]}
    )
    assert "problems" not in response.answers
    assert response.score_percent == Decimal("83.3") and response.satisfied is True
    assert response.department == h.cardiology
    invitation.refresh_from_db()
    assert invitation.status == "answered" and invitation.answered_at is not None
    with pytest.raises(SurveyClosed) as raised:
        services.answer_survey(h.user("patient"), invitation.pk, ALL_SATISFIED)
    assert raised.value.code == "FU-006"


def test_an_unhappy_patient_must_say_what_went_wrong(h: TestHospital) -> None:
    invitation = visit(h)
    without = {k: v for k, v in UNHAPPY.items() if k != "problems"}
    with pytest.raises(InvalidAnswers) as raised:
        services.answer_survey(h.user("patient"), invitation.pk, without)
    assert list(raised.value.errors) == ["problems"]
    assert not QuestionnaireResponse.objects.exists()
    assert SurveyInvitation.objects.get(pk=invitation.pk).status == "sent"
    response = services.answer_survey(h.user("patient"), invitation.pk, UNHAPPY)
    assert response.satisfied is False and response.answers["problems"] == ["waiting", "cost"]


def test_only_the_patient_answers_their_survey(h: TestHospital) -> None:
    invitation = visit(h)
    with pytest.raises(PermissionDenied):
        services.answer_survey(h.user("nurse"), invitation.pk, ALL_SATISFIED)
    with pytest.raises(NotFound):
        services.answer_survey(h.user("other_patient_user"), invitation.pk, ALL_SATISFIED)
    with pytest.raises(NotFound):
        services.answer_survey(h.user("patient"), 10**9, ALL_SATISFIED)
    assert not QuestionnaireResponse.objects.exists()


def test_an_expired_survey_is_closed(h: TestHospital) -> None:
    invitation = visit(h)
    with clock.frozen_at(invitation.expires_at + dt.timedelta(minutes=1)), pytest.raises(SurveyClosed):
        services.answer_survey(h.user("patient"), invitation.pk, ALL_SATISFIED)


def test_the_inpatient_survey_skips_pain_care_for_patients_without_pain(h: TestHospital) -> None:
    from tests.followup.helpers import discharge_after

    discharge_after(h, None, patient=h.own_patient)
    invitation = SurveyInvitation.objects.get(patient=h.own_patient)
    answers = {
        "overall": "5",
        "admission": "5",
        "doctors": "5",
        "nurses": "4",
        "had_pain": "no",
        "discharge_info": "5",
        "ward": "4",
        "recommend": "yes",
    }
    response = services.answer_survey(h.user("patient"), invitation.pk, answers)
    assert response.max_score == Decimal(30) and response.score == Decimal(28)
    assert response.satisfied is True


# --- The indicator ----------------------------------------------------------------------------------


def _answer(h: TestHospital, answers: dict[str, Any], department: Any, when: dt.datetime) -> None:
    invitation = visit(h)
    with clock.frozen_at(when):
        SurveyInvitation.objects.filter(pk=invitation.pk).update(
            department=department, sent_at=when, expires_at=when + dt.timedelta(days=14)
        )
        services.answer_survey(h.user("patient"), invitation.pk, answers)


def test_the_indicator_for_a_period_and_a_department(h: TestHospital) -> None:
    now = clock.now()
    today = clock.today()
    for _ in range(9):
        _answer(h, ALL_SATISFIED, h.cardiology, now)
    _answer(h, UNHAPPY, h.cardiology, now)
    _answer(h, UNHAPPY, h.neurology, now)
    _answer(h, UNHAPPY, h.cardiology, now - dt.timedelta(days=40))  # outside the period
    visit(h)  # sent, not answered
    cardiology = selectors.satisfaction_indicator(today - dt.timedelta(days=6), today, h.cardiology)
    assert (cardiology.responses, cardiology.satisfied) == (10, 9)
    assert cardiology.rate == Decimal("0.9000") and cardiology.target == Decimal("0.90")
    assert cardiology.met is True and cardiology.rate_percent == Decimal("90.0")
    hospital = selectors.satisfaction_indicator(today - dt.timedelta(days=6), today)
    assert (hospital.responses, hospital.satisfied) == (11, 9)
    assert hospital.met is False
    assert hospital.invited == 12 and hospital.response_rate == Decimal("0.9167")
    neurology = selectors.satisfaction_indicator(today, today, h.neurology.pk)
    assert neurology.rate == Decimal(0) and neurology.met is False
    empty = selectors.satisfaction_indicator(today + dt.timedelta(days=1), today + dt.timedelta(days=2))
    assert empty.rate is None and empty.met is None
    assert empty.as_dict()["rate"] is None and cardiology.as_dict()["rate"] == 0.9
    # Reversed dates are read as the same period.
    assert selectors.satisfaction_indicator(today, today - dt.timedelta(days=6), h.cardiology).responses == 10


def test_the_target_is_a_setting(h: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_SATISFACTION_TARGET_PERCENT = 95
    _answer(h, ALL_SATISFIED, h.cardiology, clock.now())
    indicator = selectors.satisfaction_indicator(clock.today(), clock.today())
    assert indicator.target == Decimal("0.95") and indicator.met is True


def test_months_and_departments(h: TestHospital) -> None:
    _answer(h, ALL_SATISFIED, h.cardiology, clock.now())
    months = selectors.satisfaction_by_month(3)
    assert len(months) == 3 and months[-1].responses == 1 and months[-1].end == clock.today()
    assert [d.pk for d, _i in selectors.satisfaction_by_department(clock.today(), clock.today())] == [
        h.cardiology.pk
    ]


def test_a_patient_without_an_account_is_surveyed_by_an_sms_link(h: TestHospital, settings: Any) -> None:
    from django.test import Client

    from smartcare.audit.models import AuditEvent
    from smartcare.notifications.models import Delivery

    settings.SMARTCARE_PUBLIC_URL = "https://hospital.example"
    patient = h.patient_in_care  # no portal account, a phone number
    invitation = visit(h, patient)
    delivery = Delivery.objects.get(notification__category="followup_survey")
    assert delivery.channel == "sms" and delivery.address == patient.phone
    assert delivery.notification.recipient is None  # no inbox
    import re

    found = re.search(r"https://hospital\.example/followup/s/([^/\s]+)/", delivery.notification.body)
    assert found is not None, delivery.notification.body
    token = found.group(1)
    assert services.invitation_for_link(token) == invitation

    client = Client()  # nobody signed in
    page = client.get(f"/followup/s/{token}/")
    assert page.status_code == 200 and "survey-form" in page.content.decode()
    assert patient.name not in page.content.decode()  # the page names no patient
    bad = client.post(f"/followup/s/{token}/", {"q_overall": "4"})
    assert bad.status_code == 400 and not QuestionnaireResponse.objects.exists()
    done = client.post(f"/followup/s/{token}/", {f"q_{k}": v for k, v in ALL_SATISFIED.items()})
    assert done.status_code == 200 and "survey-thanks" in done.content.decode()
    response = QuestionnaireResponse.objects.get(invitation=invitation)
    assert response.satisfied is True and response.submitted_by is None
    assert AuditEvent.objects.filter(
        object_type="followup.QuestionnaireResponse", actor_username="survey-link"
    ).exists()
    # Answered: the link shows it is closed and takes no second answer.
    again = client.post(f"/followup/s/{token}/", {f"q_{k}": v for k, v in ALL_SATISFIED.items()})
    assert again.status_code == 409 and QuestionnaireResponse.objects.count() == 1
    # A link not signed here, or for another invitation id, opens nothing.
    assert client.get("/followup/s/forged-link/").status_code == 404
    with pytest.raises(NotFound):
        services.invitation_for_link(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_a_patient_with_neither_account_nor_phone_is_not_surveyed(h: TestHospital) -> None:
    from smartcare.patients.models import Patient

    Patient.objects.filter(pk=h.patient_in_care.pk).update(phone="")
    h.patient_in_care.refresh_from_db()
    doctor = h.user("doctor")
    encounter = emr.open_encounter(doctor, patient_id=h.patient_in_care.pk)
    emr.finish_encounter(doctor, encounter.pk)
    assert not SurveyInvitation.objects.filter(encounter=encounter).exists()
