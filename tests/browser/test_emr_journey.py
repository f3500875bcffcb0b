"""The clinician journey in a real browser: the doctor opens a walk-in visit, finds the drafted
note, orders two interacting drugs (warfarin, then aspirin), sees the critical decision-support
card at signing, overrides it with a reason, signs the order and the note.

Decision support is the real engine (``smartcare.cdss``) on its seeded rules, plugged into the
workstation through ``smartcare.emr.hooks`` as the cdss app does at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in


@pytest.fixture()
def emr_world(hospital: Any) -> Iterator[Any]:
    from smartcare.cdss.seed import load_rules
    from smartcare.cdss.services import evaluate, record_feedback
    from smartcare.emr import hooks
    from smartcare.emr.icd10 import ensure_icd10
    from smartcare.knowledge.seed import ensure_seed

    ensure_seed()
    ensure_icd10()
    load_rules()
    saved = (list(hooks._ADVISORS), list(hooks._FEEDBACK))
    hooks.register_advisor(evaluate, feedback=record_feedback)
    yield hospital
    hooks.unregister_all()
    hooks._ADVISORS.extend(saved[0])
    hooks._FEEDBACK.extend(saved[1])


def order_drug(page: Any, key: str, dose: str) -> None:
    form = page.locator("[data-testid=order-form]")
    form.locator("select[name=kind]").select_option("medication")
    form.locator("input[name=item]").fill(key)
    form.locator("input[name=dose]").fill(dose)
    form.locator("input[name=dose_unit]").fill("mg")
    form.locator("select[name=route]").select_option("oral")
    form.locator("input[name=frequency_per_day]").fill("1")
    form.locator("input[name=duration_days]").fill("7")
    form.locator("button").click()


def test_doctor_overrides_a_critical_interaction_and_signs(emr_world: Any, new_context: Any) -> None:
    from smartcare.emr.models import Note, Order

    page = new_context("en").new_page()
    sign_in(page, "doctor")
    page.goto("/emr/")
    page.fill("input[name=code]", emr_world.patient_in_care.medical_record_number)
    page.get_by_role("button", name="Open visit").click()
    editor = page.locator("[data-testid=note-editor]")
    expect(editor).to_be_visible()
    expect(editor.locator("textarea[name=history]")).to_have_value("No known allergies recorded.")

    order_drug(page, "drug:warfarin", "3")
    page.locator("[data-testid=order]").filter(has_text="Warfarin").locator(
        "[data-testid=sign-order]"
    ).click()
    expect(page.locator("[data-testid=order]").filter(has_text="Warfarin")).to_contain_text("Signed")

    order_drug(page, "drug:aspirin", "100")
    page.locator("[data-testid=order]").filter(has_text="Aspirin").locator("[data-testid=sign-order]").click()
    cards = page.locator("[data-testid=cds-cards]")
    expect(cards.locator("[data-indicator=critical]").first).to_be_visible()
    assert Order.objects.get(item="drug:aspirin").status == "draft"
    page.fill("[data-testid=override-reason]", "Short course after stent, INR monitored")
    page.click("[data-testid=sign-anyway]")
    expect(page.locator("[data-testid=order]").filter(has_text="Aspirin")).to_contain_text("Signed")
    from smartcare.cdss.models import RuleFiring

    overridden = RuleFiring.objects.filter(outcome="overridden")
    assert overridden.exists()
    assert {f.comment for f in overridden} == {"Short course after stent, INR monitored"}

    page.fill("textarea[name=assessment]", "Stable angina")
    page.click("[data-testid=sign-note]")
    expect(page.get_by_text("Note signed.")).to_be_visible()
    note = Note.objects.get(kind="progress")
    assert note.status == "signed" and note.writing_seconds is not None


def test_encounter_page_fits_a_phone(emr_world: Any, new_context: Any) -> None:
    from smartcare.emr import services

    encounter = services.open_encounter(emr_world.user("doctor"), patient_id=emr_world.patient_in_care.pk)
    page = new_context(
        "zh-hans", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    ).new_page()
    sign_in(page, "doctor")
    page.goto(f"/emr/encounters/{encounter.pk}/")
    expect(page.locator("[data-testid=note-editor]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
