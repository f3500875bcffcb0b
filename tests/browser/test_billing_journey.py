"""The paying journey in a real browser, on a phone-sized screen: after her visit the patient
finds the bill with every line and the insurance share, pays with the sandbox QR provider (the
wallet page her payment app would open), and gets the electronic invoice, in English and in
Chinese.

The notification is the real one: the sandbox gateway's background task (inline in tests) signs
it and POSTs it over HTTP to the live server's callback URL, where it is verified and applied.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in

PHONE = {"width": 390, "height": 844}
# A loaded machine (two shared cores) can take long over the first pages (imports, templates).
SLOW_MACHINE_MS = 60_000


def phone_page(new_context: Any, language: str) -> Any:
    context = new_context(language, viewport=PHONE)
    context.set_default_timeout(SLOW_MACHINE_MS)
    return context.new_page()


@pytest.fixture()
def visited(hospital: Any) -> Any:
    """The patient's walk-in visit: the consultation and a signed HbA1c order are charged."""
    from smartcare.billing.catalog import ensure_catalog
    from smartcare.billing.policies import ensure_policies
    from smartcare.core import clock
    from smartcare.emr import services as emr
    from smartcare.emr.icd10 import ensure_icd10
    from smartcare.knowledge.seed import ensure_seed

    ensure_seed()
    ensure_icd10()
    ensure_catalog()
    year = clock.today().year
    ensure_policies([year - 1, year, year + 1])
    doctor = hospital.user("doctor")
    encounter = emr.open_encounter(doctor, patient_id=hospital.own_patient.pk)
    order = emr.place_order(doctor, encounter.pk, emr.OrderData(kind="lab", item="exam:hba1c"))
    emr.sign_order(doctor, order.pk)
    emr.finish_encounter(doctor, encounter.pk)
    return hospital


def test_patient_pays_the_bill_by_qr_and_gets_the_receipt(visited: Any, new_context: Any) -> None:
    from smartcare.billing.models import Payment, ProviderNotification

    page = phone_page(new_context, "en")
    sign_in(page, "patient")
    page.goto("/billing/")
    bill = page.locator("[data-testid=bill-row]")
    expect(bill).to_have_count(1)
    expect(bill.locator("[data-testid=bill-status]")).to_contain_text("To pay: 54.00 yuan")
    bill.click()

    lines = page.locator("[data-testid=bill-line]")
    expect(lines).to_have_count(2)
    expect(lines.filter(has_text="HbA1c")).to_contain_text("Deductible")
    expect(page.locator("[data-testid=amount-to-pay]")).to_have_text("54.00 yuan")
    expect(page.locator("[data-testid=preview-insurer]")).to_have_text("0.00")

    page.click("[data-testid=pay-sandbox]")
    expect(page.locator("[data-testid=payment-qr] svg")).to_be_visible()
    expect(page.locator("[data-testid=payment-amount]")).to_contain_text("54.00")
    payment_url = page.url

    # On the phone the patient opens the code in her payment app: the sandbox wallet.
    page.click("[data-testid=open-wallet]")
    expect(page.locator("[data-testid=wallet-amount]")).to_have_text("¥ 54.00")
    page.click("[data-testid=wallet-confirm]")
    expect(page.locator("[data-testid=wallet-paid]")).to_be_visible()
    # The signed notification reached our callback over HTTP and was applied.
    assert ProviderNotification.objects.filter(outcome="applied").count() == 1
    assert Payment.objects.get().status == "paid"

    page.goto(payment_url)
    expect(page.locator("[data-testid=payment-paid]")).to_be_visible()
    page.click("[data-testid=receipt-link]")
    receipt = page.locator("[data-testid=receipt]")
    expect(receipt).to_contain_text("Electronic invoice for medical charges")
    expect(receipt).to_contain_text("医疗收费电子票据")
    expect(page.locator("[data-testid=receipt-line]")).to_have_count(2)
    expect(page.locator("[data-testid=receipt-total]")).to_have_text("54.00")
    expect(page.locator("[data-testid=receipt-patient]")).to_have_text("54.00")
    expect(page.locator("[data-testid=receipt-number]")).to_have_text(re.compile(r"E\d{10}"))
    receipt_url = page.url

    chinese = phone_page(new_context, "zh-hans")
    sign_in(chinese, "patient")
    chinese.goto(receipt_url)
    expect(chinese.locator("[data-testid=receipt]")).to_contain_text("糖化血红蛋白")
    expect(chinese.locator("html")).to_have_attribute("lang", "zh-hans")
