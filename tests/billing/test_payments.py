"""Payments: the cashier (cash, card) and the sandbox QR provider end to end: order with a QR code,
the wallet, the signed asynchronous notification to our callback URL, signature verification,
repeated and forged notifications, expiry, the status query, paying by one code at a kiosk."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import pytest
from django.test import Client

from smartcare.billing import ledger, services
from smartcare.billing.errors import (
    InvalidSignature,
    NothingToPay,
    PaymentInProgress,
    SandboxOrderClosed,
    StaleNotification,
    UnknownProvider,
)
from smartcare.billing.models import (
    JournalEntry,
    Payment,
    ProviderNotification,
    SandboxNotification,
    Settlement,
)
from smartcare.billing.sandbox_gateway import SandboxGateway, signature
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
from tests.billing.builders import client_post, deliver_all


def token_of(payment: Payment) -> str:
    return payment.code_url.rstrip("/").rsplit("/", 1)[1]


@pytest.fixture()
def no_auto_delivery(monkeypatch):
    """Notifications are delivered by the test (deliver_all), not by the inline task backend."""
    monkeypatch.setattr("smartcare.billing.sandbox_gateway.enqueue_delivery", lambda pk: None)


@pytest.fixture()
def qr_bill(world, no_auto_delivery):
    bill = world.bill(world.own_patient, ("REG-ORD", 1), ("E-HBA1C", 1))
    started = services.start_payment(world.user("patient"), bill.pk, provider="sandbox")
    return bill, started.payment


def test_cash_at_the_desk_is_paid_at_once(world):
    bill = world.bill(world.patient_in_care, ("REG-ORD", 1), ("E-HBA1C", 1))
    started = services.start_payment(world.user("frontdesk"), bill.pk, provider="cashier", method="cash")
    payment = started.payment
    assert payment.status == "paid" and payment.cashier == world.user("frontdesk")
    assert payment.amount == started.settlement.patient_amount
    assert ledger.balance("cash:frontdesk") == payment.amount
    assert ledger.balance("patients") == D("0.00")
    with pytest.raises(NothingToPay):
        services.start_payment(world.user("frontdesk"), bill.pk, provider="cashier", method="cash")


def test_card_needs_the_terminal_reference(world):
    bill = world.bill(world.patient_in_care, ("REG-ORD", 1))
    with pytest.raises(InvalidInput):
        services.start_payment(world.user("frontdesk"), bill.pk, provider="cashier", method="card")
    assert not Settlement.objects.exists()
    started = services.start_payment(
        world.user("frontdesk"), bill.pk, provider="cashier", method="card", reference="POS-778812"
    )
    assert started.payment.provider_reference == "POS-778812"
    assert ledger.balance("clearing:card") == started.payment.amount


def test_only_cashiers_take_cash_and_unknown_providers_are_refused(world):
    bill = world.bill(world.own_patient, ("REG-ORD", 1))
    with pytest.raises(PermissionDenied):
        services.start_payment(world.user("patient"), bill.pk, provider="cashier", method="cash")
    with pytest.raises(UnknownProvider):
        services.start_payment(world.user("patient"), bill.pk, provider="wechat")
    assert not Settlement.objects.exists() and not Payment.objects.exists()


def test_other_patients_bills_are_not_found(world):
    bill = world.bill(world.other_patient, ("REG-ORD", 1))
    with pytest.raises(NotFound):
        services.start_payment(world.user("patient"), bill.pk, provider="sandbox")
    with pytest.raises(NotFound):
        services.start_payment(world.user("patient"), 10**9, provider="sandbox")


def test_qr_payment_end_to_end(world, qr_bill, django_capture_on_commit_callbacks):
    _bill, payment = qr_bill
    assert payment.status == "pending" and payment.code_url.startswith(
        "http://127.0.0.1:8000/billing/sandbox/pay/"
    )
    assert payment.expires_at == clock.now() + dt.timedelta(minutes=15)
    assert Settlement.objects.get().status == "pending"
    assert JournalEntry.objects.count() == 0  # nothing is booked before the money arrives
    SandboxGateway().pay(token_of(payment))
    post = client_post()
    with django_capture_on_commit_callbacks(execute=True):
        deliver_all(post)
    assert [r.status_code for r in post.responses] == [200]
    assert post.responses[0].json()["outcome"] == "applied"
    payment.refresh_from_db()
    assert payment.status == "paid" and payment.provider_reference.startswith("SBX")
    assert Settlement.objects.get().status == "confirmed"
    assert ledger.balance("clearing:sandbox") == payment.amount
    assert ledger.balance("patients") == D("0.00")
    assert SandboxNotification.objects.get().delivered_at is not None
    from smartcare.notifications.models import Notification

    assert Notification.objects.filter(recipient=world.user("patient"), category="billing_paid").count() == 1


def test_repeated_notification_changes_nothing(world, qr_bill):
    _bill, payment = qr_bill
    gateway = SandboxGateway()
    gateway.pay(token_of(payment))
    event = SandboxNotification.objects.get()
    body, headers = gateway.notification_request(event)
    client = Client()
    first = services.handle_notification("sandbox", headers, body)
    entries = JournalEntry.objects.count()
    # The provider did not see our answer and sends the same event again (signed afresh).
    body2, headers2 = gateway.notification_request(event)
    assert services.handle_notification("sandbox", headers2, body2) == "duplicate"
    # And the very same request bytes once more, through HTTP.
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    response = client.post("/api/billing/notify/sandbox", body, content_type="application/json", **extra)
    assert response.status_code == 200 and response.json()["outcome"] == "duplicate"
    assert first == "applied"
    assert JournalEntry.objects.count() == entries
    assert Payment.objects.get().status == "paid"
    assert ProviderNotification.objects.filter(outcome="applied").count() == 1


def test_forged_notification_is_refused(world, qr_bill):
    _bill, payment = qr_bill
    gateway = SandboxGateway()
    gateway.pay(token_of(payment))
    event = SandboxNotification.objects.get()
    body, headers = gateway.notification_request(event)
    # Signed with another key.
    forged = dict(headers)
    forged["Sandbox-Signature"] = signature(
        headers["Sandbox-Timestamp"], headers["Sandbox-Nonce"], body, b"x" * 32
    )
    with pytest.raises(InvalidSignature):
        services.handle_notification("sandbox", forged, body)
    # The body changed after signing (a bigger amount, say).
    tampered = body.replace(b'"summary"', b'"summery"')
    with pytest.raises(InvalidSignature):
        services.handle_notification("sandbox", headers, tampered)
    # No signature at all, over HTTP: 401 with the code, nothing applied.
    response = Client().post("/api/billing/notify/sandbox", body, content_type="application/json")
    assert response.status_code == 401 and response.json()["code"] == "BILL-007"
    payment.refresh_from_db()
    assert payment.status == "pending"
    assert JournalEntry.objects.count() == 0
    assert ProviderNotification.objects.filter(outcome="rejected").count() == 3


def test_replayed_old_notification_is_refused(world, qr_bill):
    _bill, payment = qr_bill
    gateway = SandboxGateway()
    gateway.pay(token_of(payment))
    body, headers = gateway.notification_request(SandboxNotification.objects.get())
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=6)), pytest.raises(StaleNotification):
        services.handle_notification("sandbox", headers, body)
    payment.refresh_from_db()
    assert payment.status == "pending"
    # A genuine (fresh) delivery still works afterwards.
    deliver_all()
    payment.refresh_from_db()
    assert payment.status == "paid"


def test_notification_with_a_wrong_amount_is_refused(world, qr_bill, monkeypatch):
    _bill, payment = qr_bill
    gateway = SandboxGateway()
    gateway.pay(token_of(payment))
    from smartcare.billing import sandbox_gateway

    original = sandbox_gateway._order_state

    def more(order):
        state = original(order)
        state["amount"]["total"] += 100
        return state

    monkeypatch.setattr(sandbox_gateway, "_order_state", more)
    body, headers = gateway.notification_request(SandboxNotification.objects.get())
    from smartcare.billing.errors import NotificationMismatch

    with pytest.raises(NotificationMismatch):
        services.handle_notification("sandbox", headers, body)
    assert Payment.objects.get().status == "pending"


def test_failed_delivery_is_retried(world, qr_bill):
    _bill, payment = qr_bill
    SandboxGateway().pay(token_of(payment))
    event = SandboxNotification.objects.get()
    assert SandboxGateway().deliver(event.pk, post=lambda url, body, headers: 503) is False
    event.refresh_from_db()
    assert (event.attempts, event.delivered_at, event.last_error) == (1, None, "HTTP 503")
    deliver_all()
    event.refresh_from_db()
    assert event.attempts == 2 and event.delivered_at is not None


def test_lost_notification_is_caught_by_the_status_query(world, qr_bill):
    _bill, payment = qr_bill
    SandboxGateway().pay(token_of(payment))  # the notification never arrives
    refreshed = services.refresh_payment(world.user("patient"), payment.pk)
    assert refreshed.status == "paid"
    # The late notification is then a repeat.
    deliver_all()
    assert ProviderNotification.objects.get().outcome == "duplicate"


def test_order_expires_and_can_no_longer_be_paid(world, qr_bill):
    bill, payment = qr_bill
    with clock.frozen_at(payment.expires_at + dt.timedelta(seconds=1)):
        assert services.expire_overdue_payments() == 1
        with pytest.raises(SandboxOrderClosed):
            SandboxGateway().pay(token_of(payment))
    payment.refresh_from_db()
    assert payment.status == "expired"
    assert Settlement.objects.get().status == "voided"
    assert JournalEntry.objects.count() == 0
    # The charges are open again: a new payment settles them anew.
    again = services.start_payment(world.user("patient"), bill.pk, provider="sandbox")
    assert again.settlement.total_amount == D("50.00")


def test_payer_who_pays_in_the_last_second_is_kept(world, qr_bill):
    _bill, payment = qr_bill
    with clock.frozen_at(payment.expires_at - dt.timedelta(seconds=1)):
        SandboxGateway().pay(token_of(payment))
    with clock.frozen_at(payment.expires_at + dt.timedelta(seconds=5)):
        services.expire_overdue_payments()
    payment.refresh_from_db()
    assert payment.status == "paid"


def test_one_payment_at_a_time_per_bill(world, qr_bill):
    bill, payment = qr_bill
    with pytest.raises(PaymentInProgress):
        services.start_payment(world.user("patient"), bill.pk, provider="sandbox")
    services.cancel_payment(world.user("patient"), payment.pk)
    payment.refresh_from_db()
    assert payment.status == "closed"
    with pytest.raises(SandboxOrderClosed):
        SandboxGateway().pay(token_of(payment))
    # The cashier takes cash instead.
    started = services.start_payment(world.user("frontdesk"), bill.pk, provider="cashier", method="cash")
    assert started.payment.status == "paid"


def test_pay_by_one_code_at_a_kiosk(world, no_auto_delivery):
    from smartcare.visits.services import present_code

    bill = world.bill(world.patient_in_care, ("REG-ORD", 1))
    kiosk = world.user("device")
    with pytest.raises(NotFound):  # the kiosk acts for a patient only after their code is scanned
        services.start_payment(kiosk, bill.pk, provider="sandbox", channel="kiosk")
    present_code(kiosk, world.patient_in_care.one_code)
    started = services.start_payment(kiosk, bill.pk, provider="sandbox", channel="kiosk")
    assert started.payment.channel == "kiosk"
    SandboxGateway().pay(token_of(started.payment))
    deliver_all()
    assert Payment.objects.get().status == "paid"


def test_api_payment_flow(world, no_auto_delivery):
    bill = world.bill(world.own_patient, ("REG-ORD", 1), ("E-HBA1C", 1))
    client = Client()
    client.force_login(world.user("patient"))
    detail = client.get(f"/api/billing/bills/{bill.pk}").json()
    assert detail["to_pay"] == "50.00"  # 6 + 44, all within the year's open deductible
    response = client.post(
        f"/api/billing/bills/{bill.pk}/payments",
        json.dumps({"provider": "sandbox"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["patient"] == "50.00" and body["payment"]["status"] == "pending"
    assert body["payment"]["code_url"].startswith("http://testserver/billing/sandbox/pay/")
    payment = Payment.objects.get()
    SandboxGateway().pay(token_of(payment))
    assert client.get(f"/api/billing/payments/{payment.pk}").json()["status"] == "paid"
    # Amounts travel as strings, never floats.
    assert isinstance(detail["lines"][0]["amount"], str)


def test_amounts_sent_as_floats_are_refused(world):
    from smartcare.billing.errors import InvalidAmount
    from smartcare.billing.money import parse_amount

    with pytest.raises(InvalidAmount):
        parse_amount(0.1)


def test_notification_for_an_unknown_order_is_refused(world, qr_bill):
    _bill, payment = qr_bill
    gateway = SandboxGateway()
    gateway.pay(token_of(payment))
    event = SandboxNotification.objects.get()
    Payment.objects.filter(pk=payment.pk).update(out_trade_no="SC-SOMETHING-ELSE")
    body, headers = gateway.notification_request(event)
    from smartcare.billing.errors import NotificationMismatch

    with pytest.raises(NotificationMismatch):
        services.handle_notification("sandbox", headers, body)
