"""Billing pages: the patient's bills and QR payment (phone first, elderly mode from the base
template), receipts in the electronic-invoice layout, the cashier window, the kiosk, refunds and
their approval, prices, insurance policies, reconciliation, the cash report and the ledger, and
the sandbox gateway's wallet page."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.billing import ledger, reconciliation, reports, selectors, services
from smartcare.billing.api import channel_for, notify_url
from smartcare.billing.catalog import price_at
from smartcare.billing.choices import ItemKind, PaymentStatus, RefundStatus
from smartcare.billing.errors import SandboxOrderClosed
from smartcare.billing.models import (
    CatalogItem,
    InsurancePolicy,
    LedgerAccount,
    Payment,
    Reconciliation,
    Refund,
    Settlement,
)
from smartcare.billing.providers.base import providers, qr_providers
from smartcare.billing.sandbox_gateway import SandboxGateway
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, NotFound, PermissionDenied
from smartcare.core.permissions import has_capability, require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

# Refusals are answered by the error page (401/403/404), never hidden behind a redirect.
DENIED = (401, 403, 404)


def qr_svg(content: str, scale: int = 5) -> str:
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="svg", scale=scale, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


# --- Patient ---------------------------------------------------------------------------------------


def mine(request: HttpRequest) -> HttpResponse:
    """The patient's bills (own and linked family members')."""
    user: Any = request.user
    require_capability(user, "patients.view_own")
    patients = list(Patient.objects.visible_to(user).order_by("pk"))
    for patient in patients:
        record(user, AuditAction.READ, patient=patient, obj=patient, detail={"event": "bills"})
    rows = [selectors.bill_view(bill) for bill in selectors.bills_of(patients)]
    return render(request, "billing/mine.html", {"rows": rows, "patients": patients})


@login_required
def bill_detail(request: HttpRequest, bill_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "billing.pay")
    bill = services.open_bill(user, bill_id)
    record(user, AuditAction.READ, patient=bill.patient_id, obj=bill)
    view = selectors.bill_view(bill)
    return render(
        request,
        "billing/bill.html",
        {
            "view": view,
            "bill": bill,
            "qr_providers": qr_providers(),
            "receipts": selectors.receipts_of(bill),
            "is_cashier": has_capability(user, "billing.cashier"),
        },
    )


@login_required
@require_POST
def pay(request: HttpRequest, bill_id: int) -> HttpResponse:
    """Start a QR payment (the patient's phone, a kiosk, or the window showing the QR code)."""
    user: Any = request.user
    provider = request.POST.get("provider") or (qr_providers()[0].code if qr_providers() else "")
    try:
        started = services.start_payment(
            user,
            bill_id,
            provider=provider,
            channel=channel_for(user, request.POST.get("channel")),
            notify_url=notify_url(request, provider),
        )
    except CodedError as exc:
        if exc.status in DENIED:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
        return redirect("billing:bill", bill_id=bill_id)
    if started.payment is None:
        messages.success(request, _("Settled: the insurance pays everything."))
        return redirect("billing:receipt", settlement_id=started.settlement.pk)
    return redirect("billing:payment", payment_id=started.payment.pk)


def _payment_context(payment: Payment) -> dict[str, Any]:
    return {
        "payment": payment,
        "qr": qr_svg(payment.code_url)
        if payment.code_url and payment.status == PaymentStatus.PENDING
        else "",
        "seconds_left": max(0, int((payment.expires_at - clock.now()).total_seconds()))
        if payment.expires_at
        else 0,
    }


@login_required
def payment(request: HttpRequest, payment_id: int) -> HttpResponse:
    """The QR code to scan (or open in the wallet on this phone) and the live status."""
    found = services.refresh_payment(request.user, payment_id)
    record(request.user, AuditAction.READ, patient=found.patient_id, obj=found)
    return render(request, "billing/payment.html", _payment_context(found))


@login_required
def payment_status(request: HttpRequest, payment_id: int) -> HttpResponse:
    """The status part of the payment page (polled by htmx every few seconds)."""
    found = services.refresh_payment(request.user, payment_id)
    response = render(request, "billing/_payment_status.html", _payment_context(found))
    if found.status == PaymentStatus.PAID:
        response["HX-Redirect"] = f"/billing/receipts/{found.settlement_id}/"
    return response


@login_required
@require_POST
def cancel_payment(request: HttpRequest, payment_id: int) -> HttpResponse:
    try:
        found = services.cancel_payment(request.user, payment_id)
    except CodedError as exc:
        if exc.status in DENIED:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
        return redirect("billing:payment", payment_id=payment_id)
    return redirect("billing:bill", bill_id=found.bill_id)


@login_required
def receipt(request: HttpRequest, settlement_id: int) -> HttpResponse:
    """The electronic invoice (医疗收费电子票据) of one settlement."""
    user: Any = request.user
    require_capability(user, "billing.pay")
    settlement = (
        Settlement.objects.select_related("bill__patient", "bill__department", "policy__scheme")
        .filter(pk=settlement_id, kind="settlement", status="confirmed")
        .first()
    )
    if settlement is None:
        raise NotFound()
    patient = access_patient(user, settlement.patient_id, AccessAction.VIEW, obj=settlement, reason="receipt")
    from smartcare.organization.models import Hospital

    found_payment = Payment.objects.filter(settlement=settlement).first()
    return render(
        request,
        "billing/receipt.html",
        {
            "settlement": settlement,
            "patient": patient,
            "payment": found_payment,
            "hospital": Hospital.objects.first(),
            "check_code": check_code(settlement),
            **selectors.receipt_lines(settlement),
        },
    )


def check_code(settlement: Settlement) -> str:
    """The receipt's check code (校验码): six digits of an HMAC over its number and amounts, so a
    printed receipt can be checked against the books."""
    import hashlib
    import hmac

    from django.conf import settings

    message = f"{settlement.number}|{settlement.total_amount}|{settlement.insurer_amount}|{settlement.patient_amount}"
    digest = hmac.new(settings.SECRET_KEY.encode(), message.encode(), hashlib.sha256).hexdigest()
    return f"{int(digest[:12], 16) % 1_000_000:06d}"


# --- Sandbox wallet (the provider's page the QR code opens) ----------------------------------------


def sandbox_pay(request: HttpRequest, token: str) -> HttpResponse:
    """What a wallet app shows after scanning: merchant, amount, confirm. No sign-in (the link
    is the unguessable token, as a QR code's content is)."""
    gateway = SandboxGateway()
    order = gateway.order_for_token(token)
    if order is None:
        raise NotFound()
    error: CodedError | None = None
    status = 200
    if request.method == "POST":
        try:
            order = gateway.pay(token)
        except SandboxOrderClosed as exc:
            error, status = exc, exc.status
    expired = order.state == "NOTPAY" and order.expires_at <= clock.now()
    return render(
        request,
        "billing/sandbox_pay.html",
        {"order": order, "amount": f"{order.amount_fen / 100:.2f}", "error": error, "expired": expired},
        status=status,
    )


# --- Cashier window and kiosk -------------------------------------------------------------------


def _patient_bills(patient: Patient) -> list[selectors.BillView]:
    return [selectors.bill_view(b) for b in selectors.bills_of([patient], limit=30)]


@login_required
def cashier(request: HttpRequest) -> HttpResponse:
    """Scan the patient's one code (or type the medical record number): open bills to pay,
    refunds to pay out."""
    user: Any = request.user
    require_capability(user, "billing.cashier")
    code = (request.GET.get("code") or "").strip()
    patient = None
    rows: list[selectors.BillView] = []
    if code:
        if not code.startswith("P"):
            found = (
                Patient.objects.filter(medical_record_number=code).values_list("one_code", flat=True).first()
            )
            code = found or code
        patient = access_patient(user, code, AccessAction.VIEW, reason="cashier window")
        rows = _patient_bills(patient)
    return render(
        request,
        "billing/cashier.html",
        {
            "patient": patient,
            "rows": rows,
            "code": request.GET.get("code", ""),
            "qr_providers": qr_providers(),
            "today": reports.cash_report(clock.today(), cashier_id=user.pk),
        },
    )


@login_required
@require_POST
def cashier_pay(request: HttpRequest, bill_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "billing.cashier")
    method = request.POST.get("method", "")
    bill = services.open_bill(user, bill_id)
    back = f"/billing/cashier/?code={bill.patient.one_code}"
    try:
        if method == "qr":
            provider = request.POST.get("provider") or qr_providers()[0].code
            started = services.start_payment(
                user, bill_id, provider=provider, channel="desk", notify_url=notify_url(request, provider)
            )
        else:
            started = services.start_payment(
                user, bill_id, provider="cashier", method=method, reference=request.POST.get("reference", "")
            )
    except CodedError as exc:
        if exc.status in DENIED:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
        return redirect(back)
    if started.payment is not None and started.payment.status == PaymentStatus.PENDING:
        return redirect("billing:payment", payment_id=started.payment.pk)
    messages.success(request, _("Paid. The receipt is ready."))
    return redirect("billing:receipt", settlement_id=started.settlement.pk)


@login_required
def refund_form(request: HttpRequest, bill_id: int) -> HttpResponse:
    """Refund some or all of a paid bill's lines (returned drugs, a cancelled exam)."""
    user: Any = request.user
    require_capability(user, "billing.cashier")
    bill = services.open_bill(user, bill_id)
    error: CodedError | None = None
    status = 200
    if request.method == "POST":
        lines = []
        for key in request.POST:
            value = str(request.POST.get(key, "")).strip()
            if key.startswith("qty-") and value and value != "0":
                lines.append((key[4:], value))
        try:
            refund = services.request_refund(user, bill.pk, lines, request.POST.get("reason", ""))
            if refund.status == RefundStatus.REQUESTED:
                messages.info(request, _("The refund waits for approval by a billing manager."))
            else:
                messages.success(request, _("Refunded."))
            return redirect("billing:bill", bill_id=bill.pk)
        except CodedError as exc:
            if exc.status in DENIED:
                raise
            error, status = exc, exc.status
    view = selectors.bill_view(bill, with_preview=False)
    record(user, AuditAction.READ, patient=bill.patient_id, obj=bill, detail={"event": "refund_form"})
    return render(
        request,
        "billing/refund.html",
        {"view": view, "bill": bill, "error": error, "threshold": services.refund_threshold()},
        status=status,
    )


@login_required
@require_POST
def pay_out(request: HttpRequest, payout_id: int) -> HttpResponse:
    user: Any = request.user
    try:
        payout = services.pay_out_at_desk(user, payout_id)
        messages.success(request, _("Refund paid out."))
        return redirect("billing:bill", bill_id=payout.payment.bill_id)
    except CodedError as exc:
        if exc.status in DENIED:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
        return redirect("billing:cashier")


@login_required
def kiosk(request: HttpRequest) -> HttpResponse:
    """The kiosk: the patient scans their one code, sees what is open and pays by QR."""
    user: Any = request.user
    require_capability(user, "billing.kiosk")
    patient = None
    rows: list[selectors.BillView] = []
    error: CodedError | None = None
    status = 200
    code = (request.POST.get("code") or request.GET.get("code") or "").strip()
    if code:
        from smartcare.visits.services import present_code

        try:
            patient = (
                present_code(user, code)
                if request.method == "POST"
                else access_patient(user, code, AccessAction.VIEW, reason="kiosk payment")
            )
            rows = [r for r in _patient_bills(patient) if r.to_pay > 0 or r.pending_payment]
        except CodedError as exc:
            if exc.status != 404:
                raise
            error, status = exc, 404
    return render(
        request, "billing/kiosk.html", {"patient": patient, "rows": rows, "error": error}, status=status
    )


# --- Managers ------------------------------------------------------------------------------------


@login_required
def cash_report(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    manage = has_capability(user, "billing.manage")
    if not manage:
        require_capability(user, "billing.cashier")
    date = parse_date(request.GET.get("date", "")) or clock.today()
    rows = reports.cash_report(date, cashier_id=None if manage else user.pk)
    if request.GET.get("format") == "csv":
        response = HttpResponse(reports.report_csv(date, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="cash-{date.isoformat()}.csv"'
        return response
    return render(request, "billing/cash_report.html", {"rows": rows, "date": date, "manage": manage})


@login_required
def refunds(request: HttpRequest) -> HttpResponse:
    """Refunds waiting for approval (shown without the patient's identity) and recent ones."""
    require_capability(request.user, "billing.approve_refund")
    return render(
        request,
        "billing/refunds.html",
        {
            "waiting": selectors.refunds_waiting_approval().prefetch_related("lines__charge"),
            "recent": Refund.objects.exclude(status=RefundStatus.REQUESTED).select_related("bill")[:30],
            "threshold": services.refund_threshold(),
        },
    )


@login_required
@require_POST
def decide_refund(request: HttpRequest, refund_id: int) -> HttpResponse:
    user: Any = request.user
    try:
        if request.POST.get("decision") == "approve":
            services.approve_refund(user, refund_id, request.POST.get("note", ""))
            messages.success(request, _("Refund approved and carried out."))
        else:
            services.reject_refund(user, refund_id, request.POST.get("note", ""))
            messages.info(request, _("Refund rejected."))
    except CodedError as exc:
        if exc.status in DENIED:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect("billing:refunds")


@login_required
def catalog(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "billing.manage")
    query = request.GET.get("q", "").strip()
    kind = request.GET.get("kind", "")
    rows = CatalogItem.objects.all()
    if kind:
        rows = rows.filter(kind=kind)
    if query:
        rows = (
            rows.filter(name_zh__icontains=query)
            | rows.filter(name_en__icontains=query)
            | rows.filter(code__icontains=query)
        )
    now = clock.now()
    items = [
        (item, price_at(item, now), list(item.prices.all()[:5]))
        for item in rows.order_by("kind", "code")[:100]
    ]
    return render(
        request,
        "billing/catalog.html",
        {"items": items, "query": query, "kind": kind, "kinds": ItemKind.choices},
    )


@login_required
@require_POST
def set_price(request: HttpRequest, item_id: int) -> HttpResponse:
    raw = request.POST.get("valid_from", "").strip()
    valid_from = parse_datetime(raw) if raw else None
    if valid_from is not None and valid_from.tzinfo is None:
        from django.utils import timezone

        valid_from = timezone.make_aware(valid_from)
    try:
        services.set_price(
            request.user,
            item_id,
            amount=request.POST.get("amount", ""),
            valid_from=valid_from,
            reason=request.POST.get("reason", ""),
        )
        messages.success(request, _("New price saved."))
    except CodedError as exc:
        if exc.status in DENIED:
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect(f"/billing/catalog/?q={request.POST.get('q', '')}")


@login_required
def policies(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "billing.manage")
    rows = (
        InsurancePolicy.objects.select_related("scheme")
        .prefetch_related("rules")
        .order_by("scheme__code", "-year")
    )
    return render(request, "billing/policies.html", {"policies": rows})


@login_required
def policy(request: HttpRequest, policy_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "billing.manage")
    found = InsurancePolicy.objects.select_related("scheme").filter(pk=policy_id).first()
    if found is None:
        raise NotFound()
    error: CodedError | None = None
    status = 200
    if request.method == "POST":
        if request.POST.get("copy_to_year"):
            try:
                copy = services.copy_policy(user, found.pk, int(request.POST["copy_to_year"]))
                return redirect("billing:policy", policy_id=copy.pk)
            except (ValueError, CodedError) as exc:
                error = exc if isinstance(exc, CodedError) else InvalidInput(field="year")
                status = error.status
        else:
            values = {
                k: request.POST[k]
                for k in ("class_b_self_pay_share", "outpatient_annual_cap", "inpatient_annual_cap", "notes")
                if k in request.POST
            }
            rules: dict[int, dict[str, Any]] = {}
            for key, value in request.POST.items():
                if key.startswith("rule-"):
                    _prefix, rule_id, name = key.split("-", 2)
                    if rule_id.isdigit():
                        rules.setdefault(int(rule_id), {})[name] = value
            excluded = request.POST.get("excluded")
            try:
                services.update_policy(
                    user,
                    found.pk,
                    values=values,
                    rules=rules,
                    excluded_codes=excluded.replace(",", " ").split() if excluded is not None else None,
                )
                messages.success(request, _("Policy saved."))
                return redirect("billing:policy", policy_id=found.pk)
            except CodedError as exc:
                error, status = exc, exc.status
        found.refresh_from_db()
    return render(
        request,
        "billing/policy.html",
        {
            "policy": found,
            "rules": found.rules.order_by("care_setting", "hospital_level"),
            "excluded": " ".join(found.excluded_items.values_list("code", flat=True)),
            "error": error,
            "errors": getattr(error, "errors", {}),
        },
        status=status,
    )


@login_required
def reconciliations(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "billing.manage")
    error: CodedError | None = None
    status = 200
    if request.method == "POST":
        provider = request.POST.get("provider", "")
        date = parse_date(request.POST.get("date", "")) or (clock.today() - dt.timedelta(days=1))
        upload = request.FILES.get("statement")
        try:
            run: Reconciliation | None
            if upload is not None:
                run = reconciliation.reconcile(
                    user, provider, date, upload.read(), file_name=upload.name or ""
                )
            else:
                run = reconciliation.reconcile_from_provider(provider, date, actor=user)
                if run is None:
                    raise InvalidInput(_("This provider has no statement to download; upload the file."))
            return redirect("billing:reconciliation", reconciliation_id=run.pk)
        except CodedError as exc:
            if exc.status in DENIED:
                raise
            error, status = exc, exc.status
    return render(
        request,
        "billing/reconciliations.html",
        {
            "runs": Reconciliation.objects.all()[:30],
            "providers": list(providers().values()),
            "yesterday": clock.today() - dt.timedelta(days=1),
            "error": error,
        },
        status=status,
    )


@login_required
def reconciliation_detail(request: HttpRequest, reconciliation_id: int) -> HttpResponse:
    require_capability(request.user, "billing.manage")
    run = Reconciliation.objects.filter(pk=reconciliation_id).first()
    if run is None:
        raise NotFound()
    return render(request, "billing/reconciliation.html", {"run": run, "mismatches": run.mismatches.all()})


@login_required
def ledger_page(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "billing.manage")
    debit, credit = ledger.trial_balance()
    accounts = [(a, ledger.balance(a.code)) for a in LedgerAccount.objects.all()]
    return render(
        request,
        "billing/ledger.html",
        {"debit": debit, "credit": credit, "accounts": accounts, "unbalanced": ledger.unbalanced_entries()},
    )


@login_required
def billing_home(request: HttpRequest) -> HttpResponse:
    """``/billing/``: the patient's bills; other roles go where their billing work starts."""
    user: Any = request.user
    if has_capability(user, "patients.view_own"):
        return mine(request)
    for capability, target in (
        ("billing.cashier", "billing:cashier"),
        ("billing.kiosk", "billing:kiosk"),
        ("billing.manage", "billing:cash_report"),
    ):
        if has_capability(user, capability):
            return redirect(target)
    raise PermissionDenied()
