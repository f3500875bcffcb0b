"""The hospital's adapter for the sandbox QR gateway: the same shape a WeChat Pay or Alipay adapter
has (create the order, show its code_url as a QR code, verify and decrypt the asynchronous
notification, query, close, refund, download the statement)."""

from __future__ import annotations

import datetime as dt
import hmac
import json
from decimal import Decimal
from typing import Any, ClassVar

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from smartcare.billing import sandbox_gateway as gateway_module
from smartcare.billing.choices import PaymentMethod
from smartcare.billing.errors import InvalidSignature, StaleNotification
from smartcare.billing.money import from_fen, to_fen
from smartcare.billing.providers.base import (
    Notification,
    OrderCreated,
    OrderRequest,
    RefundResult,
    TradeStatus,
)
from smartcare.core import clock

# Notifications older (or newer) than this are refused as replays, as WeChat Pay advises.
NOTIFICATION_WINDOW = dt.timedelta(minutes=5)


def _header(headers: dict[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return ""


def _status(data: dict[str, Any]) -> TradeStatus:
    paid_at = parse_datetime(data.get("success_time") or "") if data.get("success_time") else None
    return TradeStatus(
        out_trade_no=data["out_trade_no"],
        state=data["trade_state"],
        amount=from_fen(data["amount"]["total"]),
        transaction_id=data.get("transaction_id", ""),
        paid_at=paid_at,
    )


class SandboxQrProvider:
    code: ClassVar[str] = "sandbox"
    label: ClassVar[object] = _("Mobile payment (sandbox QR)")
    uses_qr: ClassVar[bool] = True
    methods: ClassVar[tuple[str, ...]] = (PaymentMethod.QR,)

    def __init__(self) -> None:
        self.gateway = gateway_module.SandboxGateway()

    def create_order(self, request: OrderRequest) -> OrderCreated:
        answer = self.gateway.create_order(
            out_trade_no=request.out_trade_no,
            amount_fen=to_fen(request.amount),
            description=request.description,
            notify_url=request.notify_url,
            expires_at=request.expires_at,
        )
        return OrderCreated(provider_reference=answer["prepay_id"], code_url=answer["code_url"])

    def query_order(self, out_trade_no: str) -> TradeStatus:
        return _status(self.gateway.query(out_trade_no))

    def close_order(self, out_trade_no: str) -> TradeStatus:
        return _status(self.gateway.close(out_trade_no))

    def refund(self, out_trade_no: str, out_refund_no: str, amount: Decimal, total: Decimal) -> RefundResult:
        answer = self.gateway.refund(
            out_trade_no=out_trade_no, out_refund_no=out_refund_no, amount_fen=to_fen(amount)
        )
        return RefundResult(out_refund_no, answer["refund_id"], answer["status"], amount)

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        timestamp = _header(headers, gateway_module.HEADER_TIMESTAMP)
        nonce = _header(headers, gateway_module.HEADER_NONCE)
        sent = _header(headers, gateway_module.HEADER_SIGNATURE)
        serial = _header(headers, gateway_module.HEADER_SERIAL)
        if not (timestamp and nonce and sent) or serial != gateway_module.key_serial():
            raise InvalidSignature()
        expected = gateway_module.signature(timestamp, nonce, body)
        if not hmac.compare_digest(expected.encode(), sent.encode()):
            raise InvalidSignature()
        try:
            sent_at = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
        except (ValueError, OverflowError, OSError):
            raise InvalidSignature() from None
        if abs(clock.now() - sent_at) > NOTIFICATION_WINDOW:
            raise StaleNotification()
        try:
            event = json.loads(body)
            resource = gateway_module.decrypt_resource(event["resource"])
        except (ValueError, KeyError, TypeError) as exc:  # a signed body that does not decrypt
            raise InvalidSignature() from exc
        except Exception as exc:  # cryptography's InvalidTag
            raise InvalidSignature() from exc
        status = _status(resource)
        return Notification(
            event_id=str(event.get("id", ""))[:64],
            event_type=str(event.get("event_type", "")),
            out_trade_no=status.out_trade_no,
            transaction_id=status.transaction_id,
            state=status.state,
            amount=status.amount,
            paid_at=status.paid_at,
        )

    def statement(self, date: dt.date) -> bytes | None:
        return self.gateway.statement(date)
