"""Research journey in a real browser against pytest-django's live server.

A researcher registers a project, builds a cohort in the cohort builder and sees a noisy count (the
project is not approved yet); a data steward approves the project from the review queue; the
researcher exports the saved cohort de-identified and downloads the ZIP, which holds no name,
resident ID or phone of the source patients.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in


@pytest.fixture()
def research_world(hospital: Any, tmp_path: Path, monkeypatch: Any, settings: Any) -> Any:
    from django.test import Client

    from tests.research.export_world import build_export_lake

    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setenv("SMARTCARE_LAKE_DIR", str(tmp_path / "lake"))
    patients, _encounters = build_export_lake(tmp_path / "lake")
    Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/")  # warm the imports up
    return hospital, patients


@pytest.mark.browser
def test_researcher_builds_a_cohort_steward_approves_researcher_exports(
    research_world: Any, new_context: Any
) -> None:
    from smartcare.core import clock
    from smartcare.research.models import CohortVersion, ResearchExport, ResearchProject

    _h, patients = research_world
    today = clock.today()
    researcher = new_context("en").new_page()
    sign_in(researcher, "researcher")

    # 1. Register the project.
    researcher.goto("/research/projects/new/")
    researcher.fill("#title", "Chest pain in women")
    researcher.fill("#aims", "Describe chest pain visits of women.")
    researcher.fill("#ethics_number", "IRB-2026-042")
    researcher.fill("#ethics_valid_from", today.isoformat())
    researcher.fill("#ethics_valid_until", (today + dt.timedelta(days=180)).isoformat())
    researcher.fill("#k_anonymity", "2")
    researcher.click("[data-testid=project-submit]")
    expect(researcher.locator("[data-testid=project-title]")).to_have_text("Chest pain in women")
    expect(researcher.locator("[data-testid=project-status]")).to_contain_text("Awaiting review")
    project = ResearchProject.objects.get(title="Chest pain in women")

    # 2. Build the cohort: women. The count is noisy (no approved project yet).
    researcher.goto("/research/cohorts/new/")
    researcher.fill("[data-testid=cohort-name]", "Women")
    researcher.select_option("[data-testid=cohort-type-0]", "sex")
    # changing the type redraws the row (htmx): wait for the new one before ticking
    expect(researcher.locator("[data-testid=cohort-row-0][data-row-type=sex]")).to_be_visible()
    researcher.locator("[data-testid=cohort-sex-0-female]").check()
    # Only one criterion: drop any other starting row so that it does not count as empty input.
    for extra in researcher.locator(
        "[data-cohort-row]:not([data-cohort-row='0']) [data-testid^=cohort-remove-]"
    ).all():
        extra.click()
    researcher.click("[data-testid=cohort-count-now]")
    expect(researcher.locator("[data-testid=cohort-noisy-badge]")).to_be_visible()
    expect(researcher.locator("[data-testid=cohort-count-value]")).to_have_text(re.compile(r"\d+"))
    researcher.click("[data-testid=cohort-save]")
    researcher.wait_for_url("**/research/cohorts/*/**")
    version = CohortVersion.objects.get(cohort__name="Women")

    # Before approval the project cannot export.
    researcher.goto(f"/research/projects/{project.pk}/")
    expect(researcher.locator("[data-testid=export-closed]")).to_be_visible()

    # 3. The data steward approves it.
    steward = new_context("en").new_page()
    sign_in(steward, "steward")
    steward.goto("/research/review/")
    item = steward.locator("[data-testid=review-item]", has_text="Chest pain in women")
    expect(item).to_contain_text("IRB-2026-042")
    item.locator("[data-testid=approve]").click()
    expect(steward.locator(".alert-success")).to_contain_text("Project approved")
    project.refresh_from_db()
    assert project.status == "approved"

    # 4. The researcher exports the saved cohort and downloads it.
    researcher.goto(f"/research/projects/{project.pk}/")
    expect(researcher.locator("[data-testid=project-status]")).to_contain_text("Approved")
    researcher.select_option("#cohort_version", str(version.pk))
    researcher.select_option("#file_format", "csv")
    researcher.locator("#t-notes").check()
    researcher.click("[data-testid=export-submit]")
    expect(researcher.locator(".alert-success")).to_contain_text("Export ready")
    expect(researcher.locator("[data-testid=export-row]")).to_have_count(1)
    with researcher.expect_download() as info:
        researcher.click("[data-testid=export-download]")
    data = Path(info.value.path()).read_bytes()
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert "persons.csv" in archive.namelist() and "notes.csv" in archive.namelist()
    text = "".join(archive.read(name).decode("utf-8-sig") for name in archive.namelist())
    for p in patients:
        for secret in (p.name, p.national_id, p.phone, p.emergency_contact_name, p.medical_record_number):
            assert secret not in text
    export = ResearchExport.objects.get()
    assert export.downloads == 1 and export.patients == 12


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.mark.browser
def test_patient_withdraws_research_consent_on_a_phone(hospital: Any, new_context: Any) -> None:
    from smartcare.research.consent import withdrawn_patient_ids

    page = new_context("en", **PHONE).new_page()
    sign_in(page, "patient")
    page.goto("/research/consent/")
    expect(page.locator("[data-testid=consent-status]")).to_contain_text("No decision recorded")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.fill("#note", "I prefer not to take part")
    page.click("[data-testid=consent-withdraw]")
    expect(page.locator("[data-testid=consent-status]")).to_contain_text("Consent withdrawn")
    expect(page.locator("[data-testid=consent-history] li")).to_have_count(1)
    assert withdrawn_patient_ids() == {hospital.own_patient.pk}
