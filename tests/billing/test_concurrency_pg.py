"""Billing under concurrency on PostgreSQL: the row locks the settlement and payment paths rely on.

Threads released at the same moment (``tests.concurrency.together``):
- two cashiers taking cash for one bill: one payment, the other refused, one settlement;
- one patient's bills settled at once: the year's deductible is used exactly once;
- the same signed sandbox notification arriving twice at once: applied once, booked once.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D

import pytest
from django.db.models import Sum

from smartcare.billing import ledger, services
from smartcare.billing.models import (
    JournalEntry,
    Payment,
    ProviderNotification,
    SandboxNotification,
    Settlement,
)
from smartcare.billing.sandbox_gateway import SandboxGateway
from smartcare.core import clock
from tests.billing.builders import build_world, now
from tests.concurrency import together
from tests.factories import PatientFactory, build_hospital

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_auto_delivery(monkeypatch):
    monkeypatch.setattr("smartcare.billing.sandbox_gateway.enqueue_delivery", lambda pk: None)


def outcome(result: object) -> str:
    return type(result).__name__


def test_two_cashiers_taking_cash_for_one_bill_take_it_once() -> None:
    with clock.frozen_at(now()):
        world = build_world(build_hospital())
        bill = world.bill(world.patient_in_care, ("REG-ORD", 1), ("E-HBA1C", 1))
        cashier = world.user("frontdesk")

        results = together(
            6, lambda i: services.start_payment(cashier, bill.pk, provider="cashier", method="cash")
        )

    kinds = Counter(outcome(r) for r in results)
    assert kinds["PaymentStart"] == 1, kinds
    refused = [r for r in results if outcome(r) != "PaymentStart"]
    assert refused and all(getattr(r, "code", "").startswith("BILL-") for r in refused), refused
    assert Payment.objects.filter(bill=bill, status="paid").count() == 1
    assert Settlement.objects.filter(bill=bill, status="confirmed").count() == 1
    paid = Payment.objects.get(bill=bill, status="paid").amount
    assert ledger.balance("cash:frontdesk") == paid
    assert ledger.balance("patients") == D("0.00")


def test_one_patients_bills_settled_at_once_use_the_deductible_once() -> None:
    with clock.frozen_at(now()):
        world = build_world(build_hospital())
        patient = PatientFactory(name="同时结算", insurance_type="urban_employee")
        # Four bills of 230.00 (class B CTA: 207.00 eligible each): 828.00 eligible in all, so the
        # year's 300.00 deductible is met by the bills together whichever order they settle in.
        bills = [world.bill(patient, ("E-CORONARY_CTA", 1)) for _ in range(4)]
        cashier = world.user("frontdesk")

        results = together(
            4,
            lambda i: services.start_payment(cashier, bills[i].pk, provider="cashier", method="cash"),
        )

    assert [outcome(r) for r in results] == ["PaymentStart"] * 4, results
    settlements = Settlement.objects.filter(patient=patient, status="confirmed")
    totals = settlements.aggregate(deductible=Sum("deductible_applied"), insurer=Sum("insurer_amount"))
    assert totals["deductible"] == D("300.00")
    # 828.00 eligible - 300.00 deductible = 528.00 at 80% = 422.40, whatever the order.
    assert totals["insurer"] == D("422.40")
    for s in settlements:
        assert s.insurer_amount + s.patient_amount == s.total_amount


def test_the_same_notification_twice_at_once_is_applied_once() -> None:
    with clock.frozen_at(now()):
        world = build_world(build_hospital())
        bill = world.bill(world.own_patient, ("REG-ORD", 1), ("E-HBA1C", 1))
        started = services.start_payment(world.user("patient"), bill.pk, provider="sandbox")
        payment = started.payment
        assert payment is not None
        gateway = SandboxGateway()
        gateway.pay(payment.code_url.rstrip("/").rsplit("/", 1)[1])
        event = SandboxNotification.objects.get()
        requests = [gateway.notification_request(event) for _ in range(4)]

        results = together(
            4, lambda i: services.handle_notification("sandbox", requests[i][1], requests[i][0])
        )

    assert sorted(results) == ["applied", "duplicate", "duplicate", "duplicate"], results
    payment.refresh_from_db()
    assert payment.status == "paid"
    assert ProviderNotification.objects.filter(outcome="applied").count() == 1
    assert JournalEntry.objects.filter(payment=payment).count() >= 1
    assert ledger.balance("clearing:sandbox") == payment.amount
    assert ledger.balance("patients") == D("0.00")
