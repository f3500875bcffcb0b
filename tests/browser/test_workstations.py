"""The clinician workstation and the management cockpit render (with screenshots for a human look)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from smartcare.patients.models import Patient
from tests.browser.pages import sign_in

DESKTOP = {"viewport": {"width": 1366, "height": 900}}
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def screenshot_path(name: str) -> str:
    """Screenshots go to the var directory (SMARTCARE_VAR_DIR) for a human look."""
    return str(Path(settings.VAR_DIR) / name)


@pytest.mark.browser
def test_doctor_workstation(hospital: Any, new_context: Any) -> None:
    page = new_context("zh-hans", **DESKTOP).new_page()
    sign_in(page, "doctor")

    in_care = sorted(Patient.objects.visible_to(hospital.user("doctor")).values_list("name", flat=True))
    assert hospital.patient_in_care.name in in_care
    assert hospital.patient_elsewhere.name not in in_care
    expect(page.locator("[data-testid=patient-count]")).to_have_text(str(len(in_care)))
    patients = page.locator("main table tbody a")
    expect(patients).to_have_count(len(in_care))
    assert sorted(patients.all_inner_texts()) == in_care
    assert hospital.patient_elsewhere.name not in page.inner_text("main")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=screenshot_path("doctor-workstation.png"), full_page=True)

    patients.filter(has_text=hospital.patient_in_care.name).click()
    expect(page.locator("[data-testid=patient-name]")).to_contain_text(hospital.patient_in_care.name)


@pytest.mark.browser
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_manager_cockpit_draws_its_charts(language: str, hospital: Any, new_context: Any) -> None:
    page = new_context(language, **DESKTOP).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, "manager")

    for chart in ("chart-staff", "chart-age"):
        expect(page.locator(f"[data-testid={chart}] svg")).to_be_visible()
        box = page.locator(f"[data-testid={chart}] svg").bounding_box()
        assert box is not None
        assert box["width"] > 100
        assert box["height"] > 100
    # The staff chart labels its bars with the department names in the page language.
    department = hospital.cardiology.name_en if language == "en" else hospital.cardiology.name_zh
    assert department in page.locator("[data-testid=chart-staff] svg").inner_html()
    assert not errors, f"JavaScript errors: {errors}"
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    # Management pages show aggregates only, never an identified patient.
    for patient in (hospital.patient_in_care, hospital.patient_elsewhere):
        assert patient.name not in page.content()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=screenshot_path(f"manager-cockpit-{language}.png"), full_page=True)
