"""Follow-up journeys in a real browser against pytest-django's live server.

1. After a visit, a patient on a phone opens "My follow-up", starts the satisfaction survey, rates
   the visit low so that the conditional "what disappointed you?" question appears, sends without
   answering it (the coded error shows, nothing is saved), answers it and sends again.
2. A follow-up nurse opens her worklist, finds the overdue call, records that she reached the
   patient and that the doctor should look at it; the task is done and the doctor is told.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture()
def followup_world(hospital: Any) -> Any:
    from django.test import Client

    from smartcare.followup.seed import ensure_followup_content

    ensure_followup_content()  # the flush after transactional tests empties it
    # The first request of a process imports what the pages use lazily (the triage model pulls in
    # scikit-learn): do it here, not inside the browser's 15-second page timeout.
    Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/")
    return hospital


@pytest.mark.browser
def test_patient_answers_the_satisfaction_survey_on_a_phone(followup_world: Any, new_context: Any) -> None:
    from smartcare.core import clock
    from smartcare.followup.models import Questionnaire, QuestionnaireResponse, SurveyInvitation

    h = followup_world
    invitation = SurveyInvitation.objects.create(
        questionnaire=Questionnaire.objects.get(key="outpatient_satisfaction"),
        patient=h.own_patient,
        department=h.cardiology,
        occasion="visit",
        expires_at=clock.now() + dt.timedelta(days=14),
    )
    page = new_context("en", **PHONE).new_page()
    sign_in(page, "patient")
    page.goto("/followup/me/")
    expect(page.locator("[data-testid=my-followup-title]")).to_have_text("My follow-up")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.click("[data-testid=fill-survey]")
    expect(page.locator("[data-testid=survey-title]")).to_have_text("Outpatient satisfaction survey")
    problems = page.locator("[data-testid=question-problems]")
    expect(problems).to_be_hidden()

    page.click("label[for=q_overall_2]")
    expect(problems).to_be_visible()  # shown at once, without a reload
    for key, label in (
        ("registration", "Neutral"),
        ("waiting", "Very dissatisfied"),
        ("doctor", "Satisfied"),
        ("staff", "Neutral"),
        ("environment", "Satisfied"),
        ("recommend", "Not sure"),
    ):
        page.locator(f"[data-testid=question-{key}]").get_by_text(label, exact=True).click()
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.click("[data-testid=submit-survey]")

    expect(page.locator(".alert-danger")).to_contain_text("FU-005")
    expect(page.locator("[data-testid=question-problems] [data-testid=answer-error]")).to_be_visible()
    assert not QuestionnaireResponse.objects.exists()
    # What was answered is still there.
    expect(page.locator("#q_overall_2")).to_be_checked()

    problems.get_by_text("Long waits", exact=True).click()
    page.fill("textarea[name=q_comment]", "The wait for the blood test was long.")
    page.click("[data-testid=submit-survey]")

    expect(page.locator(".alert-success")).to_contain_text("Thank you for your feedback.")
    expect(page.locator("[data-testid=open-survey]")).to_have_count(0)
    response = QuestionnaireResponse.objects.get(invitation=invitation)
    assert response.satisfied is False
    assert response.answers["problems"] == ["waiting"]
    assert response.answers["comment"] == "The wait for the blood test was long."
    assert SurveyInvitation.objects.get(pk=invitation.pk).status == "answered"


@pytest.mark.browser
def test_nurse_records_a_phone_follow_up_from_her_worklist(followup_world: Any, new_context: Any) -> None:
    from smartcare.core import clock
    from smartcare.followup import services
    from smartcare.followup.models import CarePlanTemplate, CareTask, PhoneFollowUp
    from smartcare.notifications.models import Notification

    h = followup_world
    nurse = h.user("nurse")
    template = CarePlanTemplate.objects.get(key="post-op-general")
    services.start_plan(
        nurse,
        patient_id=h.patient_in_care.pk,
        template_id=template.pk,
        start_date=clock.today() - dt.timedelta(days=3),
        doctor_id=h.user("doctor").pk,
    )
    call = CareTask.objects.get(
        patient=h.patient_in_care, kind="phone_call", due_on=clock.today() - dt.timedelta(days=1)
    )

    page = new_context("zh-hans").new_page()
    sign_in(page, "nurse")
    page.goto("/followup/")
    row = page.locator("[data-testid=worklist-task]", has_text=call.title_zh)
    expect(row).to_be_visible()
    expect(row.locator("[data-testid=task-status]")).to_have_text(_zh("Overdue"))
    row.click()
    expect(page.locator("[data-testid=task-title]")).to_have_text(call.title_zh)
    page.select_option("#outcome", "reached")
    page.fill("#notes", "体温 37.8℃，伤口少量渗液，已嘱明日门诊换药。")
    page.fill("#duration", "6")
    page.check("#needs_doctor")
    page.click("[data-testid=record-call]")

    expect(page.locator("[data-testid=task-done]")).to_be_visible()
    expect(page.locator("[data-testid=calls] li")).to_have_count(1)
    recorded = PhoneFollowUp.objects.get(task=call)
    assert recorded.called_by == nurse and recorded.needs_doctor and recorded.duration_minutes == 6
    assert CareTask.objects.get(pk=call.pk).status == "done"
    assert Notification.objects.filter(recipient=h.user("doctor"), category="followup_attention").exists()
    page.goto("/followup/")
    expect(page.locator("[data-testid=worklist-task]", has_text=call.title_zh)).to_have_count(0)


def _zh(text: str) -> str:
    """The page's text in the zh-Hans interface (the English text until the catalog has it)."""
    from django.utils import translation

    with translation.override("zh-hans"):
        return translation.gettext(text)
