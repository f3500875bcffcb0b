"""Billing API: bills with the insurance split, payments, the providers' callbacks, refunds,
cash reports, reconciliation. Amounts are JSON strings with two decimals ("12.50"), never floats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.billing import ledger, reconciliation, reports, selectors, services
from smartcare.billing.choices import PaymentChannel
from smartcare.billing.models import CatalogItem, Payment, Refund
from smartcare.billing.providers.base import get_provider
from smartcare.core import clock
from smartcare.core.errors import InvalidInput
from smartcare.core.permissions import has_capability, require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

router = Router(tags=["billing"])


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def channel_for(user: Any, requested: str | None) -> str:
    role = getattr(user, "role", "")
    if role == "device":
        return PaymentChannel.KIOSK
    if role == "channel":
        return PaymentChannel.APP
    if role == "front_desk":
        return PaymentChannel.DESK
    return requested if requested in PaymentChannel.values else PaymentChannel.PORTAL


def notify_url(request: HttpRequest, provider: str) -> str:
    from django.conf import settings

    if getattr(settings, "SMARTCARE_PUBLIC_URL", ""):
        return services.default_notify_url(provider)
    return request.build_absolute_uri(services.notify_path(provider))


class LineOut(Schema):
    charge_id: int
    kind: str
    name: str
    category: str
    unit: str
    unit_price: str
    quantity: str
    amount: str
    state: str
    insurer: str | None
    patient: str | None
    reasons: list[str]


class PaymentOut(Schema):
    id: int
    bill_id: int
    provider: str
    method: str
    status: str
    amount: str
    out_trade_no: str
    code_url: str
    expires_at: dt.datetime | None
    paid_at: dt.datetime | None
    receipt: str | None


class BillOut(Schema):
    id: int
    number: str
    patient_id: int
    kind: str
    opened_at: dt.datetime
    department: str | None
    status: str
    charged: str
    insurer: str
    patient_share: str
    paid: str
    paid_back: str
    owed_back: str
    to_pay: str
    to_pay_insurer: str
    lines: list[LineOut]
    pending_payment: PaymentOut | None


def payment_out(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.pk,
        "bill_id": payment.bill_id,
        "provider": payment.provider,
        "method": payment.method,
        "status": payment.status,
        "amount": money(payment.amount),
        "out_trade_no": payment.out_trade_no,
        "code_url": payment.code_url,
        "expires_at": payment.expires_at,
        "paid_at": payment.paid_at,
        "receipt": f"/billing/receipts/{payment.settlement_id}/" if payment.status == "paid" else None,
    }


def bill_out(view: selectors.BillView) -> dict[str, Any]:
    bill = view.bill
    return {
        "id": bill.pk,
        "number": bill.number,
        "patient_id": bill.patient_id,
        "kind": bill.kind,
        "opened_at": bill.opened_at,
        "department": bill.department.name if bill.department_id and bill.department else None,
        "status": view.status,
        "charged": money(view.charged),
        "insurer": money(view.insurer),
        "patient_share": money(view.patient_share),
        "paid": money(view.paid),
        "paid_back": money(view.paid_back),
        "owed_back": money(view.owed_back),
        "to_pay": money(view.to_pay),
        "to_pay_insurer": money(view.to_pay_insurer),
        "lines": [
            {
                "charge_id": line.charge.pk,
                "kind": line.charge.kind,
                "name": line.charge.name,
                "category": line.charge.insurance_category,
                "unit": line.charge.unit,
                "unit_price": money(line.charge.unit_price),
                "quantity": f"{line.quantity.normalize():f}",
                "amount": money(line.amount),
                "state": line.state,
                "insurer": money(line.insurer),
                "patient": money(line.patient),
                "reasons": line.reasons,
            }
            for line in view.lines
        ],
        "pending_payment": payment_out(view.pending_payment) if view.pending_payment else None,
    }


@router.get("/bills", response=list[BillOut], summary="Bills of the patient (own, or the one given)")
def bills(request: HttpRequest, patient_id: int | None = None) -> list[dict[str, Any]]:
    user: Any = request.user
    require_capability(user, "billing.pay")
    if patient_id is not None:
        patients: Any = [access_patient(user, patient_id, AccessAction.VIEW, reason="bills")]
    elif user.role == "patient":
        patients = list(Patient.objects.visible_to(user))
        for patient in patients:
            record(user, AuditAction.READ, patient=patient, obj=patient, detail={"event": "bills"})
    else:
        raise InvalidInput(field="patient_id")
    return [bill_out(selectors.bill_view(bill)) for bill in selectors.bills_of(patients, limit=20)]


@router.get(
    "/bills/{bill_id}", response=BillOut, summary="One bill: every line, the insurance split, what to pay"
)
def bill(request: HttpRequest, bill_id: int) -> dict[str, Any]:
    require_capability(request.user, "billing.pay")
    found = services.open_bill(request.user, bill_id)
    record(request.user, AuditAction.READ, patient=found.patient_id, obj=found)
    return bill_out(selectors.bill_view(found))


class PayIn(Schema):
    provider: str = Field(description="sandbox (QR), or cashier at the desk")
    method: str = Field(default="", description="cashier: cash or card")
    reference: str = Field(default="", description="card terminal reference")
    channel: str | None = None


class PayOut(Schema):
    settlement_id: int
    total: str
    insurer: str
    patient: str
    payment: PaymentOut | None


@router.post(
    "/bills/{bill_id}/payments", response={201: PayOut}, summary="Settle and pay the bill's open charges"
)
def pay(request: HttpRequest, bill_id: int, payload: PayIn) -> Status:
    started = services.start_payment(
        request.user,
        bill_id,
        provider=payload.provider,
        channel=channel_for(request.user, payload.channel),
        method=payload.method,
        reference=payload.reference,
        notify_url=notify_url(request, payload.provider),
    )
    settlement = started.settlement
    return Status(
        201,
        {
            "settlement_id": settlement.pk,
            "total": money(settlement.total_amount),
            "insurer": money(settlement.insurer_amount),
            "patient": money(settlement.patient_amount),
            "payment": payment_out(started.payment) if started.payment else None,
        },
    )


@router.get("/payments/{payment_id}", response=PaymentOut, summary="Payment status (asks the provider)")
def payment_status(request: HttpRequest, payment_id: int) -> dict[str, Any]:
    return payment_out(services.refresh_payment(request.user, payment_id))


@router.post("/payments/{payment_id}/cancel", response=PaymentOut, summary="Close a pending QR payment")
def cancel_payment(request: HttpRequest, payment_id: int) -> dict[str, Any]:
    return payment_out(services.cancel_payment(request.user, payment_id))


@router.post(
    "/notify/{provider}",
    auth=None,
    summary="The payment provider's asynchronous notification (signed; no sign-in)",
    response={200: dict[str, str]},
)
def provider_notification(request: HttpRequest, provider: str) -> dict[str, str]:
    headers = dict(request.headers.items())
    outcome = services.handle_notification(provider, headers, request.body)
    return {"code": "SUCCESS", "outcome": outcome}


class RefundLineIn(Schema):
    charge_id: int
    quantity: str


class RefundIn(Schema):
    lines: list[RefundLineIn]
    reason: str


class RefundOut(Schema):
    id: int
    number: str
    bill_id: int
    status: str
    total: str
    insurer_returned: str
    patient_returned: str
    reason: str


def refund_out(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.pk,
        "number": refund.number,
        "bill_id": refund.bill_id,
        "status": refund.status,
        "total": money(refund.total_amount),
        "insurer_returned": money(refund.insurer_amount),
        "patient_returned": money(refund.patient_amount),
        "reason": refund.reason,
    }


@router.post(
    "/bills/{bill_id}/refunds", response={201: RefundOut}, summary="Request a full or partial refund"
)
def request_refund(request: HttpRequest, bill_id: int, payload: RefundIn) -> Status:
    refund = services.request_refund(
        request.user, bill_id, [(line.charge_id, line.quantity) for line in payload.lines], payload.reason
    )
    refund.refresh_from_db()
    return Status(201, refund_out(refund))


class DecisionIn(Schema):
    note: str = ""


@router.post(
    "/refunds/{refund_id}/approve", response=RefundOut, summary="Approve a refund above the threshold"
)
def approve_refund(request: HttpRequest, refund_id: int, payload: DecisionIn) -> dict[str, Any]:
    refund = services.approve_refund(request.user, refund_id, payload.note)
    refund.refresh_from_db()
    return refund_out(refund)


@router.post("/refunds/{refund_id}/reject", response=RefundOut, summary="Reject a refund request")
def reject_refund(request: HttpRequest, refund_id: int, payload: DecisionIn) -> dict[str, Any]:
    return refund_out(services.reject_refund(request.user, refund_id, payload.note))


class CatalogOut(Schema):
    code: str
    kind: str
    name_zh: str
    name_en: str
    unit: str
    category: str
    price: str | None


@router.get("/catalog", response=list[CatalogOut], summary="The price list (public prices, 价格公示)")
def price_list(request: HttpRequest, kind: str | None = None, q: str = "") -> list[dict[str, Any]]:
    from smartcare.billing.catalog import price_at

    rows = CatalogItem.objects.filter(is_active=True)
    if kind:
        rows = rows.filter(kind=kind)
    if q:
        rows = (
            rows.filter(name_zh__icontains=q)
            | rows.filter(name_en__icontains=q)
            | rows.filter(code__icontains=q)
        )
    now = clock.now()
    result = []
    for item in rows.order_by("kind", "code")[:500]:
        price = price_at(item, now)
        result.append(
            {
                "code": item.code,
                "kind": item.kind,
                "name_zh": item.name_zh,
                "name_en": item.name_en,
                "unit": item.unit,
                "category": item.insurance_category,
                "price": money(price.amount) if price else None,
            }
        )
    return result


class CashierDayOut(Schema):
    cashier: str
    cash_received: str
    card_received: str
    cash_paid_out: str
    card_paid_out: str
    cash_in_drawer: str
    payments: int
    refunds: int
    qr_at_window: int


@router.get("/reports/cash", response=list[CashierDayOut], summary="Daily cash report per cashier")
def cash_report(request: HttpRequest, date: dt.date | None = None) -> list[dict[str, Any]]:
    user: Any = request.user
    if has_capability(user, "billing.manage"):
        cashier_id = None
    else:
        require_capability(user, "billing.cashier")
        cashier_id = user.pk
    rows = reports.cash_report(date or clock.today(), cashier_id=cashier_id)
    return [
        {
            key: money(value) if isinstance(value, Decimal) else value
            for key, value in reports.as_dict(day).items()
        }
        for day in rows
    ]


class ReconcileIn(Schema):
    provider: str
    date: dt.date
    statement: str | None = Field(default=None, description="CSV text; empty: download from the provider")


class MismatchOut(Schema):
    kind: str
    record_type: str
    reference: str
    hospital_amount: str | None
    provider_amount: str | None
    detail: str


class ReconciliationOut(Schema):
    id: int
    provider: str
    date: dt.date
    statement_rows: int
    matched: int
    provider_total: str
    hospital_total: str
    mismatches: list[MismatchOut]


@router.post(
    "/reconciliations", response={201: ReconciliationOut}, summary="Reconcile a day against a statement"
)
def reconcile(request: HttpRequest, payload: ReconcileIn) -> Status:
    require_capability(request.user, "billing.manage")
    if payload.statement:
        run = reconciliation.reconcile(
            request.user, payload.provider, payload.date, payload.statement.encode(), file_name="api"
        )
    else:
        data = get_provider(payload.provider).statement(payload.date)
        if data is None:
            raise InvalidInput(field="statement")
        run = reconciliation.reconcile(
            request.user, payload.provider, payload.date, data, file_name="download"
        )
    return Status(
        201,
        {
            "id": run.pk,
            "provider": run.provider,
            "date": run.date,
            "statement_rows": run.statement_rows,
            "matched": run.matched,
            "provider_total": money(run.provider_total),
            "hospital_total": money(run.hospital_total),
            "mismatches": [
                {
                    "kind": m.kind,
                    "record_type": m.record_type,
                    "reference": m.reference,
                    "hospital_amount": money(m.hospital_amount),
                    "provider_amount": money(m.provider_amount),
                    "detail": m.detail,
                }
                for m in run.mismatches.all()
            ],
        },
    )


class BalanceOut(Schema):
    debit: str
    credit: str
    balanced: bool
    accounts: dict[str, str]


@router.get("/ledger/trial-balance", response=BalanceOut, summary="Trial balance of the ledger")
def trial_balance(request: HttpRequest) -> dict[str, Any]:
    require_capability(request.user, "billing.manage")
    from smartcare.billing.models import LedgerAccount

    debit, credit = ledger.trial_balance()
    accounts = {a.code: money(ledger.balance(a.code)) or "0.00" for a in LedgerAccount.objects.all()}
    return {"debit": money(debit), "credit": money(credit), "balanced": debit == credit, "accounts": accounts}
