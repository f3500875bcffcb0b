"""The payment-provider interface.

A provider turns the hospital's payment orders into money movements on one channel. Two work
here end to end: ``cashier`` (cash and bank card at the desk) and ``sandbox`` (a QR provider that
behaves like WeChat Pay and Alipay). A WeChat Pay or Alipay adapter implements the same class with
the merchant's credentials; see ``docs/modules/billing.md`` ("Payment providers") for the mapping
of each method onto their APIs.

Amounts cross this interface as ``Decimal`` yuan; adapters convert to the provider's unit (WeChat
Pay and the sandbox use integer fen, Alipay uses yuan strings with two decimals).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class OrderRequest:
    out_trade_no: str  # ours, unique, at most 32 characters (WeChat's limit)
    amount: Decimal
    description: str  # shown in the payer's wallet; never a diagnosis
    notify_url: str  # where the provider sends its asynchronous notification
    expires_at: dt.datetime
    method: str = ""  # cashier: cash or card
    reference: str = ""  # cashier: the card terminal's reference


@dataclass(frozen=True)
class OrderCreated:
    provider_reference: str  # the provider's prepay id or trade number
    code_url: str = ""  # what the QR code encodes (empty for desk payments)
    paid: bool = False  # desk payments are complete at once
    paid_at: dt.datetime | None = None


@dataclass(frozen=True)
class TradeStatus:
    out_trade_no: str
    state: str  # NOTPAY, SUCCESS, CLOSED, REFUND (WeChat Pay's trade states)
    amount: Decimal
    transaction_id: str = ""
    paid_at: dt.datetime | None = None

    @property
    def paid(self) -> bool:
        return self.state in ("SUCCESS", "REFUND")


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    refund_id: str
    state: str  # SUCCESS, PROCESSING, ABNORMAL
    amount: Decimal


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted asynchronous notification."""

    event_id: str
    event_type: str  # TRANSACTION.SUCCESS
    out_trade_no: str
    transaction_id: str
    state: str
    amount: Decimal
    paid_at: dt.datetime | None


class PaymentProvider(Protocol):
    code: ClassVar[str]
    label: ClassVar[Any]
    uses_qr: ClassVar[bool]  # the payer scans a QR code (or opens its link) in their wallet
    methods: ClassVar[tuple[str, ...]]  # PaymentMethod values

    def create_order(self, request: OrderRequest) -> OrderCreated:
        """Create (idempotently, by out_trade_no) a payment order."""

    def query_order(self, out_trade_no: str) -> TradeStatus:
        """The provider's current state of the order (the status query)."""

    def close_order(self, out_trade_no: str) -> TradeStatus:
        """Close an unpaid order so it can no longer be paid; returns the state after closing
        (SUCCESS when the payer paid just before)."""

    def refund(self, out_trade_no: str, out_refund_no: str, amount: Decimal, total: Decimal) -> RefundResult:
        """Refund part or all of a paid order (idempotent by out_refund_no)."""

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        """Verify the signature and freshness of a notification and decrypt it. Raises
        ``InvalidSignature`` or ``StaleNotification``; nothing is trusted before this returns."""

    def statement(self, date: dt.date) -> bytes | None:
        """The provider's statement of one day as CSV (see ``reconciliation``), or None when the
        provider has no statement to download (the file is then uploaded by hand)."""


@functools.cache
def _registry() -> dict[str, PaymentProvider]:
    found: dict[str, PaymentProvider] = {}
    for path in getattr(settings, "SMARTCARE_PAYMENT_PROVIDERS", DEFAULT_PROVIDERS):
        provider = import_string(path)()
        found[provider.code] = provider
    return found


DEFAULT_PROVIDERS = (
    "smartcare.billing.providers.cashier.CashierProvider",
    "smartcare.billing.providers.sandbox.SandboxQrProvider",
)


def providers() -> dict[str, PaymentProvider]:
    return dict(_registry())


def get_provider(code: str) -> PaymentProvider:
    from smartcare.billing.errors import UnknownProvider

    provider = _registry().get(code)
    if provider is None:
        raise UnknownProvider(provider=code or "-", field="provider")
    return provider


def qr_providers() -> list[PaymentProvider]:
    return [p for p in _registry().values() if p.uses_qr]
