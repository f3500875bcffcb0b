"""Every write of billing: charges, settlements, payments, refunds, prices and policies.

Guarantees:

* Each service is atomic; bad input raises a coded error and writes nothing.
* Patient data is opened only through ``access_patient`` (the service records its own audit
  event for what it wrote).
* Money is ``Decimal`` rounded half up to the fen; a settlement's shares add up to its total (a
  database check), and every settlement, reversal, payment and payout posts one balanced journal
  entry (``ledger.post``).
* Nothing charged, settled, paid or refunded is deleted or has its amount changed. A refund adds
  negative correction charges, reverses the settlements it touches with negative copies, settles
  what is left anew, and pays the difference back through the original payments.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.billing import catalog, ledger
from smartcare.billing.choices import (
    BillKind,
    CareSetting,
    ChargeStatus,
    DeductibleBasis,
    EntryKind,
    ItemKind,
    NotificationOutcome,
    PaymentChannel,
    PaymentMethod,
    PaymentStatus,
    PayoutStatus,
    RefundStatus,
    SettlementKind,
    SettlementStatus,
)
from smartcare.billing.errors import (
    InvalidAmount,
    InvalidPolicy,
    NothingToPay,
    NotificationMismatch,
    NotPriced,
    OwnRefundApproval,
    PaymentExpired,
    PaymentInProgress,
    ProviderError,
    RefundNotAllowed,
    RefundTooLarge,
)
from smartcare.billing.insurance import SELF_PAY_SCHEME, LineInput, Result, Terms, Usage, settle_lines
from smartcare.billing.models import (
    Bill,
    CatalogItem,
    Charge,
    InsurancePolicy,
    InsuranceScheme,
    Payment,
    PolicyRule,
    Price,
    ProviderNotification,
    Refund,
    RefundLine,
    RefundPayout,
    Settlement,
    SettlementLine,
)
from smartcare.billing.money import ZERO, fen, parse_amount, quantity, round_fen
from smartcare.billing.providers.base import OrderRequest, get_provider
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

logger = logging.getLogger("smartcare.billing")

LIVE = (SettlementStatus.PENDING, SettlementStatus.CONFIRMED)
ORDER_KINDS = {
    "medication": ItemKind.DRUG,
    "lab": ItemKind.LAB,
    "imaging": ItemKind.IMAGING,
    "procedure": ItemKind.PROCEDURE,
}


def payment_expiry() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "SMARTCARE_PAYMENT_EXPIRY_MINUTES", 15)))


def refund_threshold() -> Decimal:
    return Decimal(str(getattr(settings, "SMARTCARE_REFUND_APPROVAL_THRESHOLD", "200.00")))


def hospital_level() -> int:
    from smartcare.organization.models import Hospital

    level = Hospital.objects.values_list("level", flat=True).first() or "3"
    digit = level.strip()[:1]
    return int(digit) if digit in ("1", "2", "3") else 3


def local_year(moment: dt.datetime | None = None) -> int:
    return timezone.localtime(moment or clock.now()).year


def _username(user: Any) -> str:
    return getattr(user, "username", "") or "system"


# --- Access --------------------------------------------------------------------------------------


def open_bill(actor: Any, bill_id: Any, *, lock: bool = False) -> Bill:
    """The bill, if the actor may see its patient (otherwise NotFound, as for a missing bill)."""
    try:
        pk = int(bill_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    rows = Bill.objects.select_related("patient", "department")
    if lock:
        rows = rows.select_for_update(of=("self",))
    bill = rows.filter(pk=pk).first()
    if bill is None:
        raise NotFound()
    access_patient(actor, bill.patient_id, AccessAction.VIEW, obj=bill, audit=False)
    return bill


def _lock_patient(patient_id: int) -> None:
    """Serialise settlements of one patient: deductible and cap counters are read, then used."""
    Patient.objects.select_for_update().filter(pk=patient_id).values_list("pk", flat=True).first()


# --- Charges -------------------------------------------------------------------------------------


def _bill_for_appointment(appointment: Any) -> Bill:
    bill = Bill.objects.filter(appointment_id=appointment.pk).first()
    if bill is None:
        bill = Bill.objects.create(
            patient_id=appointment.patient_id,
            kind=BillKind.VISIT,
            department_id=appointment.department_id,
            appointment_id=appointment.pk,
            opened_at=appointment.created_at or clock.now(),
        )
    return bill


def _bill_for_encounter(encounter: Any) -> Bill:
    bill = Bill.objects.filter(encounter_id=encounter.pk).first()
    if bill is not None:
        return bill
    if encounter.appointment_id:
        bill = Bill.objects.filter(appointment_id=encounter.appointment_id).first()
        if bill is not None:
            Bill.objects.filter(pk=bill.pk, encounter__isnull=True).update(encounter_id=encounter.pk)
            bill.encounter_id = encounter.pk
            return bill
    return Bill.objects.create(
        patient_id=encounter.patient_id,
        kind=BillKind.STAY if encounter.kind == "inpatient" else BillKind.VISIT,
        department_id=encounter.department_id,
        appointment_id=encounter.appointment_id,
        encounter_id=encounter.pk,
        opened_at=encounter.started_at or clock.now(),
    )


def build_charge(
    bill: Bill,
    item: CatalogItem,
    price: Price,
    quantity: Decimal,
    *,
    service_date: dt.date,
    source: str,
    **extra: Any,
) -> Charge:
    """An unsaved charge of ``quantity`` of ``item`` at ``price``, with the item's names, unit and
    insurance category copied as they are today (the one place a charge row is composed; the demo
    builds its year of charges with it in bulk)."""
    return Charge(
        bill=bill,
        patient_id=bill.patient_id,
        item=item,
        price=price,
        kind=item.kind,
        name_zh=item.name_zh,
        name_en=item.name_en,
        unit=item.unit,
        insurance_category=item.insurance_category,
        unit_price=price.amount,
        quantity=quantity,
        amount=round_fen(price.amount * quantity),
        service_date=service_date,
        source=source,
        **extra,
    )


def add_charge(
    bill: Bill,
    item: CatalogItem,
    quantity: Decimal,
    *,
    source: str,
    service_date: dt.date,
    actor: Any = None,
    at: dt.datetime | None = None,
) -> Charge | None:
    """Charge ``quantity`` of ``item`` at its price at ``at``. One charge per source: a second
    call for the same booking, order or bed-day returns None."""
    if source and Charge.objects.filter(source=source, corrects__isnull=True).exists():
        return None
    moment = at or clock.now()
    price = catalog.price_at(item, moment)
    if price is None:
        raise NotPriced(item=item.code, date=timezone.localtime(moment).date().isoformat())
    try:
        with transaction.atomic():
            charge = build_charge(
                bill,
                item,
                price,
                quantity,
                service_date=service_date,
                source=source,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            charge.save(force_insert=True)
    except IntegrityError:
        return None  # the same source charged by a concurrent request
    record(
        actor,
        AuditAction.CREATE,
        patient=bill.patient_id,
        obj=charge,
        detail={"event": "charged", "source": source, "item": item.code, "amount": str(charge.amount)},
        actor_username="billing",
    )
    return charge


def catalog_loaded() -> bool:
    return CatalogItem.objects.exists()


def charge_booking(appointment: Any) -> Charge | None:
    """The registration fee of the booking's fee class (none for classes without a fee)."""
    item = catalog.exact_item(ItemKind.REGISTRATION, f"fee_class:{appointment.fee_class}")
    if item is None:
        return None
    return add_charge(
        _bill_for_appointment(appointment),
        item,
        Decimal(1),
        source=f"scheduling.appointment:{appointment.pk}",
        service_date=appointment.date,
        actor=appointment.booked_by,
        at=appointment.created_at,
    )


