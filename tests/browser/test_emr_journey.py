"""The clinician journey in a real browser: the doctor opens a walk-in visit, finds the drafted
note, orders two interacting drugs (warfarin, then aspirin), sees the critical decision-support
card at signing, overrides it with a reason, signs the order and the note; and answers care-gap
cards one by one (orders the missing HbA1c, marks another gap "not applicable here").

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
    from smartcare.cdss.services import evaluate, record_feedback, shown_card
    from smartcare.emr import hooks
    from smartcare.emr.icd10 import ensure_icd10
    from smartcare.knowledge.seed import ensure_seed

    ensure_seed()
    ensure_icd10()
    load_rules()
    saved = hooks.registered()
    hooks.register_advisor(evaluate, feedback=record_feedback, card=shown_card)
    yield hospital
    hooks.restore(saved)


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


def test_doctor_follows_one_care_gap_and_marks_another_not_applicable(
    emr_world: Any, new_context: Any
) -> None:
    from smartcare.cdss.models import RuleFiring
    from smartcare.emr import services
    from smartcare.emr.models import Order

    doctor = emr_world.user("doctor")
    services.record_problem(doctor, emr_world.patient_in_care.pk, code="E11.9")
    encounter = services.open_encounter(doctor, patient_id=emr_world.patient_in_care.pk)
    page = new_context("en").new_page()
    sign_in(page, "doctor")
    url = f"/emr/encounters/{encounter.pk}/"
    page.goto(url)
    hba1c = page.locator("[data-testid=cds-card]").filter(has_text="HbA1c")
    expect(hba1c).to_be_visible()
    hba1c.locator("[data-testid=card-suggestion]").click()
    expect(page.locator("[data-testid=order]").filter(has_text="HbA1c")).to_contain_text("Draft")
    assert Order.objects.get(encounter=encounter, item="exam:hba1c").status == "draft"

    acr = page.locator("[data-testid=cds-card]").filter(has_text="albumin")
    acr.locator("[data-testid=card-not-applicable]").click()
    acr.locator("[data-testid=card-comment]").fill("On dialysis: urine ACR not meaningful")
    acr.locator("[data-testid=card-not-applicable-save]").click()
    answered = page.locator("[data-testid=cds-card]").filter(has_text="albumin")
    expect(answered.locator("[data-testid=card-answered]")).to_contain_text("Not applicable here")
    page.reload()
    expect(page.locator("[data-testid=cds-card]").filter(has_text="albumin")).to_contain_text("On dialysis")
    outcomes = dict(RuleFiring.objects.values_list("rule__key", "outcome"))
    assert outcomes["gap.diabetes_hba1c"] == "accepted"
    assert outcomes["gap.diabetes_urine_acr"] == "overridden"
    assert RuleFiring.objects.filter(rule__key="gap.diabetes_urine_acr").count() == 1


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
