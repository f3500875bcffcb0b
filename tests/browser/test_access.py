"""Sign-in errors, patient-level access and break-the-glass as a user sees them."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in
from tests.factories import PASSWORD


@pytest.mark.browser
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_wrong_password_shows_the_coded_error(
    language: str, hospital: Any, live_server: Any, new_context: Any
) -> None:
    page = new_context(language).new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", "doctor")
    page.fill("#id_password", PASSWORD + "-wrong")
    page.click("[data-testid=login-submit]")

    error = page.locator("[data-testid=login-error]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("ACCT-010")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    assert page.get_attribute("html", "lang") == language
    expect(page.locator("#id_username")).to_have_value("doctor")
    expect(page.locator("[data-testid=logout]")).to_have_count(0)

    # The right password still works afterwards.
    sign_in(page, "doctor")


@pytest.mark.browser
def test_other_departments_patient_is_not_found(hospital: Any, new_context: Any) -> None:
    page = new_context("en").new_page()
    sign_in(page, "doctor")  # cardiology

    elsewhere = page.goto(f"/patients/{hospital.patient_elsewhere.pk}/")  # neurology's patient
    assert elsewhere is not None
    assert elsewhere.status == 404
    expect(page.locator("[data-error-code=CORE-404]")).to_be_visible()
    assert hospital.patient_elsewhere.name not in page.content()

    # "Not allowed" looks exactly like "does not exist".
    missing = page.goto("/patients/987654321/")
    assert missing is not None
    assert missing.status == 404
    expect(page.locator("[data-error-code=CORE-404]")).to_be_visible()

    # The doctor's own department's patient opens.
    own = page.goto(f"/patients/{hospital.patient_in_care.pk}/")
    assert own is not None
    assert own.status == 200
    expect(page.locator("[data-testid=patient-name]")).to_contain_text(hospital.patient_in_care.name)


@pytest.mark.browser
def test_break_the_glass_opens_the_patient(hospital: Any, live_server: Any, new_context: Any) -> None:
    patient = hospital.patient_elsewhere
    page = new_context("zh-hans").new_page()
    sign_in(page, "doctor")
    page.goto("/patients/break-glass/")

    # A reason shorter than 15 characters is refused.
    page.fill("#code", patient.one_code)
    page.fill("#id_reason", "急诊")
    page.click("[data-testid=break-glass-submit]")
    expect(page.locator("[data-testid=error-reason]")).to_be_visible()
    expect(page.locator("[data-testid=patient-name]")).to_have_count(0)

    page.fill("#code", patient.one_code)
    page.fill("#id_reason", "Unconscious patient in the emergency room, needs history now")
    page.click("[data-testid=break-glass-submit]")

    expect(page).to_have_url(f"{live_server.url}/patients/{patient.pk}/")
    expect(page.locator("[data-testid=patient-name]")).to_contain_text(patient.name)
    expect(page.locator(".alert-warning")).to_be_visible()  # "recorded and will be reviewed"

    # The grant lasts: the record opens again directly.
    again = page.goto(f"/patients/{patient.pk}/")
    assert again is not None
    assert again.status == 200


@pytest.mark.browser
def test_break_the_glass_with_an_unknown_code(hospital: Any, new_context: Any) -> None:
    page = new_context("en").new_page()
    sign_in(page, "doctor")
    page.goto("/patients/break-glass/")
    page.fill("#code", "NO-SUCH-CODE")
    page.fill("#id_reason", "Unconscious patient in the emergency room")
    page.click("[data-testid=break-glass-submit]")
    expect(page.locator("[data-error-code=CORE-404]")).to_be_visible()