def charge_encounter(encounter: Any) -> Charge | None:
    """The consultation fee of an outpatient or emergency encounter; a stay opens its bill."""
    if encounter.kind == "inpatient":
        _bill_for_encounter(encounter)
        charge_bed_days(encounter)
        return None
    if encounter.kind == "emergency":
        fee_class = "emergency"
    elif encounter.appointment_id:
        fee_class = encounter.appointment.fee_class
    else:
        fee_class = "walk_in"
    item = catalog.exact_item(ItemKind.CONSULTATION, f"fee_class:{fee_class}")
    if item is None:
        return None
    attending = getattr(encounter.attending, "user", None) if encounter.attending_id else None
    began = encounter.started_at or clock.now()
    return add_charge(
        _bill_for_encounter(encounter),
        item,
        Decimal(1),
        source=f"emr.encounter:{encounter.pk}",
        service_date=timezone.localtime(began).date(),
        actor=attending,
        at=began,
    )


def order_quantity(order: Any) -> Decimal:
    """Doses for a medication (per day x days), one for anything else."""
    if order.kind == "medication" and order.frequency_per_day and order.duration_days:
        doses = Decimal(order.frequency_per_day) * Decimal(order.duration_days)
        return max(Decimal(1), doses.quantize(Decimal("1.000")))
    return Decimal(1)


def charge_order(order: Any) -> Charge | None:
    """A signed order's charge: the catalog item for the ordered drug or exam, else the kind's
    fallback item."""
    kind = ORDER_KINDS.get(order.kind)
    if kind is None:
        return None
    item = catalog.item_for(kind, f"order:{order.item}" if order.item else "")
    if item is None:
        return None
    moment = order.signed_at or clock.now()
    return add_charge(
        _bill_for_encounter(order.encounter),
        item,
        order_quantity(order),
        source=f"emr.order:{order.pk}",
        service_date=timezone.localtime(moment).date(),
        actor=order.ordered_by,
        at=moment,
    )


def charge_bed_days(encounter: Any, *, today: dt.date | None = None) -> int:
    """Bed days of a stay: the admission day counts, the discharge day does not (at least one)."""
    if encounter.kind != "inpatient" or encounter.admitted_at is None:
        return 0
    item = catalog.item_for(ItemKind.BED, "bed:standard")
    if item is None:
        return 0
    first = timezone.localtime(encounter.admitted_at).date()
    if encounter.discharged_at is not None:
        last = max(first, timezone.localtime(encounter.discharged_at).date() - dt.timedelta(days=1))
    else:
        last = today or clock.today()
    bill = _bill_for_encounter(encounter)
    count = 0
    day = first
    while day <= last:
        moment = dt.datetime.combine(day, dt.time(12, 0), tzinfo=timezone.get_current_timezone())
        if add_charge(
            bill,
            item,
            Decimal(1),
            source=f"emr.encounter:{encounter.pk}:bed:{day.isoformat()}",
            service_date=day,
            at=min(moment, clock.now()),
        ):
            count += 1
        day += dt.timedelta(days=1)
    return count


def _live_lines(**filters: Any) -> QuerySet[SettlementLine]:
    return SettlementLine.objects.filter(
        settlement__kind=SettlementKind.SETTLEMENT,
        settlement__status__in=LIVE,
        settlement__reversed_by__isnull=True,
        **filters,
    )


def cancel_source(source: str, *, reason: str, actor: Any = None) -> Charge | None:
    """The booking, order or encounter behind a charge was cancelled: an unpaid charge is
    cancelled, a paid one is refunded (a refund request, approved at once below the threshold)."""
    charge = Charge.objects.filter(source=source, corrects__isnull=True).select_related("bill").first()
    if charge is None or charge.status == ChargeStatus.CANCELLED:
        return None
    line = _live_lines(charge=charge).select_related("settlement").first()
    if line is not None and line.settlement.status == SettlementStatus.PENDING:
        payment = Payment.objects.filter(settlement=line.settlement).first()
        if payment is not None:
            _close_payment(payment, actor)
        line = _live_lines(charge=charge).select_related("settlement").first()
    if line is None:
        charge.status = ChargeStatus.CANCELLED
        charge.cancelled_at = clock.now()
        charge.cancel_reason = reason[:300]
        charge.save(update_fields=["status", "cancelled_at", "cancel_reason"])
        record(
            actor,
            AuditAction.UPDATE,
            patient=charge.patient_id,
            obj=charge,
            detail={"event": "charge_cancelled", "source": source},
            reason=reason[:300],
            actor_username="billing",
        )
        return charge
    left, _amount = net_of([charge])[charge.pk]
    if left > 0:
        request_refund(actor, charge.bill_id, [(charge.pk, left)], reason or _("Cancelled"), automatic=True)
    return charge


def net_of(charges: list[Charge]) -> dict[int, tuple[Decimal, Decimal]]:
    """Quantity and amount of each original charge after its corrections."""
    result = {c.pk: (c.quantity, c.amount) for c in charges}
    rows = (
        Charge.objects.filter(corrects_id__in=list(result))
        .values("corrects_id")
        .annotate(q=Sum("quantity"), a=Sum("amount"))
    )
    for row in rows:
        count, amount = result[row["corrects_id"]]
        result[row["corrects_id"]] = (quantity(count + quantity(row["q"])), fen(amount + fen(row["a"])))
    return result


def unsettled_charges(bill: Bill) -> list[Charge]:
    """Active charges of the bill that no live settlement covers and that still have something
    to pay after their corrections (a charge refunded in full is not owed again)."""
    settled = _live_lines(settlement__bill=bill).values("charge_id")
    charges = list(
        bill.charges.filter(corrects__isnull=True, status=ChargeStatus.ACTIVE)
        .exclude(pk__in=settled)
        .order_by("pk")
    )
    net = net_of(charges)
    return [c for c in charges if net[c.pk][0] > 0]


