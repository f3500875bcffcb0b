"""Exact money: ``Decimal`` yuan with two places (fen). Floats never enter the arithmetic."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("9999999999.99")


def round_fen(value: Decimal) -> Decimal:
    """Round half up to the fen (the rounding of Chinese invoices and insurance settlements)."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def fen(value: Any) -> Decimal:
    """A database sum as exact yuan and fen. SQLite adds decimal columns in binary floating point
    and returns ``6`` or ``107.19999999999999`` for what is ``6.00`` and ``107.20``; every
    aggregate of money goes through here."""
    if value is None:
        return ZERO
    return round_fen(Decimal(str(value)))


def quantity(value: Any) -> Decimal:
    """A database sum of quantities (three decimals), exact."""
    if value is None:
        return Decimal("0.000")
    return Decimal(str(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def parse_amount(value: Any, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    """An amount typed or sent by someone: at most two decimals, positive (or zero), no float.

    Floats are refused: ``0.1 + 0.2`` is not ``0.3`` and would leak binary rounding into the
    books; clients send strings ("12.50") or integers."""
    from smartcare.billing.errors import InvalidAmount

    if isinstance(value, (float, bool)) or value is None:
        raise InvalidAmount(field=field)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidAmount(field=field) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT or (amount == 0 and not allow_zero):
        raise InvalidAmount(field=field)
    if amount != amount.quantize(FEN):  # fractions of a fen
        raise InvalidAmount(field=field)
    return amount.quantize(FEN)


def to_fen(amount: Decimal) -> int:
    """Yuan to integer fen (the unit of WeChat Pay's and Alipay-like wire formats)."""
    value = amount * 100
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has fractions of a fen")
    return int(value)


def from_fen(fen: int) -> Decimal:
    return (Decimal(int(fen)) / 100).quantize(FEN)


def percent(ratio: Decimal) -> str:
    """0.9 -> '90', 0.125 -> '12.5'."""
    text = format((ratio * 100).normalize(), "f")
    return text
