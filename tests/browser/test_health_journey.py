"""Health management journey in a real browser against pytest-django's live server.

A patient on a phone opens "My health risks": their heart risk in plain words with an icon array,
their advice; they switch to elderly mode, report that they followed one piece of advice today.
Their doctor opens the programme list, sees that the patient follows, opens the patient's risks
with the drivers and the patient's last report.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import open_phone_menu, sign_in, toggle_elderly_mode

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture()
def health_world(hospital: Any) -> Any:
    from django.test import Client

    from smartcare.followup.seed import ensure_followup_content
    from smartcare.health import services
    from smartcare.health.models import Programme
    from smartcare.health.seed import ensure_programmes
    from tests.health.helpers import fill_record

    ensure_followup_content()  # the flush after transactional tests empties them
    ensure_programmes()
    h = hospital
    fill_record(h, h.own_patient)
    services.enrol(h.user("doctor"), Programme.objects.get(key="cardiovascular-risk").pk, h.own_patient.pk)
    # The first request of a process imports what the pages use lazily (scikit-learn): do it here,
    # not inside the browser's 15-second page timeout.
    Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/")
    return h


@pytest.mark.browser
def test_patient_sees_risk_and_advice_reports_adherence_and_the_doctor_sees_it(
    health_world: Any, new_context: Any
) -> None:
    from smartcare.health.models import AdherenceReport, RiskAssessment

    h = health_world
    pce = RiskAssessment.objects.filter(patient=h.own_patient, model="pce").latest("computed_at")
    n = round(pce.risk * 100)

    page = new_context("en", **PHONE).new_page()
    sign_in(page, "patient")
    page.goto("/health/me/")
    expect(page.locator("[data-testid=my-health-title]")).to_have_text("My health risks")
    card = page.locator("[data-testid=my-risk][data-model=pce]")
    expect(card.locator("[data-testid=risk-sentence]")).to_contain_text(f"About {n} in 100 people like you")
    expect(card.locator("[data-testid=icon-array] g.on")).to_have_count(n)
    advice = page.locator("[data-testid=advice][data-rule=stop-smoking]")
    expect(advice).to_contain_text("Stop smoking")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)

    open_phone_menu(page)  # on a phone the switch is in the menu
    toggle_elderly_mode(page)
    expect(page.locator("body")).to_contain_class("elderly")
    page.goto("/health/me/")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.locator("[data-testid=advice][data-rule=stop-smoking] [data-testid=report-followed]").click()
    expect(page.locator(".alert-success")).to_contain_text("Thank you")
    expect(
        page.locator("[data-testid=advice][data-rule=stop-smoking] [data-testid=reported-today]")
    ).to_be_visible()
    report = AdherenceReport.objects.get(advice__rule="stop-smoking", patient=h.own_patient)
    assert report.level == "followed" and report.reported_by == h.user("patient")

    doctor = new_context("en").new_page()
    sign_in(doctor, "doctor")
    doctor.goto("/health/")
    row = doctor.locator("[data-testid=follower]", has_text=h.own_patient.name)
    expect(row).to_have_attribute("data-status", "following")
    row.get_by_role("link").click()
    expect(doctor.locator("[data-testid=risk-card][data-model=pce] [data-testid=drivers]")).to_contain_text(
        "Smoking"
    )
    expect(doctor.locator("[data-testid=patient-advice]")).to_contain_text("I followed it")
