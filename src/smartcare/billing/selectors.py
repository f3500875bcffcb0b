"""Reads: bills as the patient and the cashier see them. Callers have opened the patient with
``access_patient`` (or list through ``Patient.objects.visible_to``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from smartcare.billing import services
from smartcare.billing.choices import (
    ChargeStatus,
    PaymentStatus,
    PayoutStatus,
    RefundStatus,
    SettlementKind,
    SettlementStatus,
)
from smartcare.billing.insurance import describe
from smartcare.billing.models import Bill, Charge, Payment, Refund, RefundPayout, Settlement, SettlementLine
from smartcare.billing.money import ZERO, fen
from smartcare.patients.models import Patient


@dataclass
class LineView:
    charge: Charge
    quantity: Decimal
    amount: Decimal
    state: str  # to_pay, pending, settled, cancelled, refunded
    insurer: Decimal | None = None
    patient: Decimal | None = None
    reasons: list[str] = field(default_factory=list)
    refunded_quantity: Decimal = Decimal(0)


@dataclass
class BillView:
    bill: Bill
    lines: list[LineView]
    charged: Decimal  # net of cancellations and refunds
    insurer: Decimal  # settled insurer share
    patient_share: Decimal  # settled patient share
    paid: Decimal  # received from the patient
    paid_back: Decimal  # refunded to the patient
    owed_back: Decimal  # refunds waiting to be paid out
    to_pay: Decimal  # the patient's share of what is not settled yet (preview)
    to_pay_insurer: Decimal
    preview: Any  # services.Computation or None
    pending_payment: Payment | None
    payments: list[Payment]
    refunds: list[Refund]
    waiting_payouts: list[RefundPayout]

    @property
    def balance(self) -> Decimal:
        """What the patient still owes on settled lines (negative: what we owe them back)."""
        return self.patient_share - (self.paid - self.paid_back)

    @property
    def status(self) -> str:
        if self.pending_payment is not None:
            return "pending"
        if self.to_pay > 0:
            return "to_pay"
        if self.owed_back > 0:
            return "refund_waiting"
        if any(line.state == "refunded" for line in self.lines):
            return "refunded"
        return "paid" if self.lines else "empty"


def bill_view(bill: Bill, *, with_preview: bool = True) -> BillView:
    charges = list(bill.charges.filter(corrects__isnull=True).select_related("item").order_by("pk"))
    net = services.net_of(charges)
    live: dict[int, SettlementLine] = {}
    for line in services._live_lines(settlement__bill=bill).select_related("settlement").order_by("pk"):
        live[line.charge_id] = line
    unsettled = [c for c in charges if c.status == ChargeStatus.ACTIVE and c.pk not in live]
    preview = services.compute(bill, unsettled) if (with_preview and unsettled) else None
    preview_lines = {line.charge_id: line for line in preview.result.lines} if preview else {}
    lines: list[LineView] = []
    for charge in charges:
        quantity, amount = net[charge.pk]
        view = LineView(charge, quantity, amount, "to_pay", refunded_quantity=charge.quantity - quantity)
        if charge.status == ChargeStatus.CANCELLED:
            view.state = "cancelled"
        elif charge.pk in live:
            line = live[charge.pk]
            view.state = "pending" if line.settlement.status == SettlementStatus.PENDING else "settled"
            view.insurer, view.patient = line.insurer_amount, line.patient_amount
            view.reasons = [describe(r) for r in line.reasons]
            if amount <= 0:
                view.state = "refunded"
        elif amount <= 0:
            view.state = "refunded"
        elif charge.pk in preview_lines:
            result = preview_lines[charge.pk]
            view.insurer, view.patient = result.insurer, result.patient
            view.reasons = [describe(r) for r in result.reasons]
        lines.append(view)
    confirmed = Settlement.objects.filter(bill=bill, status=SettlementStatus.CONFIRMED)
    sums = confirmed.aggregate(i=Sum("insurer_amount"), p=Sum("patient_amount"))
    payments = list(Payment.objects.filter(bill=bill).order_by("-created_at"))
    paid = sum((p.amount for p in payments if p.status == PaymentStatus.PAID), ZERO)
    payouts = list(RefundPayout.objects.filter(payment__bill=bill).select_related("payment", "refund"))
    paid_back = sum((p.amount for p in payouts if p.status == PayoutStatus.PAID), ZERO)
    waiting = [p for p in payouts if p.status in (PayoutStatus.PENDING, PayoutStatus.FAILED)]
    return BillView(
        bill=bill,
        lines=lines,
        charged=sum((line.amount for line in lines if line.state != "cancelled"), ZERO),
        insurer=fen(sums["i"]),
        patient_share=fen(sums["p"]),
        paid=paid,
        paid_back=paid_back,
        owed_back=sum((p.amount for p in waiting), ZERO),
        to_pay=preview.result.patient if preview else ZERO,
        to_pay_insurer=preview.result.insurer if preview else ZERO,
        preview=preview,
        pending_payment=next((p for p in payments if p.status == PaymentStatus.PENDING), None),
        payments=payments,
        refunds=list(Refund.objects.filter(bill=bill).order_by("-requested_at")),
        waiting_payouts=waiting,
    )


def bills_of(patients: QuerySet[Patient] | list[Any], limit: int = 50) -> QuerySet[Bill]:
    return (
        Bill.objects.filter(patient__in=patients)
        .select_related("patient", "department", "appointment", "encounter")
        .order_by("-opened_at")[:limit]
    )


def receipt_lines(settlement: Settlement) -> dict[str, Any]:
    """A settlement as an electronic invoice: lines grouped by kind of charge, with the insurer's
    and the patient's shares."""
    groups: dict[str, Decimal] = defaultdict(lambda: ZERO)
    lines = list(settlement.lines.select_related("charge").order_by("pk"))
    for line in lines:
        groups[line.charge.get_kind_display()] += line.amount
    return {
        "lines": lines,
        "groups": sorted(groups.items()),
        "categories": {
            "A": sum((line.amount for line in lines if line.charge.insurance_category == "A"), ZERO),
            "B": sum((line.amount for line in lines if line.charge.insurance_category == "B"), ZERO),
            "self": sum((line.amount for line in lines if line.charge.insurance_category == "self"), ZERO),
        },
    }


def receipts_of(bill: Bill) -> list[Settlement]:
    """Settlements the patient holds a receipt for (paid, or settled without anything to pay)."""
    return list(
        Settlement.objects.filter(
            bill=bill, kind=SettlementKind.SETTLEMENT, status=SettlementStatus.CONFIRMED
        )
        .select_related("payment")
        .order_by("pk")
    )


def refunds_waiting_approval() -> QuerySet[Refund]:
    return (
        Refund.objects.filter(status=RefundStatus.REQUESTED)
        .select_related("bill", "requested_by")
        .order_by("requested_at")
    )
