"""The demo year's billing (simulation.billing_demo) on a few finished visits of the record."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal as D

import pytest

from smartcare.billing import ledger, selectors
from smartcare.billing.models import Bill, Payment, Reconciliation, Refund, SandboxOrder, Settlement
from smartcare.core import clock
from smartcare.emr.icd10 import ensure_icd10
from smartcare.knowledge.seed import ensure_seed
from smartcare.simulation import billing_demo
from smartcare.simulation.emr_demo import build_emr
from smartcare.simulation.registry import DemoContext
from tests.billing.builders import at
from tests.emr.test_records import _appointment
from tests.factories import PatientFactory


@pytest.fixture()
def finished_visits(hospital):
    ensure_seed()
    ensure_icd10()
    patients = [
        PatientFactory(insurance_type=kind) for kind in ("urban_employee", "resident", "self_pay")
    ] * 4
    with clock.frozen_at(at(-10, 9)):
        for patient in patients:
            appointment = _appointment(hospital, patient)
            appointment.status = "completed"
            appointment.called_at = clock.now() - dt.timedelta(minutes=30)
            appointment.finished_at = clock.now() - dt.timedelta(minutes=20)
            appointment.save()
        build_emr(DemoContext(seed=3, rng=random.Random(3), patients=12, log=lambda _: None, state={}))
    return patients


def test_demo_bills_settlements_payments_and_refunds_balance(finished_visits, monkeypatch):
    monkeypatch.setattr(billing_demo, "REFUND_SHARE", 1.0)
    demo_patient = finished_visits[0]
    lines: list[str] = []
    billing_demo.build_billing(
        DemoContext(
            seed=3, rng=random.Random(3), patients=12, log=lines.append, state={"demo_patient": demo_patient}
        )
    )
    bills = list(Bill.objects.all())
    assert len(bills) == 12
    assert all(b.charges.filter(item__kind="registration").count() == 1 for b in bills)
    assert all(b.charges.filter(item__kind="consultation").count() == 1 for b in bills)
    debit, credit = ledger.trial_balance()
    assert debit == credit > 0 and ledger.unbalanced_entries() == []
    # Every settled share was paid: the patients' account is back to zero.
    assert ledger.balance("patients") == D("0.00")
    for settlement in Settlement.objects.filter(kind="settlement", reversed_by__isnull=True):
        assert settlement.insurer_amount + settlement.patient_amount == settlement.total_amount
    self_pay = Settlement.objects.filter(scheme="self_pay", kind="settlement")
    assert self_pay.exists() and all(s.insurer_amount == 0 for s in self_pay)
    # The demo patient's latest visit is left to pay on her phone.
    latest = (
        Bill.objects.filter(patient=demo_patient).order_by("-encounter__ended_at", "-encounter__pk").first()
    )
    assert not latest.settlements.exists()
    assert selectors.bill_view(latest).to_pay > 0
    refunds = list(Refund.objects.all())
    assert refunds and all(r.status == "completed" for r in refunds)
    for refund in refunds:
        assert refund.insurer_amount + refund.patient_amount == refund.total_amount
    qr = Payment.objects.filter(provider="sandbox")
    assert SandboxOrder.objects.filter(state__in=["SUCCESS", "REFUND"]).count() == qr.count()
    assert Reconciliation.objects.count() == 7
    assert all(run.balanced for run in Reconciliation.objects.all())
    assert lines and lines[0].startswith("billing: 12 bills")


def test_demo_reconciles_the_day_of_the_visits(finished_visits):
    billing_demo.build_billing(
        DemoContext(seed=4, rng=random.Random(4), patients=12, log=lambda _: None, state={})
    )
    from django.utils import timezone

    from smartcare.billing.reconciliation import reconcile_from_provider

    day = dt.date(2027, 2, 19)
    run = reconcile_from_provider("sandbox", day)
    assert run is not None and run.balanced and run.matched == run.statement_rows
    paid_that_day = [
        p for p in Payment.objects.filter(provider="sandbox") if timezone.localtime(p.paid_at).date() == day
    ]
    assert paid_that_day and run.statement_rows >= len(paid_that_day)
