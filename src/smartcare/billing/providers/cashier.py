"""The hospital's own cashier windows: cash and bank card at the desk.

Money changes hands in front of the cashier, so an order is paid the moment it is created; a
refund is paid out in cash by a cashier (or back to the card through the terminal) and recorded
by the cashier who did it. There is no asynchronous notification and no statement to download
(the card acquirer's statement can be uploaded in the same CSV format).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import ClassVar

from django.utils.translation import gettext_lazy as _

from smartcare.billing.choices import PaymentMethod
from smartcare.billing.errors import InvalidSignature
from smartcare.billing.providers.base import (
    Notification,
    OrderCreated,
    OrderRequest,
    RefundResult,
    TradeStatus,
)
from smartcare.core import clock


class CashierProvider:
    code: ClassVar[str] = "cashier"
    label: ClassVar[object] = _("Cashier window (cash or card)")
    uses_qr: ClassVar[bool] = False
    methods: ClassVar[tuple[str, ...]] = (PaymentMethod.CASH, PaymentMethod.CARD)

    def create_order(self, request: OrderRequest) -> OrderCreated:
        reference = request.reference or f"DESK{secrets.token_hex(6).upper()}"
        return OrderCreated(provider_reference=reference[:64], paid=True, paid_at=clock.now())

    def query_order(self, out_trade_no: str) -> TradeStatus:
        from smartcare.billing.models import Payment

        payment = Payment.objects.get(out_trade_no=out_trade_no)
        return TradeStatus(
            out_trade_no, "SUCCESS", payment.amount, payment.provider_reference, payment.paid_at
        )

    def close_order(self, out_trade_no: str) -> TradeStatus:
        return self.query_order(out_trade_no)

    def refund(self, out_trade_no: str, out_refund_no: str, amount: Decimal, total: Decimal) -> RefundResult:
        # Paid out by a cashier at the window (services.pay_out_at_desk), not by a remote call.
        return RefundResult(out_refund_no, "", "PROCESSING", amount)

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        raise InvalidSignature()

    def statement(self, date: dt.date) -> bytes | None:
        return None
