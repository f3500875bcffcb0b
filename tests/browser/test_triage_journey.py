"""The smart triage journey (智能导诊) in a real browser against pytest-django's live server.

A signed-in patient who does not know which department to book opens triage from their home page,
describes the problem in Chinese, answers the follow-up questions if any are asked, and books the
suggested department: the answer is appended to the conversation by htmx without a reload, and the
booking link records the choice on the triage record. A second, short journey in English ends in
the emergency alert with the 120 button, with JavaScript and without it.

The engine is the real one on the shipped knowledge graph. The world is made to fit its answer:
the test asks the engine first (same text, age, sex and "yes" to every question) which department
it will suggest, and gives the hospital that department with a clinic session tomorrow morning.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import CJK, assert_en_text, sign_in

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
COMPLAINT_ZH = "心慌，胸闷，走路快了就喘"
EMERGENCY_EN = "Sudden weakness on one side of my face and my speech is slurred"
MAX_QUESTIONS = 5
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture()
def triage_world(hospital: Any) -> Any:
    """The browser tests' hospital (committed for the live server) with the knowledge graph."""
    from smartcare.knowledge.seed import ensure_seed
    from smartcare.triage.engine import get_engine

    ensure_seed()  # the flush after transactional tests empties the graph too
    get_engine()  # build the engine for this graph before the page waits on it
    return hospital


def expected_answer(text: str, age: int, sex: str) -> tuple[Any, list[str]]:
    """What the engine ends with when every follow-up question is answered "yes"."""
    from smartcare.triage.engine import triage
    from smartcare.triage.types import TriageRequest

    answers: dict[str, bool] = {}
    for _ in range(MAX_QUESTIONS + 1):
        result = triage(TriageRequest(text=text, age=age, sex=sex, answers=dict(answers)))
        if result.status != "question":
            return result, list(answers)
        answers[result.question.key] = True
    pytest.fail(f"the engine asked more than {MAX_QUESTIONS} questions for {text!r}")


def clinic_tomorrow(hospital: Any, code: str) -> Any:
    """The hospital's department ``code`` (added when missing) with a doctor's morning session
    tomorrow, already released for booking: 09:00-11:00 in 30-minute slots of two places."""
    from smartcare.accounts.choices import Role
    from smartcare.core import clock
    from smartcare.organization.models import Department
    from smartcare.scheduling.choices import Period
    from smartcare.scheduling.models import ReleaseRule, ScheduleTemplate
    from smartcare.scheduling.services import build_session
    from tests.factories import department, staff

    dept = Department.objects.filter(national_code_id=code).first() or department(hospital.hospital, code)
    doctor = staff(f"doctor-{code}", Role.DOCTOR, dept)
    ReleaseRule.objects.create(department=dept, days_ahead=7, release_time=dt.time(8, 0))
    tomorrow = clock.today() + dt.timedelta(days=1)
    template = ScheduleTemplate.objects.create(
        department=dept,
        practitioner=doctor.practitioner,
        weekday=tomorrow.weekday(),
        period=Period.MORNING,
        start_time=dt.time(9, 0),
        end_time=dt.time(11, 0),
        slot_minutes=30,
        capacity_per_slot=2,
        is_active=False,  # only this session
    )
    session = build_session(template, tomorrow)
    assert session is not None and session.is_open
    return session


def _exchanges(page: Any) -> Any:
    return page.locator("[data-testid=triage-exchange]")


