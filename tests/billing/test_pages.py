"""The billing pages: the patient's bills, QR payment page and receipt (both languages, elderly
mode, phone layout), the cashier window, refund approval, prices, policies with their coded
errors, reconciliation uploads and the ledger."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.billing import services
from smartcare.billing.models import InsurancePolicy, Payment, Reconciliation, Refund
from smartcare.billing.sandbox_gateway import SandboxGateway
from tests.billing.builders import deliver_all


@pytest.fixture(autouse=True)
def _deliver_by_hand(monkeypatch):
    monkeypatch.setattr("smartcare.billing.sandbox_gateway.enqueue_delivery", lambda pk: None)


def signed_in(user, language="en"):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def test_patient_sees_every_line_with_the_insurance_share_and_pays_by_qr(world):
    bill = world.bill(world.own_patient, ("REG-ORD", 1), ("E-CORONARY_CTA", 1), ("BED-SINGLE", 1))
    client = signed_in(world.user("patient"))
    listing = client.get("/billing/")
    assert listing.status_code == 200 and bill.number.encode() in listing.content
    page = client.get(f"/billing/bills/{bill.pk}/")
    html = page.content.decode()
    assert html.count('data-testid="bill-line"') == 3
    assert "Self-pay item (not in the insurance catalog): paid by the patient." in html
    assert "Deductible: " in html
    assert 'data-testid="amount-to-pay">436.00' in html  # 6 + 230 + 200, all within the deductible
    assert AuditEvent.objects.filter(
        action="read", object_type="billing.Bill", object_id=str(bill.pk)
    ).exists()
    response = client.post(f"/billing/bills/{bill.pk}/pay/", {"provider": "sandbox"})
    payment = Payment.objects.get()
    assert response["Location"] == f"/billing/payments/{payment.pk}/"
    qr_page = client.get(response["Location"]).content.decode()
    assert "<svg" in qr_page and 'data-testid="open-wallet"' in qr_page
    assert payment.code_url.startswith("http://testserver/billing/sandbox/pay/")
    wallet = Client().get(payment.code_url.replace("http://testserver", ""))
    assert b"436.00" in wallet.content
    Client().post(payment.code_url.replace("http://testserver", ""))
    deliver_all()
    status = client.get(f"/billing/payments/{payment.pk}/status/")
    assert status["HX-Redirect"] == f"/billing/receipts/{payment.settlement_id}/"
    receipt = client.get(status["HX-Redirect"]).content.decode()
    assert "Electronic invoice for medical charges" in receipt and "医疗收费电子票据" in receipt
    assert payment.receipt_number in receipt
    assert re.search(r'data-testid="receipt-total">\s*436.00', receipt)


def test_receipt_in_chinese_and_elderly_mode(world):
    bill = world.bill(world.own_patient, ("REG-ORD", 1))
    settlement = services.start_payment(
        world.user("frontdesk"), bill.pk, provider="cashier", method="cash"
    ).settlement
    user = world.user("patient")
    user.elderly_mode = True
    user.save()
    client = signed_in(user, "zh-hans")
    page = client.get(f"/billing/receipts/{settlement.pk}/").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "普通门诊挂号费" in page
    assert 'class="elderly' in page or "elderly " in page.split("<body", 1)[1][:80]


def test_other_patients_bills_are_not_found(world):
    bill = world.bill(world.other_patient, ("REG-ORD", 1))
    client = signed_in(world.user("patient"))
    assert client.get(f"/billing/bills/{bill.pk}/").status_code == 404
    assert bill.number.encode() not in client.get("/billing/").content


def test_cashier_takes_cash_by_one_code_and_refunds(world):
    bill = world.bill(world.patient_in_care, ("D-OMEPRAZOLE", 10), ("E-HBA1C", 1))
    client = signed_in(world.user("frontdesk"))
    page = client.get("/billing/cashier/", {"code": world.patient_in_care.one_code})
    assert page.status_code == 200 and bill.number.encode() in page.content
    by_mrn = client.get("/billing/cashier/", {"code": world.patient_in_care.medical_record_number})
    assert bill.number.encode() in by_mrn.content
    response = client.post(f"/billing/cashier/bills/{bill.pk}/pay/", {"method": "cash"})
    payment = Payment.objects.get()
    assert response["Location"] == f"/billing/receipts/{payment.settlement_id}/"
    omeprazole = world.charges(bill)[0]
    form = client.get(f"/billing/cashier/bills/{bill.pk}/refund/")
    assert f'name="qty-{omeprazole.pk}"'.encode() in form.content
    bad = client.post(
        f"/billing/cashier/bills/{bill.pk}/refund/", {f"qty-{omeprazole.pk}": "11", "reason": "x"}
    )
    assert bad.status_code == 400 and b'data-error-code="BILL-010"' in bad.content
    client.post(
        f"/billing/cashier/bills/{bill.pk}/refund/", {f"qty-{omeprazole.pk}": "4", "reason": "returned"}
    )
    refund = Refund.objects.get()
    assert refund.status == "approved" and refund.patient_amount == D("2.40")
    page = client.get(f"/billing/bills/{bill.pk}/").content.decode()
    assert 'data-testid="pay-out"' in page
    client.post(f"/billing/cashier/payouts/{refund.payouts.get().pk}/")
    refund.refresh_from_db()
    assert refund.status == "completed"
    report = client.get("/billing/cashier/report/").content.decode()
    assert "frontdesk" in report and "47.60" in report  # 50.00 received - 2.40 paid back


def test_manager_approves_refunds_without_seeing_the_patient(world):
    bill = world.bill(world.patient_in_care, ("E-BRAIN_MRI", 1))
    services.start_payment(world.user("frontdesk"), bill.pk, provider="cashier", method="cash")
    (mri,) = world.charges(bill)
    refund = services.request_refund(world.user("frontdesk"), bill.pk, [(mri.pk, 1)], "scanner broken")
    client = signed_in(world.user("manager"))
    page = client.get("/billing/refunds/").content.decode()
    assert refund.number in page and world.patient_in_care.name not in page
    client.post(f"/billing/refunds/{refund.pk}/decide/", {"decision": "approve", "note": "ok"})
    refund.refresh_from_db()
    assert refund.status == "approved"
    assert client.get(f"/billing/bills/{bill.pk}/").status_code == 403


def test_policy_page_reports_every_error_and_saves_nothing(world):
    policy = InsurancePolicy.objects.get(scheme__code="resident", year=2027)
    rule = policy.rules.get(care_setting="outpatient", hospital_level=3)
    client = signed_in(world.user("manager"))
    assert client.get("/billing/policies/").status_code == 200
    response = client.post(
        f"/billing/policies/{policy.pk}/",
        {
            "class_b_self_pay_share": "1.5",
            "outpatient_annual_cap": "-10",
            f"rule-{rule.pk}-ratio_class_a": "0.9",
            f"rule-{rule.pk}-deductible": "12.345",
            "excluded": "E-NOT-AN-ITEM",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error-code="BILL-015"' in html
    for field in (
        "class_b_self_pay_share",
        "outpatient_annual_cap",
        f"rule-{rule.pk}-deductible",
        "excluded",
    ):
        assert field in html
    policy.refresh_from_db()
    rule.refresh_from_db()
    assert policy.class_b_self_pay_share == D("0.15") and rule.ratio_class_a == D("0.50")
    response = client.post(
        f"/billing/policies/{policy.pk}/",
        {"class_b_self_pay_share": "0.2", f"rule-{rule.pk}-ratio_class_a": "0.55", "excluded": "E-PET_CT"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.ratio_class_a == D("0.55")
    assert list(policy.excluded_items.values_list("code", flat=True)) == ["E-PET_CT"]
    event = AuditEvent.objects.filter(object_type="billing.InsurancePolicy").last()
    assert event.detail["before"]["class_b_self_pay_share"] == "0.1500"
    assert event.detail["after"]["class_b_self_pay_share"] == "0.2000"
    copy = client.post(f"/billing/policies/{policy.pk}/", {"copy_to_year": "2029"})
    assert InsurancePolicy.objects.filter(scheme__code="resident", year=2029).count() == 1
    assert copy.status_code == 302


def test_prices_page_adds_a_version(world):
    from smartcare.billing.models import CatalogItem

    item = CatalogItem.objects.get(code="REG-ORD")
    client = signed_in(world.user("manager"))
    assert b"REG-ORD" in client.get("/billing/catalog/", {"q": "REG"}).content
    client.post(f"/billing/catalog/{item.pk}/price/", {"amount": "8.00", "reason": "notice 12"})
    assert item.prices.count() == 2
    client.post(f"/billing/catalog/{item.pk}/price/", {"amount": "8.001", "reason": "typo"})
    assert item.prices.count() == 2


def test_reconciliation_page_upload_and_bad_file(world):
    client = signed_in(world.user("manager"))
    bad = client.post(
        "/billing/reconciliation/",
        {
            "provider": "sandbox",
            "date": "2027-02-28",
            "statement": SimpleUploadedFile("s.csv", b"nonsense\n"),
        },
    )
    assert bad.status_code == 400 and b'data-error-code="BILL-020"' in bad.content
    assert not Reconciliation.objects.exists()
    response = client.post("/billing/reconciliation/", {"provider": "sandbox", "date": "2027-02-28"})
    run = Reconciliation.objects.get()
    assert response["Location"] == f"/billing/reconciliation/{run.pk}/"
    assert b"No mismatches" in client.get(response["Location"]).content
    cashier = client.post("/billing/reconciliation/", {"provider": "cashier", "date": "2027-02-28"})
    assert cashier.status_code == 400


def test_ledger_page_shows_the_trial_balance(world):
    bill = world.bill(world.patient_in_care, ("REG-ORD", 1))
    services.start_payment(world.user("frontdesk"), bill.pk, provider="cashier", method="cash")
    page = signed_in(world.user("manager")).get("/billing/ledger/").content.decode()
    assert "Total debits 12.00, total credits 12.00." in page
    assert "cash:frontdesk" in page


def test_kiosk_pays_for_the_scanned_patient(world):
    bill = world.bill(world.patient_in_care, ("REG-ORD", 1))
    client = signed_in(world.user("device"))
    page = client.post("/billing/kiosk/", {"code": world.patient_in_care.one_code})
    assert page.status_code == 200 and b'data-testid="kiosk-pay"' in page.content
    unknown = client.post("/billing/kiosk/", {"code": "PNOSUCHCODE0000000000000"})
    assert unknown.status_code == 404 and b"CORE-404" in unknown.content
    response = client.post(f"/billing/bills/{bill.pk}/pay/", {"channel": "kiosk"})
    payment = Payment.objects.get()
    assert payment.channel == "kiosk" and response["Location"] == f"/billing/payments/{payment.pk}/"
    SandboxGateway().pay(payment.code_url.rstrip("/").rsplit("/", 1)[1])
    assert client.get(f"/billing/payments/{payment.pk}/").status_code == 200
    payment.refresh_from_db()
    assert payment.status == "paid"  # the page's status query found it paid


def test_wallet_refuses_a_closed_order(world):
    bill = world.bill(world.own_patient, ("REG-ORD", 1))
    payment = services.start_payment(world.user("patient"), bill.pk, provider="sandbox").payment
    services.cancel_payment(world.user("patient"), payment.pk)
    path = payment.code_url.replace("http://127.0.0.1:8000", "")
    response = Client().post(path)
    assert response.status_code == 409 and b"BILL-030" in response.content
    assert Client().get("/billing/sandbox/pay/no-such-token/").status_code == 404
