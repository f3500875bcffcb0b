"""Daily reconciliation: our payments and refunds of one provider and one day against the
provider's statement file.

Statement format (CSV, UTF-8, a header line; the sandbox gateway produces it and a WeChat Pay or
Alipay adapter converts their bill downloads into it)::

    record_type,time,out_trade_no,transaction_id,out_refund_no,refund_id,amount,status
    PAYMENT,2026-11-25 10:02:03,SC2611251002031A2B3C4D5E,SBX20261125...,,,12.50,SUCCESS
    REFUND,2026-11-25 11:00:00,SC2611251002031A2B3C4D5E,SBX20261125...,RF26112511...,SBXR...,5.00,SUCCESS

Times are local (the hospital's time zone); amounts are yuan with two decimals. A file that does
not follow it is refused as a whole with ``BILL-020`` naming the line.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.billing.choices import MismatchKind, PaymentStatus, PayoutStatus
from smartcare.billing.errors import InvalidAmount, InvalidStatement
from smartcare.billing.models import Payment, Reconciliation, ReconciliationMismatch, RefundPayout
from smartcare.billing.money import ZERO, parse_amount
from smartcare.billing.providers.base import get_provider
from smartcare.core.permissions import require_capability

COLUMNS = (
    "record_type",
    "time",
    "out_trade_no",
    "transaction_id",
    "out_refund_no",
    "refund_id",
    "amount",
    "status",
)
MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class StatementRow:
    line: int
    record_type: str  # PAYMENT or REFUND
    time: dt.datetime
    reference: str  # out_trade_no for payments, out_refund_no for refunds
    amount: Decimal
    status: str


def parse_statement(data: bytes, date: dt.date) -> list[StatementRow]:
    if len(data) > MAX_BYTES:
        raise InvalidStatement(line=0, reason="file too large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidStatement(line=0, reason="not UTF-8 text") from None
    if not text.strip():
        raise InvalidStatement(line=1, reason="empty file")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, [])
    except csv.Error as exc:
        raise InvalidStatement(line=1, reason=str(exc)) from None
    names = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise InvalidStatement(line=1, reason="missing columns " + ", ".join(missing))
    index = {name: names.index(name) for name in COLUMNS}
    tz = timezone.get_current_timezone()
    rows: list[StatementRow] = []
    seen: set[tuple[str, str]] = set()
    try:
        for number, raw in enumerate(reader, start=2):
            if not raw or all(not cell.strip() for cell in raw):
                continue
            if len(raw) != len(names):
                raise InvalidStatement(line=number, reason=f"{len(raw)} fields instead of {len(names)}")
            value = {name: raw[i].strip() for name, i in index.items()}
            kind = value["record_type"].upper()
            if kind not in ("PAYMENT", "REFUND"):
                raise InvalidStatement(line=number, reason=f"record type {value['record_type']}")
            try:
                moment = dt.datetime.strptime(value["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
            except ValueError:
                raise InvalidStatement(line=number, reason=f"time {value['time']}") from None
            if moment.date() != date:
                raise InvalidStatement(line=number, reason=f"time {value['time']} is not on {date}")
            try:
                amount = parse_amount(value["amount"])
            except InvalidAmount:
                raise InvalidStatement(line=number, reason=f"amount {value['amount']}") from None
            reference = value["out_trade_no"] if kind == "PAYMENT" else value["out_refund_no"]
            if not reference:
                raise InvalidStatement(line=number, reason="no order or refund number")
            if (kind, reference) in seen:
                raise InvalidStatement(line=number, reason=f"{reference} twice")
            seen.add((kind, reference))
            rows.append(StatementRow(number, kind, moment, reference, amount, value["status"].upper()))
    except csv.Error as exc:
        raise InvalidStatement(line=reader.line_num, reason=str(exc)) from None
    return rows


def _day(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(date, dt.time(0, 0), tzinfo=timezone.get_current_timezone())
    return start, start + dt.timedelta(days=1)


def reconcile(
    actor: Any, provider_code: str, date: dt.date, data: bytes, *, file_name: str = ""
) -> Reconciliation:
    """Compare and store the result with every mismatch. ``actor`` None: the daily job."""
    if actor is not None:
        require_capability(actor, "billing.manage")
    provider = get_provider(provider_code)
    statement = parse_statement(data, date)
    start, end = _day(date)
    ours: dict[tuple[str, str], Decimal] = {}
    for out_trade_no, amount in Payment.objects.filter(
        provider=provider.code, status=PaymentStatus.PAID, paid_at__gte=start, paid_at__lt=end
    ).values_list("out_trade_no", "amount"):
        ours[("PAYMENT", out_trade_no)] = amount
    for out_refund_no, amount in RefundPayout.objects.filter(
        payment__provider=provider.code, status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end
    ).values_list("out_refund_no", "amount"):
        ours[("REFUND", out_refund_no)] = amount
    mismatches: list[ReconciliationMismatch] = []
    matched = 0
    provider_total = hospital_total = ZERO
    for kind, reference in ours:
        sign = 1 if kind == "PAYMENT" else -1
        hospital_total += sign * ours[(kind, reference)]
    for row in statement:
        sign = 1 if row.record_type == "PAYMENT" else -1
        if row.status == "SUCCESS":
            provider_total += sign * row.amount
        key = (row.record_type, row.reference)
        if key in ours:
            ours_amount = ours.pop(key)
            if row.status != "SUCCESS":
                mismatches.append(
                    ReconciliationMismatch(
                        kind=MismatchKind.STATUS_DIFFERS,
                        reference=row.reference,
                        record_type=row.record_type,
                        hospital_amount=ours_amount,
                        provider_amount=row.amount,
                        detail=f"provider: {row.status}; ours: paid",
                    )
                )
            elif ours_amount != row.amount:
                mismatches.append(
                    ReconciliationMismatch(
                        kind=MismatchKind.AMOUNT_DIFFERS,
                        reference=row.reference,
                        record_type=row.record_type,
                        hospital_amount=ours_amount,
                        provider_amount=row.amount,
                    )
                )
            else:
                matched += 1
            continue
        if row.status != "SUCCESS":
            matched += 1  # a failed attempt at the provider that we never counted either
            continue
        detail = ""
        if row.record_type == "PAYMENT":
            payment = Payment.objects.filter(out_trade_no=row.reference).first()
            if payment is not None:
                detail = f"provider: SUCCESS; ours: {payment.status}"
        mismatches.append(
            ReconciliationMismatch(
                kind=MismatchKind.STATUS_DIFFERS if detail else MismatchKind.MISSING_AT_HOSPITAL,
                reference=row.reference,
                record_type=row.record_type,
                provider_amount=row.amount,
                detail=detail,
            )
        )
    for (kind, reference), amount in sorted(ours.items()):
        mismatches.append(
            ReconciliationMismatch(
                kind=MismatchKind.MISSING_AT_PROVIDER,
                reference=reference,
                record_type=kind,
                hospital_amount=amount,
            )
        )
    with transaction.atomic():
        run = Reconciliation.objects.create(
            provider=provider.code,
            date=date,
            file_name=file_name[:200],
            file_sha256=hashlib.sha256(data).hexdigest(),
            statement_rows=len(statement),
            matched=matched,
            provider_total=provider_total,
            hospital_total=hospital_total,
            created_by=actor,
        )
        for mismatch in mismatches:
            mismatch.reconciliation = run
        ReconciliationMismatch.objects.bulk_create(mismatches)
        record(
            actor,
            AuditAction.CREATE,
            obj=run,
            detail={"provider": provider.code, "date": date.isoformat(), "mismatches": len(mismatches)},
            actor_username="billing-reconciliation",
        )
    return run


def reconcile_from_provider(provider_code: str, date: dt.date, actor: Any = None) -> Reconciliation | None:
    """Download the provider's statement (when it offers one) and reconcile the day."""
    provider = get_provider(provider_code)
    data = provider.statement(date)
    if data is None:
        return None
    return reconcile(actor, provider.code, date, data, file_name=f"{provider.code}-{date.isoformat()}.csv")


def reconcile_yesterday() -> int:
    """The daily job: each provider with a statement, once per day."""
    from smartcare.billing.providers.base import providers
    from smartcare.core import clock

    yesterday = clock.today() - dt.timedelta(days=1)
    done = 0
    for code in providers():
        if Reconciliation.objects.filter(provider=code, date=yesterday, created_by__isnull=True).exists():
            continue
        if reconcile_from_provider(code, yesterday) is not None:
            done += 1
    return done