# --- Settlement ----------------------------------------------------------------------------------


def terms_for(scheme: str, year: int, setting: str, level: int) -> tuple[Terms, InsurancePolicy | None]:
    if scheme == SELF_PAY_SCHEME:
        return Terms(scheme=scheme), None
    policy = (
        InsurancePolicy.objects.filter(scheme__code=scheme, scheme__is_active=True, year=year)
        .prefetch_related("excluded_items")
        .first()
    )
    rule: PolicyRule | None = None
    if policy is not None:
        rules = list(policy.rules.filter(care_setting=setting))
        # No rule for this level: the nearest level's rule; between two equally near, the higher
        # level's (its lower ratios never promise the patient more than the insurer will pay).
        nearest = sorted(
            rules,
            key=lambda r: (r.hospital_level != level, abs(r.hospital_level - level), -r.hospital_level),
        )
        rule = nearest[0] if nearest else None
    if policy is None or rule is None:
        return Terms(scheme=scheme), policy
    cap = policy.outpatient_annual_cap if setting == CareSetting.OUTPATIENT else policy.inpatient_annual_cap
    return (
        Terms(
            scheme=scheme,
            policy_id=policy.pk,
            class_b_share=policy.class_b_self_pay_share,
            deductible=rule.deductible,
            deductible_basis=rule.deductible_basis,
            ratio_a=rule.ratio_class_a,
            ratio_b=rule.ratio_class_b,
            ratio_self=rule.ratio_self_pay,
            annual_cap=cap,
            excluded=frozenset(policy.excluded_items.values_list("pk", flat=True)),
        ),
        policy,
    )


def usage_for(patient_id: int, terms: Terms, year: int, setting: str, bill_id: int | None) -> Usage:
    """Deductible and insurer payments already used (live settlements and their reversals)."""
    rows = Settlement.objects.filter(
        patient_id=patient_id, year=year, care_setting=setting, scheme=terms.scheme, status__in=LIVE
    )
    insurer = fen(rows.aggregate(s=Sum("insurer_amount"))["s"])
    deductible_rows = rows
    if terms.deductible_basis == DeductibleBasis.BILL:
        deductible_rows = rows.filter(bill_id=bill_id) if bill_id is not None else rows.none()
    deductible = fen(deductible_rows.aggregate(s=Sum("deductible_applied"))["s"])
    return Usage(deductible_used=deductible, insurer_paid=insurer)


@dataclass
class Computation:
    bill: Bill
    result: Result
    terms: Terms
    policy: InsurancePolicy | None
    year: int
    setting: str
    level: int
    charges: dict[int, Charge]


def compute(bill: Bill, charges: list[Charge]) -> Computation:
    year, setting, level = local_year(), bill.care_setting, hospital_level()
    scheme = bill.patient.insurance_type or SELF_PAY_SCHEME
    terms, policy = terms_for(scheme, year, setting, level)
    usage = usage_for(bill.patient_id, terms, year, setting, bill.pk)
    net = net_of(charges)
    lines = [LineInput(c.pk, c.item_id, net[c.pk][1], c.insurance_category) for c in charges]
    return Computation(
        bill,
        settle_lines(lines, terms, usage),
        terms,
        policy,
        year,
        setting,
        level,
        {c.pk: c for c in charges},
    )


