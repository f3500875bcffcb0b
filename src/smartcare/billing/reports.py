"""The daily cash report per cashier: what each cashier took in and paid out, by method."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.utils import timezone

from smartcare.billing.choices import PaymentMethod, PaymentStatus, PayoutStatus
from smartcare.billing.models import Payment, RefundPayout
from smartcare.billing.money import ZERO, fen


@dataclass
class CashierDay:
    cashier_id: int
    cashier: str
    received: dict[str, Decimal] = field(default_factory=dict)  # method -> amount
    received_count: dict[str, int] = field(default_factory=dict)
    paid_out: dict[str, Decimal] = field(default_factory=dict)
    paid_out_count: dict[str, int] = field(default_factory=dict)
    qr_started: int = 0  # QR payments the patient paid at this cashier's window

    @property
    def cash_in_drawer(self) -> Decimal:
        """Cash to hand over: cash received minus cash paid back."""
        return self.received.get(PaymentMethod.CASH, ZERO) - self.paid_out.get(PaymentMethod.CASH, ZERO)

    @property
    def card_net(self) -> Decimal:
        return self.received.get(PaymentMethod.CARD, ZERO) - self.paid_out.get(PaymentMethod.CARD, ZERO)

    @property
    def total_received(self) -> Decimal:
        return sum(self.received.values(), ZERO)


def day_window(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(date, dt.time(0, 0), tzinfo=timezone.get_current_timezone())
    return start, start + dt.timedelta(days=1)


def cash_report(date: dt.date, *, cashier_id: int | None = None) -> list[CashierDay]:
    start, end = day_window(date)
    days: dict[int, CashierDay] = {}

    def day_of(user_id: int, name: str) -> CashierDay:
        if user_id not in days:
            days[user_id] = CashierDay(user_id, name)
        return days[user_id]

    payments = Payment.objects.filter(status=PaymentStatus.PAID, paid_at__gte=start, paid_at__lt=end)
    desk = payments.filter(cashier__isnull=False)
    if cashier_id is not None:
        desk = desk.filter(cashier_id=cashier_id)
    for row in desk.values("cashier_id", "cashier__username", "method").annotate(
        n=Count("pk"), s=Sum("amount")
    ):
        day = day_of(row["cashier_id"], row["cashier__username"])
        day.received[row["method"]] = fen(row["s"])
        day.received_count[row["method"]] = row["n"]
    qr = payments.filter(channel="desk", method=PaymentMethod.QR, created_by__isnull=False)
    if cashier_id is not None:
        qr = qr.filter(created_by_id=cashier_id)
    for started in qr.values("created_by_id", "created_by__username").annotate(n=Count("pk")):
        day_of(started["created_by_id"], started["created_by__username"]).qr_started = started["n"]
    payouts = RefundPayout.objects.filter(
        status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end, cashier__isnull=False
    )
    if cashier_id is not None:
        payouts = payouts.filter(cashier_id=cashier_id)
    for out in payouts.values("cashier_id", "cashier__username", "payment__method").annotate(
        n=Count("pk"), s=Sum("amount")
    ):
        day = day_of(out["cashier_id"], out["cashier__username"])
        day.paid_out[out["payment__method"]] = fen(out["s"])
        day.paid_out_count[out["payment__method"]] = out["n"]
    return sorted(days.values(), key=lambda d: d.cashier)


def report_csv(date: dt.date, rows: list[CashierDay]) -> str:
    lines = [
        "date,cashier,cash_received,card_received,cash_paid_out,card_paid_out,cash_in_drawer,payments,refunds"
    ]
    for day in rows:
        lines.append(
            ",".join(
                [
                    date.isoformat(),
                    day.cashier,
                    str(day.received.get(PaymentMethod.CASH, ZERO)),
                    str(day.received.get(PaymentMethod.CARD, ZERO)),
                    str(day.paid_out.get(PaymentMethod.CASH, ZERO)),
                    str(day.paid_out.get(PaymentMethod.CARD, ZERO)),
                    str(day.cash_in_drawer),
                    str(sum(day.received_count.values())),
                    str(sum(day.paid_out_count.values())),
                ]
            )
        )
    return "\n".join(lines) + "\n"


def as_dict(day: CashierDay) -> dict[str, Any]:
    return {
        "cashier": day.cashier,
        "cash_received": day.received.get(PaymentMethod.CASH, ZERO),
        "card_received": day.received.get(PaymentMethod.CARD, ZERO),
        "cash_paid_out": day.paid_out.get(PaymentMethod.CASH, ZERO),
        "card_paid_out": day.paid_out.get(PaymentMethod.CARD, ZERO),
        "cash_in_drawer": day.cash_in_drawer,
        "payments": sum(day.received_count.values()),
        "refunds": sum(day.paid_out_count.values()),
        "qr_at_window": day.qr_started,
    }