@pytest.mark.browser
def test_patient_describes_symptoms_in_chinese_and_books_the_suggested_department(
    triage_world: Any, new_context: Any
) -> None:
    from smartcare.scheduling.choices import AppointmentStatus, Channel
    from smartcare.scheduling.models import Appointment
    from smartcare.triage.models import TriageRecord

    hospital = triage_world
    patient = hospital.own_patient
    result, asked = expected_answer(COMPLAINT_ZH, patient.age, patient.sex)
    assert result.status == "departments", result.status
    code = result.departments[0].code
    session = clinic_tomorrow(hospital, code)

    page = new_context("zh-hans", **PHONE).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, "patient")
    promo = page.locator("[data-testid=triage-promo-link]")
    expect(promo).to_be_visible()
    promo.tap()
    expect(page).to_have_url(re.compile(r"/triage/$"))
    # Age and sex come from the patient's own record.
    expect(page.locator("[data-testid=triage-age]")).to_have_value(str(patient.age))
    expect(page.locator("[data-testid=triage-sex]")).to_have_value(patient.sex)
    page.evaluate("window.__triageMarker = 'same page'")

    page.locator("[data-testid=triage-text]").fill(COMPLAINT_ZH)
    page.locator("[data-testid=triage-send]").tap()
    expect(_exchanges(page)).to_have_count(1)
    expect(page.locator("[data-testid=user-message]").first).to_have_text(COMPLAINT_ZH)
    expect(page.locator("[data-testid=triage-text]")).to_have_value("")  # ready for more

    # Follow-up questions, if the engine asks: "是" (yes) to each, as the engine was asked above.
    for number, key in enumerate(asked, start=1):
        last = _exchanges(page).last
        expect(last).to_have_attribute("data-status", "question")
        expect(last.locator("[data-testid=triage-question]")).to_have_attribute("data-question", key)
        last.locator("[data-testid=answer-yes]").tap()
        expect(_exchanges(page)).to_have_count(number + 1)
        expect(last.locator("[data-testid=answer-yes]")).to_be_disabled()  # answered once

    answer = _exchanges(page).last
    expect(answer).to_have_attribute("data-status", "departments")
    cards = answer.locator("[data-testid=department-card]")
    expect(cards).to_have_count(len(result.departments[:3]))
    card = answer.locator(f"[data-testid=department-card][data-code='{code}']")
    expect(card.locator("[data-testid=department-name]")).to_have_text(result.departments[0].name_zh)
    assert page.evaluate("window.__triageMarker") == "same page", "the page reloaded"
    assert page.evaluate(NO_HORIZONTAL_SCROLL)

    record = TriageRecord.objects.latest("pk")
    assert record.patient_id == patient.pk
    assert record.suggested_departments[0] == code
    assert record.answers == dict.fromkeys(asked, True)

    # Book it: the department's page, tomorrow's session, the first free slot, confirm.
    card.locator("[data-testid=book-department]").tap()
    expect(page).to_have_url(re.compile(rf"/booking/department/{re.escape(code)}/$"))
    record.refresh_from_db()
    assert record.chosen_department == code
    link = page.locator(f"[data-testid=sessions-{session.date:%Y%m%d}] [data-testid=session-link]")
    expect(link).to_have_count(1)
    link.tap()
    slots = page.locator("[data-testid=slot]")
    expect(slots.first).to_be_visible()
    slots.first.tap()
    page.locator("[data-testid=confirm-booking]").tap()
    confirmed = page.locator("[data-testid=booking-confirmed]")
    expect(confirmed).to_be_visible()
    expect(confirmed).to_contain_text(patient.name)

    appointment = Appointment.objects.get(patient=patient)
    assert appointment.session_id == session.pk
    assert appointment.department.code == code
    assert (appointment.status, appointment.channel) == (AppointmentStatus.BOOKED, Channel.PORTAL)
    assert not errors, f"JavaScript errors: {errors}"


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-javascript"])
def test_english_emergency_ends_in_the_alert_with_the_120_button(
    triage_world: Any, new_context: Any, javascript: bool
) -> None:
    from smartcare.triage.models import TriageRecord

    page = new_context("en", java_script_enabled=javascript, **PHONE).new_page()
    page.goto("/triage/")
    page.locator("[data-testid=triage-text]").fill(EMERGENCY_EN)
    if javascript:
        page.locator("[data-testid=triage-about] summary").tap()
        page.locator("[data-testid=triage-age]").fill("70")
    page.locator("[data-testid=triage-send]").tap()

    alert = page.locator("[data-testid=triage-emergency]")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("data-action", "call_120")
    call = alert.locator("[data-testid=call-120]")
    expect(call).to_have_attribute("href", "tel:120")
    assert_en_text(alert.locator("h2").inner_text())
    assert not CJK.search(alert.locator("[data-testid=red-flag]").first.inner_text())
    expect(page.locator("[data-testid=department-card]")).to_have_count(0)
    record = TriageRecord.objects.get()
    assert (record.status, record.action, record.language) == ("emergency", "call_120", "en")
    assert record.age == (70 if javascript else None)
    # Without JavaScript the page was posted and rendered again, still showing the complaint.
    expect(page.locator("[data-testid=user-message]")).to_have_text(EMERGENCY_EN)