def _write_settlement(c: Computation, *, status: str, actor: Any) -> Settlement:
    result = c.result
    settlement = Settlement.objects.create(
        bill=c.bill,
        patient_id=c.bill.patient_id,
        status=status,
        scheme=c.terms.scheme,
        policy=c.policy if c.terms.policy_id else None,
        care_setting=c.setting,
        hospital_level=c.level,
        year=c.year,
        total_amount=result.total,
        insurer_amount=result.insurer,
        patient_amount=result.patient,
        deductible_applied=result.deductible,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    SettlementLine.objects.bulk_create(
        SettlementLine(
            settlement=settlement,
            charge_id=line.charge_id,
            amount=line.amount,
            insurer_amount=line.insurer,
            patient_amount=line.patient,
            deductible=line.deductible,
            reasons=line.reasons,
        )
        for line in result.lines
    )
    return settlement


def _settlement_movements(settlement: Settlement) -> list[tuple[str, Decimal]]:
    """Insurer and patient receivable against revenue by kind of charge (signed: a reversal's
    negative amounts post on the other side)."""
    movements: list[tuple[str, Decimal]] = [
        (f"insurer:{settlement.scheme}", settlement.insurer_amount),
        (ledger.PATIENTS, settlement.patient_amount),
    ]
    by_kind: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for amount, kind in settlement.lines.values_list("amount", "charge__kind"):
        by_kind[kind] += amount
    movements += [(f"revenue:{kind}", -amount) for kind, amount in sorted(by_kind.items())]
    return movements


def _confirm(settlement: Settlement, actor: Any) -> None:
    settlement.status = SettlementStatus.CONFIRMED
    settlement.confirmed_at = clock.now()
    settlement.save(update_fields=["status", "confirmed_at"])
    ledger.post(
        EntryKind.SETTLEMENT,
        _settlement_movements(settlement),
        memo=f"{settlement.number} {settlement.bill.number}",
        bill=settlement.bill,
        settlement=settlement,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _reverse(settlement: Settlement, actor: Any) -> Settlement:
    reversal = Settlement.objects.create(
        bill=settlement.bill,
        patient_id=settlement.patient_id,
        kind=SettlementKind.REVERSAL,
        status=SettlementStatus.CONFIRMED,
        reverses=settlement,
        scheme=settlement.scheme,
        policy=settlement.policy,
        care_setting=settlement.care_setting,
        hospital_level=settlement.hospital_level,
        year=settlement.year,
        total_amount=-settlement.total_amount,
        insurer_amount=-settlement.insurer_amount,
        patient_amount=-settlement.patient_amount,
        deductible_applied=-settlement.deductible_applied,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        confirmed_at=clock.now(),
    )
    SettlementLine.objects.bulk_create(
        SettlementLine(
            settlement=reversal,
            charge_id=line.charge_id,
            amount=-line.amount,
            insurer_amount=-line.insurer_amount,
            patient_amount=-line.patient_amount,
            deductible=-line.deductible,
            reasons=[{"code": "reversal", "settlement": settlement.number}],
        )
        for line in settlement.lines.all()
    )
    ledger.post(
        EntryKind.REVERSAL,
        _settlement_movements(reversal),
        memo=f"{reversal.number} reverses {settlement.number}",
        bill=settlement.bill,
        settlement=reversal,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    return reversal


def preview(actor: Any, bill_id: Any) -> Computation | None:
    """What paying now would settle: the unsettled charges split between insurer and patient,
    with the reasons. Nothing is written except the audit event of the read."""
    bill = open_bill(actor, bill_id)
    record(actor, AuditAction.READ, patient=bill.patient_id, obj=bill, detail={"event": "settlement_preview"})
    charges = unsettled_charges(bill)
    return compute(bill, charges) if charges else None


# --- Payments ------------------------------------------------------------------------------------


def _trade_no() -> str:
    return "SC" + clock.local_now().strftime("%y%m%d%H%M%S") + secrets.token_hex(5).upper()


def clearing_account(payment: Payment, cashier: Any = None) -> str:
    if payment.method == PaymentMethod.CASH:
        return f"cash:{_username(cashier or payment.cashier)}"
    if payment.method == PaymentMethod.CARD:
        return "clearing:card"
    return f"clearing:{payment.provider}"


def notify_path(provider_code: str) -> str:
    return f"/api/billing/notify/{provider_code}"


def default_notify_url(provider_code: str) -> str:
    base = getattr(settings, "SMARTCARE_PUBLIC_URL", "") or "http://127.0.0.1:8000"
    return base.rstrip("/") + notify_path(provider_code)


@dataclass
class PaymentStart:
    settlement: Settlement
    payment: Payment | None


def _description(bill: Bill) -> str:
    # What the payer's wallet shows: the hospital and the bill number, never a diagnosis.
    from smartcare.organization.models import Hospital

    hospital = Hospital.objects.values_list("name_zh", flat=True).first() or "smartcare"
    return f"{hospital} {bill.number}"[:120]


def start_payment(
    actor: Any,
    bill_id: Any,
    *,
    provider: str,
    channel: str = PaymentChannel.PORTAL,
    method: str = "",
    reference: str = "",
    notify_url: str = "",
) -> PaymentStart:
    """Settle the bill's unsettled charges in real time and open a payment order for the
    patient's share. A share of zero (all paid by the insurer) is settled at once; a desk payment
    is paid at once; a QR order waits for the provider's notification until it expires."""
    with transaction.atomic():
        started = _start_payment(actor, bill_id, provider, channel, method, reference, notify_url)
    return started


def _start_payment(
    actor: Any, bill_id: Any, provider_code: str, channel: str, method: str, reference: str, notify_url: str
) -> PaymentStart:
    require_capability(actor, "billing.pay")
    provider = get_provider(provider_code)
    if provider.uses_qr:
        method = PaymentMethod.QR
    else:
        require_capability(actor, "billing.cashier")
        if method not in provider.methods:
            raise InvalidInput(_("Choose cash or card."), field="method")
        reference = (reference or "").strip()[:64]
        if method == PaymentMethod.CARD and not reference:
            raise InvalidInput(_("Enter the card terminal's reference."), field="reference")
        channel = PaymentChannel.DESK
    if channel not in PaymentChannel.values:
        raise InvalidInput(field="channel")
    bill = open_bill(actor, bill_id, lock=True)
    for pending in Payment.objects.filter(bill=bill, status=PaymentStatus.PENDING):
        if pending.expires_at and pending.expires_at <= clock.now():
            _expire(pending)
    if Payment.objects.filter(bill=bill, status=PaymentStatus.PENDING).exists():
        raise PaymentInProgress()
    charges = unsettled_charges(bill)
    if not charges:
        raise NothingToPay()
    _lock_patient(bill.patient_id)
    computation = compute(bill, charges)
    if not computation.result.lines:
        raise NothingToPay()
    settlement = _write_settlement(computation, status=SettlementStatus.PENDING, actor=actor)
    record(
        actor,
        AuditAction.CREATE,
        patient=bill.patient_id,
        obj=settlement,
        detail={
            "event": "settled",
            "total": str(settlement.total_amount),
            "insurer": str(settlement.insurer_amount),
            "patient": str(settlement.patient_amount),
        },
    )
    if settlement.patient_amount <= 0:
        _confirm(settlement, actor)
        _tell_patient_paid(bill, settlement.total_amount, ZERO)
        return PaymentStart(settlement, None)
    now = clock.now()
    payment = Payment.objects.create(
        bill=bill,
        settlement=settlement,
        patient_id=bill.patient_id,
        provider=provider.code,
        method=method,
        channel=channel,
        amount=settlement.patient_amount,
        out_trade_no=_trade_no(),
        expires_at=now + payment_expiry() if provider.uses_qr else None,
        cashier=actor if not provider.uses_qr else None,
        created_by=actor,
    )
    created = provider.create_order(
        OrderRequest(
            out_trade_no=payment.out_trade_no,
            amount=payment.amount,
            description=_description(bill),
            notify_url=notify_url or default_notify_url(provider.code),
            expires_at=payment.expires_at or now,
            method=method,
            reference=reference,
        )
    )
    payment.provider_reference = created.provider_reference
    payment.code_url = created.code_url
    payment.save(update_fields=["provider_reference", "code_url"])
    record(
        actor,
        AuditAction.CREATE,
        patient=bill.patient_id,
        obj=payment,
        detail={
            "event": "payment_order",
            "provider": provider.code,
            "method": method,
            "amount": str(payment.amount),
        },
    )
    if created.paid:
        _apply_paid(payment, transaction_id=created.provider_reference, paid_at=created.paid_at, actor=actor)
    return PaymentStart(settlement, payment)


def _apply_paid(
    payment: Payment, *, transaction_id: str, paid_at: dt.datetime | None, actor: Any = None
) -> None:
    payment.status = PaymentStatus.PAID
    payment.paid_at = paid_at or clock.now()
    payment.provider_reference = (transaction_id or payment.provider_reference)[:64]
    payment.save(update_fields=["status", "paid_at", "provider_reference"])
    settlement = payment.settlement
    if settlement.status == SettlementStatus.PENDING:
        _confirm(settlement, actor)
    ledger.post(
        EntryKind.PAYMENT,
        [(clearing_account(payment), payment.amount), (ledger.PATIENTS, -payment.amount)],
        memo=f"{payment.out_trade_no} {payment.bill.number}",
        bill=payment.bill,
        payment=payment,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=payment.patient_id,
        obj=payment,
        detail={"event": "paid", "provider": payment.provider, "amount": str(payment.amount)},
        actor_username=f"provider:{payment.provider}",
    )
    _tell_patient_paid(payment.bill, settlement.total_amount, payment.amount)


def _tell_patient_paid(bill: Bill, total: Decimal, paid: Decimal) -> None:
    from smartcare.notifications.services import notify

    user_id = bill.patient.user_id
    if not user_id:
        return
    bill_id, user = bill.pk, bill.patient.user

    def send() -> None:
        notify(
            user,
            category="billing_paid",
            subject=_("Payment received"),
            body=_("Bill %(bill)s: %(total)s yuan settled, you paid %(paid)s yuan. Your receipt is ready.")
            % {"bill": f"B{bill_id:08d}", "total": total, "paid": paid},
            link=f"/billing/bills/{bill_id}/",
        )

    transaction.on_commit(send)


def open_payment(actor: Any, payment_id: Any, *, lock: bool = False) -> Payment:
    try:
        pk = int(payment_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    rows = Payment.objects.select_related("bill", "settlement")
    if lock:
        rows = rows.select_for_update(of=("self",))
    payment = rows.filter(pk=pk).first()
    if payment is None:
        raise NotFound()
    access_patient(actor, payment.patient_id, AccessAction.VIEW, obj=payment, audit=False)
    return payment


def refresh_payment(actor: Any, payment_id: Any) -> Payment:
    """The status query: ask the provider, apply a payment it has, expire an overdue order."""
    require_capability(actor, "billing.pay")
    payment = open_payment(actor, payment_id)
    if payment.status == PaymentStatus.PENDING:
        sync_payment(payment.pk)
        payment.refresh_from_db()
    return payment


def sync_payment(payment_id: int) -> str:
    """Bring one pending payment in line with its provider (used by the status query and the
    expiry job). Returns the payment's status afterwards."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().select_related("bill", "settlement").get(pk=payment_id)
        if payment.status != PaymentStatus.PENDING:
            return payment.status
        status = get_provider(payment.provider).query_order(payment.out_trade_no)
        if status.paid and status.amount == payment.amount:
            _apply_paid(payment, transaction_id=status.transaction_id, paid_at=status.paid_at)
        elif payment.expires_at and payment.expires_at <= clock.now():
            _expire(payment)
        return payment.status


def _expire(payment: Payment) -> None:
    """Close an overdue order at the provider first: a payer who paid in the last second is
    kept (the close answers SUCCESS), anyone else can no longer pay it."""
    _close_at_provider(payment, PaymentStatus.EXPIRED, None, "payment_expired")


def _close_payment(payment: Payment, actor: Any) -> None:
    _close_at_provider(payment, PaymentStatus.CLOSED, actor, "payment_closed")


def _close_at_provider(payment: Payment, outcome: str, actor: Any, event: str) -> None:
    """Close the order at the provider; if it was paid after all, book the payment, otherwise
    give it ``outcome`` and void its pending settlement."""
    status = get_provider(payment.provider).close_order(payment.out_trade_no)
    if status.paid and status.amount == payment.amount:
        _apply_paid(payment, transaction_id=status.transaction_id, paid_at=status.paid_at)
        return
    payment.status = outcome
    payment.save(update_fields=["status"])
    Settlement.objects.filter(pk=payment.settlement_id, status=SettlementStatus.PENDING).update(
        status=SettlementStatus.VOIDED
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=payment.patient_id,
        obj=payment,
        detail={"event": event},
        actor_username="billing",
    )


@transaction.atomic
def cancel_payment(actor: Any, payment_id: Any) -> Payment:
    """Give up a pending QR payment (to pay another way): the order is closed at the provider."""
    require_capability(actor, "billing.pay")
    payment = open_payment(actor, payment_id, lock=True)
    if payment.status != PaymentStatus.PENDING:
        raise PaymentExpired() if payment.status != PaymentStatus.PAID else NothingToPay()
    _close_payment(payment, actor)
    return payment


def expire_overdue_payments() -> int:
    """The periodic expiry of QR orders nobody paid."""
    overdue = Payment.objects.filter(status=PaymentStatus.PENDING, expires_at__lte=clock.now())
    count = 0
    for pk in overdue.values_list("pk", flat=True):
        try:
            if sync_payment(pk) == PaymentStatus.EXPIRED:
                count += 1
        except ProviderError:
            logger.warning("could not expire payment %s", pk, exc_info=True)
    return count


def handle_notification(provider_code: str, headers: dict[str, str], body: bytes) -> str:
    """An asynchronous notification from a provider: verified (signature, freshness), then
    applied once. A repeated notification of an applied event or of a paid order changes nothing
    and is acknowledged; a forged or replayed one is refused and recorded."""
    from smartcare.billing.errors import InvalidSignature, StaleNotification

    provider = get_provider(provider_code)
    digest = hashlib.sha256(body).hexdigest()
    try:
        note = provider.parse_notification(headers, body)
    except (InvalidSignature, StaleNotification) as exc:
        ProviderNotification.objects.create(
            provider=provider.code, outcome=NotificationOutcome.REJECTED, detail=exc.code, body_sha256=digest
        )
        logger.warning("refused %s notification: %s", provider.code, exc.code)
        raise
    problem = ""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .select_related("bill", "settlement")
            .filter(out_trade_no=note.out_trade_no, provider=provider.code)
            .first()
        )
        seen = ProviderNotification.objects.filter(
            provider=provider.code,
            event_id=note.event_id,
            outcome__in=[NotificationOutcome.APPLIED, NotificationOutcome.CONFLICT],
        ).exists()
        if payment is None:
            problem = "unknown order"
        elif seen or payment.status == PaymentStatus.PAID:
            ProviderNotification.objects.create(
                provider=provider.code,
                event_id=note.event_id,
                out_trade_no=note.out_trade_no,
                outcome=NotificationOutcome.DUPLICATE,
                body_sha256=digest,
            )
            return NotificationOutcome.DUPLICATE
        elif note.state not in ("SUCCESS", "REFUND") or note.amount != payment.amount:
            problem = f"state {note.state}, amount {note.amount}"
        elif payment.status != PaymentStatus.PENDING:
            # Paid at the provider after we expired or closed it: kept for reconciliation.
            ProviderNotification.objects.create(
                provider=provider.code,
                event_id=note.event_id,
                out_trade_no=note.out_trade_no,
                outcome=NotificationOutcome.CONFLICT,
                detail=f"paid at the provider, {payment.status} here",
                body_sha256=digest,
            )
            logger.error(
                "payment %s paid at %s but %s here", payment.out_trade_no, provider.code, payment.status
            )
            return NotificationOutcome.CONFLICT
        else:
            _apply_paid(payment, transaction_id=note.transaction_id, paid_at=note.paid_at)
            ProviderNotification.objects.create(
                provider=provider.code,
                event_id=note.event_id,
                out_trade_no=note.out_trade_no,
                outcome=NotificationOutcome.APPLIED,
                body_sha256=digest,
            )
            return NotificationOutcome.APPLIED
    ProviderNotification.objects.create(
        provider=provider.code,
        event_id=note.event_id,
        out_trade_no=note.out_trade_no,
        outcome=NotificationOutcome.REJECTED,
        detail=problem[:300],
        body_sha256=digest,
    )
    raise NotificationMismatch(reason=problem)


# --- Refunds -------------------------------------------------------------------------------------


def _parse_quantity(value: Any) -> Decimal:
    if isinstance(value, (float, bool)):
        raise InvalidInput(_("Enter a quantity."), field="quantity")
    try:
        quantity = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(_("Enter a quantity."), field="quantity") from None
    if not quantity.is_finite() or quantity <= 0 or quantity != quantity.quantize(Decimal("0.001")):
        raise InvalidInput(_("Enter a quantity."), field="quantity")
    return quantity


def request_refund(
    actor: Any, bill_id: Any, lines: list[tuple[Any, Any]], reason: str, *, automatic: bool = False
) -> Refund:
    """Ask for the refund of (part of) paid charges. Refunds of charges up to the approval
    threshold are carried out at once; larger ones wait for a second person's approval."""
    with transaction.atomic():
        return _request_refund(actor, bill_id, lines, reason, automatic)


def _request_refund(
    actor: Any, bill_id: Any, lines: list[tuple[Any, Any]], reason: str, automatic: bool
) -> Refund:
    if automatic:
        bill = Bill.objects.select_for_update().select_related("patient").get(pk=bill_id)
    else:
        require_capability(actor, "billing.cashier")
        bill = open_bill(actor, bill_id, lock=True)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Give a reason for the refund."), field="reason")
    if not lines:
        raise InvalidInput(_("Choose what to refund."), field="lines")
    requested: dict[int, Decimal] = {}
    for charge_id, wanted in lines:
        try:
            key = int(charge_id)
        except (TypeError, ValueError):
            raise InvalidInput(_("Choose what to refund."), field="lines") from None
        requested[key] = requested.get(key, Decimal(0)) + _parse_quantity(wanted)
    charges = {
        c.pk: c
        for c in bill.charges.filter(
            pk__in=list(requested), corrects__isnull=True, status=ChargeStatus.ACTIVE
        )
    }
    if len(charges) != len(requested):
        raise InvalidInput(_("Choose charges of this bill."), field="lines")
    settled = set(
        _live_lines(charge_id__in=list(charges), settlement__status=SettlementStatus.CONFIRMED).values_list(
            "charge_id", flat=True
        )
    )
    if set(charges) - settled:
        raise InvalidInput(
            _("Only paid charges are refunded; cancel the order to drop an unpaid charge."), field="lines"
        )
    net = net_of(list(charges.values()))
    waiting = {
        charge_id: quantity(q)
        for charge_id, q in RefundLine.objects.filter(
            charge_id__in=list(charges), refund__status=RefundStatus.REQUESTED
        )
        .values("charge_id")
        .annotate(q=Sum("quantity"))
        .values_list("charge_id", "q")
    }
    refund = Refund.objects.create(
        bill=bill,
        patient_id=bill.patient_id,
        reason=reason[:300],
        automatic=automatic,
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    total = ZERO
    for charge_id, wanted in requested.items():
        charge = charges[charge_id]
        net_quantity, net_amount = net[charge_id]
        remaining = net_quantity - waiting.get(charge_id, Decimal(0))
        if wanted > remaining:
            raise RefundTooLarge(field="quantity")
        amount = net_amount if wanted == net_quantity else round_fen(charge.unit_price * wanted)
        RefundLine.objects.create(refund=refund, charge=charge, quantity=wanted, amount=amount)
        total += amount
    refund.total_amount = total
    refund.save(update_fields=["total_amount"])
    record(
        actor,
        AuditAction.CREATE,
        patient=bill.patient_id,
        obj=refund,
        reason=refund.reason,
        detail={"event": "refund_requested", "total": str(total), "automatic": automatic},
        actor_username="billing",
    )
    if total <= refund_threshold():
        _execute_refund(refund, actor)
    return refund


@transaction.atomic
def approve_refund(actor: Any, refund_id: Any, note: str = "") -> Refund:
    """A second person approves a refund above the threshold; it is carried out at once."""
    require_capability(actor, "billing.approve_refund")
    refund = _open_refund_for_decision(actor, refund_id)
    refund.decided_by = actor
    refund.decided_at = clock.now()
    refund.decision_note = (note or "").strip()[:300]
    refund.save(update_fields=["decided_by", "decided_at", "decision_note"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=refund.patient_id,
        obj=refund,
        detail={"event": "refund_approved"},
        reason=refund.decision_note,
    )
    _execute_refund(refund, actor)
    return refund


@transaction.atomic
def reject_refund(actor: Any, refund_id: Any, note: str) -> Refund:
    require_capability(actor, "billing.approve_refund")
    if not (note or "").strip():
        raise InvalidInput(_("Say why the refund is rejected."), field="note")
    refund = _open_refund_for_decision(actor, refund_id)
    refund.status = RefundStatus.REJECTED
    refund.decided_by = actor
    refund.decided_at = clock.now()
    refund.decision_note = note.strip()[:300]
    refund.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=refund.patient_id,
        obj=refund,
        detail={"event": "refund_rejected"},
        reason=refund.decision_note,
    )
    return refund


def _open_refund_for_decision(actor: Any, refund_id: Any) -> Refund:
    try:
        pk = int(refund_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    refund = Refund.objects.select_for_update().filter(pk=pk).first()
    if refund is None:
        raise NotFound()
    if refund.status != RefundStatus.REQUESTED:
        raise RefundNotAllowed(action=_("approved or rejected"))
    if refund.requested_by_id is not None and refund.requested_by_id == actor.pk:
        raise OwnRefundApproval()
    return refund


def _execute_refund(refund: Refund, actor: Any) -> None:
    """Corrections, reversal of the touched settlements, re-settlement of what is left, and the
    payouts of the patient's difference through the original payments."""
    bill = refund.bill
    _lock_patient(bill.patient_id)
    lines = list(refund.lines.select_related("charge"))
    charge_ids = [line.charge_id for line in lines]
    affected = list(
        Settlement.objects.filter(
            pk__in=_live_lines(
                charge_id__in=charge_ids, settlement__status=SettlementStatus.CONFIRMED
            ).values("settlement_id")
        ).order_by("pk")
    )
    today = clock.today()
    for line in lines:
        original = line.charge
        line.correction = Charge.objects.create(
            bill=bill,
            patient_id=bill.patient_id,
            item_id=original.item_id,
            price_id=original.price_id,
            kind=original.kind,
            name_zh=original.name_zh,
            name_en=original.name_en,
            unit=original.unit,
            insurance_category=original.insurance_category,
            unit_price=original.unit_price,
            quantity=-line.quantity,
            amount=-line.amount,
            service_date=today,
            source=f"billing.refund:{refund.pk}",
            corrects=original,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        line.save(update_fields=["correction"])
    old_insurer = old_patient = ZERO
    remaining: list[Charge] = []
    for settlement in affected:
        _reverse(settlement, actor)
        old_insurer += settlement.insurer_amount
        old_patient += settlement.patient_amount
        remaining += [line.charge for line in settlement.lines.select_related("charge")]
    new_insurer = new_patient = ZERO
    if remaining:
        computation = compute(bill, sorted({c.pk: c for c in remaining}.values(), key=lambda c: c.pk))
        if computation.result.lines:
            new = _write_settlement(computation, status=SettlementStatus.PENDING, actor=actor)
            _confirm(new, actor)
            new_insurer, new_patient = new.insurer_amount, new.patient_amount
    refund.insurer_amount = old_insurer - new_insurer
    refund.patient_amount = old_patient - new_patient
    refund.status = RefundStatus.APPROVED
    owed = max(ZERO, refund.patient_amount)
    # Back through the bill's own payments, latest first (a re-settled settlement has no payment
    # of its own: what the patient paid for it was paid for the settlement it replaced).
    payments = list(Payment.objects.filter(bill=bill, status=PaymentStatus.PAID).order_by("-paid_at", "-pk"))
    electronic: list[int] = []
    for payment in payments:
        if owed <= 0:
            break
        already = fen(payment.payouts.exclude(status=PayoutStatus.FAILED).aggregate(s=Sum("amount"))["s"])
        take = min(owed, payment.amount - already)
        if take <= 0:
            continue
        payout = RefundPayout.objects.create(
            refund=refund, payment=payment, amount=take, out_refund_no="RF" + _trade_no()[2:]
        )
        owed -= take
        if get_provider(payment.provider).uses_qr:
            electronic.append(payout.pk)
    if owed > 0:
        raise RefundNotAllowed(action=_("paid out"))
    if not refund.payouts.exists():
        refund.status = RefundStatus.COMPLETED
        refund.completed_at = clock.now()
    refund.save(update_fields=["insurer_amount", "patient_amount", "status", "completed_at"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=bill.patient_id,
        obj=refund,
        detail={
            "event": "refund_resettled",
            "insurer_returned": str(refund.insurer_amount),
            "patient_returned": str(refund.patient_amount),
        },
        actor_username="billing",
    )
    for payout_id in electronic:
        transaction.on_commit(lambda pk=payout_id: _enqueue_payout(pk))  # type: ignore[misc]


def _enqueue_payout(payout_id: int) -> None:
    from smartcare.billing.tasks import send_payout

    send_payout.enqueue(payout_id)


def send_payout(payout_id: int) -> str:
    """Refund one payout through its provider (a background task for mobile payments)."""
    with transaction.atomic():
        payout = (
            RefundPayout.objects.select_for_update()
            .select_related("payment__bill", "refund")
            .get(pk=payout_id)
        )
        if payout.status != PayoutStatus.PENDING:
            return payout.status
        payment = payout.payment
        try:
            result = get_provider(payment.provider).refund(
                payment.out_trade_no, payout.out_refund_no, payout.amount, payment.amount
            )
        except ProviderError as exc:
            payout.status = PayoutStatus.FAILED
            payout.failure = exc.detail[:300]
            payout.save(update_fields=["status", "failure"])
            logger.error("refund payout %s failed: %s", payout.out_refund_no, exc.detail)
            return payout.status
        if result.state == "SUCCESS":
            _payout_paid(payout, reference=result.refund_id, cashier=None, actor=None)
        return payout.status


@transaction.atomic
def retry_payout(actor: Any, payout_id: Any) -> RefundPayout:
    require_capability(actor, "billing.cashier")
    payout = _open_payout(actor, payout_id)
    if payout.status != PayoutStatus.FAILED:
        raise RefundNotAllowed(action=_("retried"))
    payout.status = PayoutStatus.PENDING
    payout.failure = ""
    payout.save(update_fields=["status", "failure"])
    transaction.on_commit(lambda: _enqueue_payout(payout.pk))
    return payout


def _open_payout(actor: Any, payout_id: Any) -> RefundPayout:
    try:
        pk = int(payout_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    payout = (
        RefundPayout.objects.select_for_update(of=("self",))
        .select_related("payment", "refund")
        .filter(pk=pk)
        .first()
    )
    if payout is None:
        raise NotFound()
    access_patient(actor, payout.payment.patient_id, AccessAction.VIEW, obj=payout, audit=False)
    return payout


@transaction.atomic
def pay_out_at_desk(actor: Any, payout_id: Any) -> RefundPayout:
    """A cashier hands the refund back in cash (or refunds the card at the terminal)."""
    require_capability(actor, "billing.cashier")
    payout = _open_payout(actor, payout_id)
    if payout.status != PayoutStatus.PENDING or get_provider(payout.payment.provider).uses_qr:
        raise RefundNotAllowed(action=_("paid out at the desk"))
    _payout_paid(payout, reference="", cashier=actor, actor=actor)
    return payout


def _payout_paid(payout: RefundPayout, *, reference: str, cashier: Any, actor: Any) -> None:
    payout.status = PayoutStatus.PAID
    payout.paid_at = clock.now()
    payout.provider_reference = reference[:64]
    payout.cashier = cashier
    payout.save(update_fields=["status", "paid_at", "provider_reference", "cashier"])
    payment = payout.payment
    ledger.post(
        EntryKind.REFUND,
        [(ledger.PATIENTS, payout.amount), (clearing_account(payment, cashier), -payout.amount)],
        memo=f"{payout.out_refund_no} {payment.out_trade_no}",
        bill=payment.bill,
        payout=payout,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    record(
        actor,
        AuditAction.UPDATE,
        patient=payment.patient_id,
        obj=payout,
        detail={"event": "refund_paid_out", "amount": str(payout.amount), "provider": payment.provider},
        actor_username=f"provider:{payment.provider}",
    )
    refund = Refund.objects.select_for_update().get(pk=payout.refund_id)
    if not refund.payouts.exclude(status=PayoutStatus.PAID).exists():
        refund.status = RefundStatus.COMPLETED
        refund.completed_at = clock.now()
        refund.save(update_fields=["status", "completed_at"])


# --- Prices and policies -------------------------------------------------------------------------


@transaction.atomic
def set_price(actor: Any, item_id: Any, *, amount: Any, valid_from: dt.datetime | None, reason: str) -> Price:
    """A new price version from ``valid_from`` (now when empty; never in the past, so charges
    already made keep the price they were made at)."""
    require_capability(actor, "billing.manage")
    item = CatalogItem.objects.filter(pk=item_id).first() if str(item_id).isdigit() else None
    if item is None:
        raise NotFound()
    value = parse_amount(amount, allow_zero=True)
    start = valid_from or clock.now()
    if start < clock.now() - dt.timedelta(minutes=1):
        raise InvalidInput(_("A new price cannot start in the past."), field="valid_from")
    if not (reason or "").strip():
        raise InvalidInput(_("Give a reason for the price change."), field="reason")
    try:
        with transaction.atomic():
            price = Price.objects.create(
                item=item, amount=value, valid_from=start, reason=reason.strip()[:200], created_by=actor
            )
    except IntegrityError:
        raise InvalidInput(_("A price already starts at that moment."), field="valid_from") from None
    record(actor, AuditAction.CREATE, obj=price, detail={"item": item.code, "amount": str(value)})
    return price


POLICY_FRACTIONS = ("class_b_self_pay_share",)
POLICY_AMOUNTS = ("outpatient_annual_cap", "inpatient_annual_cap")
RULE_FRACTIONS = ("ratio_class_a", "ratio_class_b", "ratio_self_pay")


def _fraction(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append(_("Enter a fraction between 0 and 1."))
        return None
    if not number.is_finite() or number < 0 or number > 1 or number != number.quantize(Decimal("0.0001")):
        errors.setdefault(field, []).append(_("Enter a fraction between 0 and 1."))
        return None
    return number.quantize(Decimal("0.0001"))


def _amount(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        return parse_amount(value, field=field, allow_zero=True)
    except InvalidAmount as exc:
        errors.setdefault(field, []).append(exc.detail)
        return None


@transaction.atomic
def update_policy(
    actor: Any,
    policy_id: Any,
    *,
    values: dict[str, Any],
    rules: dict[int, dict[str, Any]],
    excluded_codes: list[str] | None = None,
) -> InsurancePolicy:
    """Edit a policy's terms and rules; all problems are reported together (BILL-015) and
    nothing is saved unless everything is valid. The audit event keeps the before and after."""
    require_capability(actor, "billing.manage")
    policy = (
        InsurancePolicy.objects.select_for_update().filter(pk=policy_id).first()
        if str(policy_id).isdigit()
        else None
    )
    if policy is None:
        raise NotFound()
    errors: dict[str, list[str]] = {}
    before = policy_snapshot(policy)
    for name in POLICY_FRACTIONS:
        if name in values:
            number = _fraction(values[name], name, errors)
            if number is not None:
                setattr(policy, name, number)
    for name in POLICY_AMOUNTS:
        if name in values:
            number = _amount(values[name], name, errors)
            if number is not None:
                setattr(policy, name, number)
    if "notes" in values:
        policy.notes = str(values["notes"] or "")[:2000]
    existing = {r.pk: r for r in policy.rules.all()}
    changed_rules = []
    for rule_id, data in rules.items():
        rule = existing.get(rule_id)
        if rule is None:
            errors.setdefault(f"rule-{rule_id}", []).append(_("Unknown rule."))
            continue
        for name in RULE_FRACTIONS:
            if name in data:
                number = _fraction(data[name], f"rule-{rule_id}-{name}", errors)
                if number is not None:
                    setattr(rule, name, number)
        if "deductible" in data:
            number = _amount(data["deductible"], f"rule-{rule_id}-deductible", errors)
            if number is not None:
                rule.deductible = number
        if "deductible_basis" in data:
            if data["deductible_basis"] not in DeductibleBasis.values:
                errors.setdefault(f"rule-{rule_id}-deductible_basis", []).append(_("Choose a basis."))
            else:
                rule.deductible_basis = data["deductible_basis"]
        changed_rules.append(rule)
    excluded: list[CatalogItem] | None = None
    if excluded_codes is not None:
        codes = sorted({c.strip() for c in excluded_codes if c.strip()})
        excluded = list(CatalogItem.objects.filter(code__in=codes))
        unknown = set(codes) - {i.code for i in excluded}
        if unknown:
            errors.setdefault("excluded", []).append(
                _("Unknown items: %(codes)s") % {"codes": ", ".join(sorted(unknown))}
            )
    if errors:
        raise InvalidPolicy(errors=errors)
    policy.save()
    for rule in changed_rules:
        rule.save()
    if excluded is not None:
        policy.excluded_items.set(excluded)
    record(actor, AuditAction.UPDATE, obj=policy, detail={"before": before, "after": policy_snapshot(policy)})
    return policy


def policy_snapshot(policy: InsurancePolicy) -> dict[str, Any]:
    return {
        "class_b_self_pay_share": str(policy.class_b_self_pay_share),
        "outpatient_annual_cap": str(policy.outpatient_annual_cap),
        "inpatient_annual_cap": str(policy.inpatient_annual_cap),
        "excluded": sorted(policy.excluded_items.values_list("code", flat=True)),
        "rules": [
            {
                "setting": r.care_setting,
                "level": r.hospital_level,
                "deductible": str(r.deductible),
                "basis": r.deductible_basis,
                "a": str(r.ratio_class_a),
                "b": str(r.ratio_class_b),
                "self": str(r.ratio_self_pay),
            }
            for r in PolicyRule.objects.filter(policy=policy).order_by("care_setting", "hospital_level")
        ],
    }


@transaction.atomic
def copy_policy(actor: Any, policy_id: Any, year: int) -> InsurancePolicy:
    """Start next year's policy from this one (then edit it)."""
    require_capability(actor, "billing.manage")
    source = InsurancePolicy.objects.filter(pk=policy_id).first() if str(policy_id).isdigit() else None
    if source is None:
        raise NotFound()
    if not 2000 <= int(year) <= 2100:
        raise InvalidInput(field="year")
    if InsurancePolicy.objects.filter(scheme=source.scheme, year=year).exists():
        raise InvalidInput(_("That year's policy exists already."), field="year")
    policy = clone_policy(source, year)
    record(actor, AuditAction.CREATE, obj=policy, detail={"copied_from": source.pk, "year": year})
    return policy


def clone_policy(source: InsurancePolicy, year: int) -> InsurancePolicy:
    policy = InsurancePolicy.objects.create(
        scheme=source.scheme,
        year=year,
        class_b_self_pay_share=source.class_b_self_pay_share,
        outpatient_annual_cap=source.outpatient_annual_cap,
        inpatient_annual_cap=source.inpatient_annual_cap,
        notes=source.notes,
    )
    policy.excluded_items.set(source.excluded_items.all())
    PolicyRule.objects.bulk_create(
        PolicyRule(
            policy=policy,
            care_setting=r.care_setting,
            hospital_level=r.hospital_level,
            deductible=r.deductible,
            deductible_basis=r.deductible_basis,
            ratio_class_a=r.ratio_class_a,
            ratio_class_b=r.ratio_class_b,
            ratio_self_pay=r.ratio_self_pay,
        )
        for r in source.rules.all()
    )
    return policy


def scheme_exists(code: str) -> bool:
    return InsuranceScheme.objects.filter(code=code).exists()


def charges_of_bill(bill: Bill) -> QuerySet[Charge]:
    return bill.charges.filter(Q(corrects__isnull=True)).order_by("pk")
