"""Refunds: partial (unused drugs) and full (a cancelled exam), approval above the threshold by a
second person, re-settlement of the insurer's share, payouts through the original payment, and
nothing deleted or changed: every correction is a new row."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.apps import apps

from smartcare.billing import ledger, services
from smartcare.billing.errors import OwnRefundApproval, RefundNotAllowed, RefundTooLarge
from smartcare.billing.models import Charge, Refund, SandboxOrder, Settlement
from smartcare.billing.sandbox_gateway import SandboxGateway
from smartcare.core.errors import InvalidInput, PermissionDenied
from tests.billing.builders import deliver_all


@pytest.fixture(autouse=True)
def _deliver_by_hand(monkeypatch):
    monkeypatch.setattr("smartcare.billing.sandbox_gateway.enqueue_delivery", lambda pk: None)


def pay_qr(world, bill, user="frontdesk"):
    started = services.start_payment(world.user(user), bill.pk, provider="sandbox", channel="desk")
    SandboxGateway().pay(started.payment.code_url.rstrip("/").rsplit("/", 1)[1])
    deliver_all()
    started.payment.refresh_from_db()
    assert started.payment.status == "paid"
    return started


def pay_cash(world, bill):
    return services.start_payment(world.user("frontdesk"), bill.pk, provider="cashier", method="cash")


@pytest.fixture()
def paid_bill(world):
    """An employee whose deductible is used up (an MRI), then amiodarone x14 and a blood count
    paid by QR: amiodarone 102.20 -> insurer 81.76, patient 20.44; CBC 78.00 -> 10% first 7.80,
    70.20 x 80% = 56.16, patient 21.84. Total 180.20, insurer 137.92, patient 42.28."""
    patient = world.patient_in_care
    pay_cash(world, world.bill(patient, ("E-BRAIN_MRI", 1)))
    bill = world.bill(patient, ("D-AMIODARONE", 14), ("E-CBC", 1))
    started = pay_qr(world, bill)
    s = started.settlement
    assert (s.total_amount, s.insurer_amount, s.patient_amount) == (D("180.20"), D("137.92"), D("42.28"))
    return bill


def every_row():
    """(model, pk) -> field values of every billing row, to show that nothing is deleted or changed."""
    rows = {}
    for model in apps.get_app_config("billing").get_models():
        for values in model.objects.values():
            rows[(model.__name__, values["id"])] = values
    return rows


def test_partial_refund_of_unused_drugs_resettles_the_insurer_share(
    world, paid_bill, django_capture_on_commit_callbacks
):
    amiodarone, _cbc = world.charges(paid_bill)
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.request_refund(
            world.user("frontdesk"), paid_bill.pk, [(amiodarone.pk, "4")], "4 tablets returned unopened"
        )
    refund.refresh_from_db()
    # 4 x 7.30 = 29.20. Amiodarone now 73.00 -> insurer 58.40, patient 14.60.
    assert refund.total_amount == D("29.20")
    assert refund.insurer_amount == D("23.36")  # 137.92 - 114.56
    assert refund.patient_amount == D("5.84")  # 42.28 - 36.44
    assert refund.status == "completed"
    payout = refund.payouts.get()
    assert payout.amount == D("5.84") and payout.status == "paid"
    assert SandboxOrder.objects.get(out_trade_no=payout.payment.out_trade_no).refunded_fen == 584
    live = Settlement.objects.filter(
        bill=paid_bill, kind="settlement", reversed_by__isnull=True, status="confirmed"
    )
    assert [(s.total_amount, s.insurer_amount, s.patient_amount) for s in live] == [
        (D("151.00"), D("114.56"), D("36.44"))
    ]
    correction = Charge.objects.get(corrects=amiodarone)
    assert (correction.quantity, correction.amount) == (D("-4.000"), D("-29.20"))
    assert ledger.balance("patients") == D("0.00")
    assert ledger.balance("insurer:urban_employee") == D("192.00") + D("114.56")
    assert ledger.trial_balance()[0] == ledger.trial_balance()[1]


def test_full_refund_of_a_cancelled_exam(world, paid_bill, django_capture_on_commit_callbacks):
    _amiodarone, cbc = world.charges(paid_bill)
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.request_refund(
            world.user("frontdesk"), paid_bill.pk, [(cbc.pk, 1)], "exam cancelled"
        )
    refund.refresh_from_db()
    assert (refund.total_amount, refund.insurer_amount, refund.patient_amount) == (
        D("78.00"),
        D("56.16"),
        D("21.84"),
    )
    from smartcare.billing.selectors import bill_view

    view = bill_view(paid_bill)
    assert [line.state for line in view.lines] == ["settled", "refunded"]
    assert view.balance == D("0.00") and view.paid_back == D("21.84")


def test_nothing_is_deleted_or_changed_by_a_refund(world, paid_bill, django_capture_on_commit_callbacks):
    before = every_row()
    amiodarone, _cbc = world.charges(paid_bill)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_refund(world.user("frontdesk"), paid_bill.pk, [(amiodarone.pk, "2")], "returned")
    after = every_row()
    assert set(before) <= set(after)
    changed = {key for key in before if before[key] != after[key]}
    # Only the sandbox gateway's order (its refunded total) is updated; our rows are all new.
    assert {model for model, _pk in changed} <= {"SandboxOrder"}
    for model in (
        "Charge",
        "Settlement",
        "SettlementLine",
        "JournalEntry",
        "JournalLine",
        "Refund",
        "RefundPayout",
    ):
        assert sum(1 for m, _ in after if m == model) > sum(1 for m, _ in before if m == model)


def test_refund_above_the_threshold_waits_for_a_second_person(world, django_capture_on_commit_callbacks):
    bill = world.bill(world.patient_in_care, ("E-BRAIN_MRI", 1))
    pay_cash(world, bill)
    (mri,) = world.charges(bill)
    refund = services.request_refund(world.user("frontdesk"), bill.pk, [(mri.pk, 1)], "scanner broken")
    assert refund.status == "requested"
    assert not Charge.objects.filter(corrects=mri).exists()
    with pytest.raises(PermissionDenied):
        services.approve_refund(world.user("frontdesk"), refund.pk)
    Refund.objects.filter(pk=refund.pk).update(requested_by=world.user("manager"))
    with pytest.raises(OwnRefundApproval):
        services.approve_refund(world.user("manager"), refund.pk)
    Refund.objects.filter(pk=refund.pk).update(requested_by=world.user("frontdesk"))
    services.approve_refund(world.user("manager"), refund.pk, "confirmed with radiology")
    refund.refresh_from_db()
    assert refund.status == "approved" and refund.decided_by == world.user("manager")
    payout = refund.payouts.get()
    assert payout.amount == refund.patient_amount
    services.pay_out_at_desk(world.user("frontdesk"), payout.pk)
    refund.refresh_from_db()
    assert refund.status == "completed"
    assert ledger.balance("cash:frontdesk") == D("0.00")  # paid 600.00 - 192.00, handed back the same
    with pytest.raises(RefundNotAllowed):
        services.approve_refund(world.user("manager"), refund.pk)


def test_rejected_refund_moves_nothing(world):
    bill = world.bill(world.patient_in_care, ("E-BRAIN_MRI", 1))
    pay_cash(world, bill)
    (mri,) = world.charges(bill)
    refund = services.request_refund(world.user("frontdesk"), bill.pk, [(mri.pk, 1)], "patient asked")
    with pytest.raises(InvalidInput):
        services.reject_refund(world.user("manager"), refund.pk, "")
    services.reject_refund(world.user("manager"), refund.pk, "the scan was done")
    refund.refresh_from_db()
    assert refund.status == "rejected" and not refund.payouts.exists()
    assert Settlement.objects.filter(kind="reversal").count() == 0
    # The quantity is free again for another request.
    again = services.request_refund(world.user("frontdesk"), bill.pk, [(mri.pk, 1)], "second try")
    assert again.status == "requested"


def test_refund_quantities_are_checked(world, paid_bill):
    amiodarone, _cbc = world.charges(paid_bill)
    with pytest.raises(RefundTooLarge):
        services.request_refund(world.user("frontdesk"), paid_bill.pk, [(amiodarone.pk, "15")], "too many")
    for bad in ("0", "-1", "abc", 1.5):
        with pytest.raises(InvalidInput):
            services.request_refund(world.user("frontdesk"), paid_bill.pk, [(amiodarone.pk, bad)], "bad")
    with pytest.raises(InvalidInput):
        services.request_refund(world.user("frontdesk"), paid_bill.pk, [(amiodarone.pk, "1")], "  ")
    services.request_refund(world.user("frontdesk"), paid_bill.pk, [(amiodarone.pk, "10")], "returned")
    with pytest.raises(RefundTooLarge):
        services.request_refund(world.user("frontdesk"), paid_bill.pk, [(amiodarone.pk, "5")], "again")
    assert Refund.objects.count() == 1


def test_unpaid_charges_are_not_refunded(world):
    bill = world.bill(world.patient_in_care, ("REG-ORD", 1))
    (charge,) = world.charges(bill)
    with pytest.raises(InvalidInput):
        services.request_refund(world.user("frontdesk"), bill.pk, [(charge.pk, 1)], "not paid")
    other = world.bill(world.patient_in_care, ("REG-ORD", 1))
    pay_cash(world, other)
    (foreign,) = world.charges(other)
    with pytest.raises(InvalidInput):  # a charge of another bill
        services.request_refund(world.user("frontdesk"), bill.pk, [(foreign.pk, 1)], "wrong bill")
    assert not Refund.objects.exists()


def test_refund_that_frees_the_deductible(world, django_capture_on_commit_callbacks):
    """First bill of the year: everything went to the deductible. Refunding the drug gives it all
    back to the patient, and the blood count takes its part of the deductible again."""
    bill = world.bill(world.patient_in_care, ("D-AMIODARONE", 14), ("E-CBC", 1))
    started = pay_cash(world, bill)
    assert started.settlement.deductible_applied == D("172.40")  # 102.20 + (78.00 - 7.80)
    amiodarone, _cbc = world.charges(bill)
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.request_refund(world.user("frontdesk"), bill.pk, [(amiodarone.pk, 14)], "allergy")
    refund.refresh_from_db()
    assert (refund.insurer_amount, refund.patient_amount) == (D("0.00"), D("102.20"))
    new = Settlement.objects.filter(bill=bill, kind="settlement").last()
    assert new.deductible_applied == D("70.20")
    assert sum(
        Settlement.objects.filter(patient=bill.patient, year=2027).values_list(
            "deductible_applied", flat=True
        )
    ) == D("70.20")
