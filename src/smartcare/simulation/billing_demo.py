"""Billing in the demo year: a bill for every visit of the medical record (registration,
consultation, the signed drugs and exams), settled with the real insurance calculator on the
shipped policies (deductibles and caps carried through each patient's year), paid at the cashier
(cash, card) or by the sandbox QR provider, a few refunds of unused drugs with their re-settlement,
the ledger entries of all of it, and the sandbox provider's records so that the last week
reconciles. Upcoming bookings carry their registration fee, most of them paid at booking.

The demo patient keeps her latest visit unpaid, so her phone shows a bill to pay.

Written in bulk (like the other demo generators): the numbers come from the same functions the
services use (``insurance.settle_lines``, ``ledger`` account names), the rows are inserted in a few
``bulk_create`` calls per table.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.billing import ledger, reconciliation, services
from smartcare.billing.catalog import ensure_catalog
from smartcare.billing.choices import (
    BillKind,
    CareSetting,
    EntryKind,
    PaymentChannel,
    PaymentMethod,
    PaymentStatus,
    PayoutStatus,
    RefundStatus,
    SettlementKind,
    SettlementStatus,
)
from smartcare.billing.insurance import SELF_PAY_SCHEME, LineInput, Terms, Usage, settle_lines
from smartcare.billing.models import (
    Bill,
    CatalogItem,
    Charge,
    JournalEntry,
    JournalLine,
    Payment,
    Price,
    Refund,
    RefundLine,
    RefundPayout,
    SandboxOrder,
    SandboxRefund,
    Settlement,
    SettlementLine,
)
from smartcare.billing.money import ZERO, round_fen
from smartcare.billing.policies import ensure_policies
from smartcare.core import clock
from smartcare.emr.choices import EncounterStatus
from smartcare.emr.models import Encounter, Order
from smartcare.patients.models import Patient
from smartcare.scheduling.choices import AppointmentStatus
from smartcare.scheduling.models import Appointment
from smartcare.simulation.registry import DemoContext, register_generator

BATCH = 1000
MAX_UPCOMING = 1500
REFUND_SHARE = 0.04
PAID_AT_BOOKING = 0.6
METHODS: tuple[str, ...] = (PaymentMethod.QR, PaymentMethod.CASH, PaymentMethod.CARD)
METHOD_WEIGHTS: tuple[float, ...] = (0.55, 0.25, 0.20)
ORDER_KINDS = {"medication": "drug", "lab": "lab", "imaging": "imaging", "procedure": "procedure"}


@dataclass
class PlannedCharge:
    charge: Charge
    kind: str


@dataclass
class Visit:
    bill: Bill
    charges: list[Charge] = field(default_factory=list)
    paid_at: dt.datetime | None = None
    unpaid: bool = False


class Builder:
    def __init__(self, ctx: DemoContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.now = clock.now()
        self.level = services.hospital_level()
        self.items: dict[tuple[str, str], CatalogItem] = {}
        self.prices: dict[int, Price] = {}
        self.terms: dict[tuple[str, int], Terms] = {}
        self.usage: dict[tuple[int, str, int, str], Usage] = defaultdict(Usage)
        self.cashiers = list(User.objects.filter(role=Role.FRONT_DESK, is_active=True).order_by("pk"))
        self.counter = 0
        self.settlements: list[Settlement] = []
        self.lines: list[tuple[Settlement, list[SettlementLine]]] = []
        self.payments: list[Payment] = []
        self.sandbox_orders: list[SandboxOrder] = []
        self.entries: list[tuple[JournalEntry, list[tuple[str, Decimal]]]] = []
        self.stats: dict[str, int] = defaultdict(int)

    # -- reference data --

    def load_catalog(self) -> None:
        ensure_catalog()
        year = timezone.localtime(self.now).year
        ensure_policies([year - 1, year, year + 1])
        for item in CatalogItem.objects.filter(is_active=True):
            self.items.setdefault((item.kind, item.match), item)
        for price in Price.objects.order_by("item_id", "valid_from"):
            self.prices[price.item_id] = price  # the latest version (the demo's prices never change)

    def item_for(self, kind: str, match: str) -> CatalogItem | None:
        """The item for ``match``, else the kind's fallback (as ``catalog.item_for``)."""
        return self.items.get((kind, match)) or self.items.get((kind, "fallback"))

    def terms_for(self, scheme: str, year: int) -> Terms:
        key = (scheme, year)
        if key not in self.terms:
            self.terms[key] = services.terms_for(scheme, year, CareSetting.OUTPATIENT, self.level)[0]
        return self.terms[key]

    # -- rows --

    def trade_no(self, moment: dt.datetime, prefix: str = "SC") -> str:
        self.counter += 1
        return f"{prefix}{timezone.localtime(moment):%y%m%d%H%M%S}{self.counter:08X}"[:32]

    def charge(
        self,
        bill: Bill,
        item: CatalogItem | None,
        quantity: Decimal,
        source: str,
        day: dt.date,
        at: dt.datetime,
    ) -> Charge | None:
        if item is None:
            return None
        return services.build_charge(
            bill, item, self.prices[item.pk], quantity, service_date=day, source=source, created_at=at
        )

    def settle(
        self,
        bill: Bill,
        scheme: str,
        charges: list[tuple[Charge, Decimal]],
        at: dt.datetime,
        kind: str = SettlementKind.SETTLEMENT,
    ) -> Settlement:
        """Settle (charge, net amount) pairs with the patient's year counters, like the service."""
        year = timezone.localtime(at).year
        terms = self.terms_for(scheme, year)
        usage = self.usage[(bill.patient_id, scheme, year, CareSetting.OUTPATIENT)]
        result = settle_lines(
            [LineInput(c.pk, c.item_id, amount, c.insurance_category) for c, amount in charges], terms, usage
        )
        usage.deductible_used += result.deductible
        usage.insurer_paid += result.insurer
        settlement = Settlement(
            bill=bill,
            patient_id=bill.patient_id,
            kind=kind,
            status=SettlementStatus.CONFIRMED,
            scheme=scheme,
            policy_id=terms.policy_id,
            care_setting=CareSetting.OUTPATIENT,
            hospital_level=self.level,
            year=year,
            total_amount=result.total,
            insurer_amount=result.insurer,
            patient_amount=result.patient,
            deductible_applied=result.deductible,
            created_at=at,
            confirmed_at=at,
        )
        by_id = {c.pk: c for c, _amount in charges}
        lines = [
            SettlementLine(
                settlement=settlement,
                charge=by_id[line.charge_id],
                amount=line.amount,
                insurer_amount=line.insurer,
                patient_amount=line.patient,
                deductible=line.deductible,
                reasons=line.reasons,
            )
            for line in result.lines
        ]
        self.settlements.append(settlement)
        self.lines.append((settlement, lines))
        self.post(
            EntryKind.SETTLEMENT, self.movements(settlement, lines), at, bill=bill, settlement=settlement
        )
        return settlement

    def reverse(self, settlement: Settlement, lines: list[SettlementLine], at: dt.datetime) -> None:
        reversal = Settlement(
            bill=settlement.bill,
            patient_id=settlement.patient_id,
            kind=SettlementKind.REVERSAL,
            status=SettlementStatus.CONFIRMED,
            reverses=settlement,
            scheme=settlement.scheme,
            policy_id=settlement.policy_id,
            care_setting=settlement.care_setting,
            hospital_level=settlement.hospital_level,
            year=settlement.year,
            total_amount=-settlement.total_amount,
            insurer_amount=-settlement.insurer_amount,
            patient_amount=-settlement.patient_amount,
            deductible_applied=-settlement.deductible_applied,
            created_at=at,
            confirmed_at=at,
        )
        usage = self.usage[
            (settlement.patient_id, settlement.scheme, settlement.year, CareSetting.OUTPATIENT)
        ]
        usage.deductible_used -= settlement.deductible_applied
        usage.insurer_paid -= settlement.insurer_amount
        copies = [
            SettlementLine(
                settlement=reversal,
                charge=line.charge,
                amount=-line.amount,
                insurer_amount=-line.insurer_amount,
                patient_amount=-line.patient_amount,
                deductible=-line.deductible,
                reasons=[{"code": "reversal"}],
            )
            for line in lines
        ]
        self.settlements.append(reversal)
        self.lines.append((reversal, copies))
        self.post(
            EntryKind.REVERSAL,
            self.movements(reversal, copies),
            at,
            bill=settlement.bill,
            settlement=reversal,
        )

    @staticmethod
    def movements(settlement: Settlement, lines: list[SettlementLine]) -> list[tuple[str, Decimal]]:
        by_kind: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for line in lines:
            by_kind[line.charge.kind] += line.amount
        return [
            (f"insurer:{settlement.scheme}", settlement.insurer_amount),
            (ledger.PATIENTS, settlement.patient_amount),
            *((f"revenue:{kind}", -amount) for kind, amount in sorted(by_kind.items())),
        ]

    def post(self, kind: str, movements: list[tuple[str, Decimal]], at: dt.datetime, **links: Any) -> None:
        self.entries.append((JournalEntry(kind=kind, occurred_at=at, **links), movements))

    def pay(
        self, bill: Bill, settlement: Settlement, at: dt.datetime, *, channel: str | None = None
    ) -> Payment | None:
        if settlement.patient_amount <= 0:
            return None
        method = (
            self.rng.choices(METHODS, weights=METHOD_WEIGHTS, k=1)[0] if channel is None else PaymentMethod.QR
        )
        cashier = self.rng.choice(self.cashiers) if method != PaymentMethod.QR and self.cashiers else None
        if method != PaymentMethod.QR and cashier is None:
            method = PaymentMethod.QR
        provider = "sandbox" if method == PaymentMethod.QR else "cashier"
        chosen_channel = channel or (
            PaymentChannel.DESK
            if cashier
            else self.rng.choices(
                [PaymentChannel.PORTAL, PaymentChannel.KIOSK, PaymentChannel.APP], [6, 3, 1]
            )[0]
        )
        payment = Payment(
            bill=bill,
            settlement=settlement,
            patient_id=bill.patient_id,
            provider=provider,
            method=method,
            channel=chosen_channel,
            amount=settlement.patient_amount,
            out_trade_no=self.trade_no(at),
            status=PaymentStatus.PAID,
            paid_at=at,
            cashier=cashier,
            created_by=cashier,
            created_at=at - dt.timedelta(minutes=1),
            expires_at=at + dt.timedelta(minutes=14) if provider == "sandbox" else None,
        )
        if provider == "sandbox":
            transaction_id = f"SBX{timezone.localtime(at):%Y%m%d}{self.counter:016X}"
            payment.provider_reference = transaction_id
            self.sandbox_orders.append(
                SandboxOrder(
                    out_trade_no=payment.out_trade_no,
                    transaction_id=transaction_id,
                    pay_token=f"demo{self.rng.getrandbits(96):024x}",
                    description=f"demo {bill.patient_id}",
                    amount_fen=int(payment.amount * 100),
                    notify_url="http://127.0.0.1:8000/api/billing/notify/sandbox",
                    state="SUCCESS",
                    created_at=payment.created_at,
                    expires_at=payment.expires_at or at,
                    paid_at=at,
                )
            )
        else:
            payment.provider_reference = f"POS{self.counter:08d}" if method == PaymentMethod.CARD else "DESK"
        self.payments.append(payment)
        self.post(
            EntryKind.PAYMENT,
            [(services.clearing_account(payment), payment.amount), (ledger.PATIENTS, -payment.amount)],
            at,
            bill=bill,
            payment=payment,
        )
        self.stats[f"paid_{method}"] += 1
        return payment

    # -- the year --

    def visits(self) -> list[tuple[Encounter, list[Order]]]:
        encounters = list(
            Encounter.objects.filter(status=EncounterStatus.FINISHED, appointment__isnull=False)
            .exclude(bill__isnull=False)
            .select_related("appointment__slot", "patient")
            .order_by("ended_at", "pk")
        )
        orders: dict[int, list[Order]] = defaultdict(list)
        for order in Order.objects.filter(encounter__in=encounters, signed_at__isnull=False).order_by("pk"):
            orders[order.encounter_id].append(order)
        return [(e, orders[e.pk]) for e in encounters]

    def run(self) -> None:
        started = time.monotonic()
        self.load_catalog()
        visits = self.visits()
        demo_patient = self.ctx.state.get("demo_patient")
        demo_id = getattr(demo_patient, "pk", demo_patient)
        mine = [e for e, _o in visits if e.patient_id == demo_id]
        demo_last = max(mine, key=lambda e: (e.ended_at or e.started_at, e.pk)).pk if mine else None
        bills: list[Bill] = []
        planned: list[tuple[Bill, Encounter, Appointment, list[Order]]] = []
        for encounter, orders in visits:
            appointment = encounter.appointment
            assert appointment is not None  # visits() takes encounters opened from a booking
            bill = Bill(
                patient_id=encounter.patient_id,
                kind=BillKind.VISIT,
                department_id=encounter.department_id,
                appointment=appointment,
                encounter=encounter,
                opened_at=appointment.created_at,
                created_at=appointment.created_at,
            )
            bills.append(bill)
            planned.append((bill, encounter, appointment, orders))
        upcoming = list(
            Appointment.objects.filter(status=AppointmentStatus.BOOKED, date__gte=clock.today())
            .exclude(bill__isnull=False)
            .order_by("created_at", "pk")[:MAX_UPCOMING]
        )
        booked: list[tuple[Bill, Appointment]] = []
        for appointment in upcoming:
            bill = Bill(
                patient_id=appointment.patient_id,
                kind=BillKind.VISIT,
                department_id=appointment.department_id,
                appointment=appointment,
                opened_at=appointment.created_at,
                created_at=appointment.created_at,
            )
            bills.append(bill)
            booked.append((bill, appointment))
        Bill.objects.bulk_create(bills, batch_size=BATCH)
        charges: list[Charge] = []
        visit_charges: list[tuple[Bill, Encounter, list[Charge], dt.datetime]] = []
        for bill, encounter, appointment, orders in planned:
            began = encounter.started_at or appointment.slot.starts_at
            ended = encounter.ended_at or began
            day = timezone.localtime(began).date()
            fee_class = appointment.fee_class
            rows = [
                self.charge(
                    bill,
                    self.item_by_kind("registration", fee_class),
                    Decimal(1),
                    f"scheduling.appointment:{appointment.pk}",
                    appointment.date,
                    appointment.created_at,
                ),
                self.charge(
                    bill,
                    self.item_by_kind("consultation", fee_class),
                    Decimal(1),
                    f"emr.encounter:{encounter.pk}",
                    day,
                    began,
                ),
            ]
            for order in orders:
                kind = ORDER_KINDS.get(order.kind)
                if kind is None:
                    continue
                signed = order.signed_at or began
                rows.append(
                    self.charge(
                        bill,
                        self.item_for(kind, f"order:{order.item}"),
                        services.order_quantity(order),
                        f"emr.order:{order.pk}",
                        timezone.localtime(signed).date(),
                        signed,
                    )
                )
            kept = [c for c in rows if c is not None]
            charges += kept
            visit_charges.append((bill, encounter, kept, ended))
        booking_charges: list[tuple[Bill, Charge]] = []
        for bill, appointment in booked:
            charge = self.charge(
                bill,
                self.item_by_kind("registration", appointment.fee_class),
                Decimal(1),
                f"scheduling.appointment:{appointment.pk}",
                appointment.date,
                appointment.created_at,
            )
            if charge is not None:
                charges.append(charge)
                booking_charges.append((bill, charge))
        Charge.objects.bulk_create(charges, batch_size=BATCH)
        schemes = dict(
            Patient.objects.filter(pk__in={b.patient_id for b in bills}).values_list("pk", "insurance_type")
        )
        refunds: list[
            tuple[Refund, list[RefundLine], list[Charge], RefundPayout | None, SandboxRefund | None]
        ] = []
        for bill, encounter, kept, ended in sorted(visit_charges, key=lambda v: v[3]):
            if not kept or ended > self.now:
                continue
            if encounter.pk == demo_last:
                self.stats["unpaid"] += 1
                continue  # the demo patient's latest visit waits for her to pay
            scheme = schemes.get(bill.patient_id) or SELF_PAY_SCHEME
            paid_at = min(
                self.now - dt.timedelta(minutes=1), ended + dt.timedelta(minutes=self.rng.uniform(2, 40))
            )
            settlement = self.settle(bill, scheme, [(c, c.amount) for c in kept], paid_at)
            payment = self.pay(bill, settlement, paid_at)
            drugs = [c for c in kept if c.kind == "drug" and c.quantity >= 4]
            refund_at = paid_at + dt.timedelta(days=self.rng.randint(1, 5), hours=self.rng.randint(0, 6))
            if payment is not None and drugs and refund_at < self.now and self.rng.random() < REFUND_SHARE:
                refunds.append(self.refund(bill, scheme, settlement, kept, drugs[0], payment, refund_at))
        for bill, charge in booking_charges:
            if self.rng.random() < PAID_AT_BOOKING and charge.created_at <= self.now:
                scheme = schemes.get(bill.patient_id) or SELF_PAY_SCHEME
                at = charge.created_at + dt.timedelta(minutes=self.rng.uniform(0.5, 5))
                at = min(at, self.now - dt.timedelta(seconds=30))
                settlement = self.settle(bill, scheme, [(charge, charge.amount)], at)
                self.pay(bill, settlement, at, channel=PaymentChannel.PORTAL)
        self.write(refunds)
        reconciled = self.reconcile_last_week()
        self.ctx.log(
            f"billing: {len(bills)} bills, {len(charges)} charges, "
            f"{sum(1 for s in self.settlements if s.kind == SettlementKind.SETTLEMENT)} settlements, "
            f"{len(self.payments)} payments (QR {self.stats['paid_qr']}, cash {self.stats['paid_cash']}, "
            f"card {self.stats['paid_card']}), {len(refunds)} refunds, {len(self.entries)} ledger entries, "
            f"{reconciled} days reconciled ({time.monotonic() - started:.1f}s)"
        )

    def item_by_kind(self, kind: str, fee_class: str) -> CatalogItem | None:
        """Registration and consultation by fee class (no fallback, as ``catalog.exact_item``)."""
        return self.items.get((kind, f"fee_class:{fee_class}"))

    def refund(
        self,
        bill: Bill,
        scheme: str,
        settlement: Settlement,
        charges: list[Charge],
        drug: Charge,
        payment: Payment,
        at: dt.datetime,
    ) -> tuple[Refund, list[RefundLine], list[Charge], RefundPayout | None, SandboxRefund | None]:
        """Unused drugs returned: half the doses, re-settled, the difference paid back."""
        returned = (drug.quantity / 2).quantize(Decimal("1"))
        amount = round_fen(drug.unit_price * returned)
        correction = Charge(
            bill=bill,
            patient_id=bill.patient_id,
            item=drug.item,
            price=drug.price,
            kind=drug.kind,
            name_zh=drug.name_zh,
            name_en=drug.name_en,
            unit=drug.unit,
            insurance_category=drug.insurance_category,
            unit_price=drug.unit_price,
            quantity=-returned,
            amount=-amount,
            service_date=timezone.localtime(at).date(),
            source="billing.refund:demo",
            corrects=drug,
            created_at=at,
        )
        old_lines = next(lines for s, lines in self.lines if s is settlement)
        self.reverse(settlement, old_lines, at)
        net = [(c, c.amount - (amount if c is drug else ZERO)) for c in charges]
        new = self.settle(bill, scheme, net, at)
        refund = Refund(
            bill=bill,
            patient_id=bill.patient_id,
            status=RefundStatus.COMPLETED,
            reason="未服用药品退回",
            total_amount=amount,
            insurer_amount=settlement.insurer_amount - new.insurer_amount,
            patient_amount=settlement.patient_amount - new.patient_amount,
            requested_by=payment.cashier or (self.cashiers[0] if self.cashiers else None),
            requested_at=at,
            completed_at=at,
        )
        line = RefundLine(refund=refund, charge=drug, quantity=returned, amount=amount, correction=correction)
        payout = sandbox_refund = None
        if refund.patient_amount > 0:
            payout = RefundPayout(
                refund=refund,
                payment=payment,
                amount=refund.patient_amount,
                out_refund_no=self.trade_no(at, "RF"),
                status=PayoutStatus.PAID,
                cashier=payment.cashier,
                paid_at=at,
                provider_reference="SBXR" if payment.provider == "sandbox" else "",
                created_at=at,
            )
            self.post(
                EntryKind.REFUND,
                [(ledger.PATIENTS, payout.amount), (services.clearing_account(payment), -payout.amount)],
                at,
                bill=bill,
                payout=payout,
            )
            if payment.provider == "sandbox":
                sandbox_refund = SandboxRefund(
                    out_refund_no=payout.out_refund_no,
                    refund_id=f"SBXR{self.counter:016X}",
                    amount_fen=int(payout.amount * 100),
                    created_at=at,
                )
        return refund, [line], [correction], payout, sandbox_refund

    # -- writing --

    def write(self, refunds: list[Any]) -> None:
        corrections = [c for _r, _l, cs, _p, _s in refunds for c in cs]
        Charge.objects.bulk_create(corrections, batch_size=BATCH)
        # Settlements first without their reversal links, then the reversals pointing at them.
        originals = [s for s in self.settlements if s.kind == SettlementKind.SETTLEMENT]
        reversals = [s for s in self.settlements if s.kind == SettlementKind.REVERSAL]
        Settlement.objects.bulk_create(originals, batch_size=BATCH)
        for reversal in reversals:
            reversal.reverses_id = reversal.reverses.pk  # type: ignore[union-attr]
        Settlement.objects.bulk_create(reversals, batch_size=BATCH)
        SettlementLine.objects.bulk_create(
            [line for _s, lines in self.lines for line in lines], batch_size=BATCH
        )
        Payment.objects.bulk_create(self.payments, batch_size=BATCH)
        orders = {o.out_trade_no: o for o in self.sandbox_orders}
        SandboxOrder.objects.bulk_create(self.sandbox_orders, batch_size=BATCH)
        Refund.objects.bulk_create([r for r, _l, _c, _p, _s in refunds], batch_size=BATCH)
        RefundLine.objects.bulk_create(
            [line for _r, lines, _c, _p, _s in refunds for line in lines], batch_size=BATCH
        )
        payouts = [p for _r, _l, _c, p, _s in refunds if p is not None]
        RefundPayout.objects.bulk_create(payouts, batch_size=BATCH)
        sandbox_refunds = []
        for _r, _l, _c, payout, sandbox_refund in refunds:
            if sandbox_refund is not None and payout is not None:
                order = orders[payout.payment.out_trade_no]
                sandbox_refund.order = order
                order.refunded_fen += sandbox_refund.amount_fen
                order.state = "REFUND"
                sandbox_refunds.append(sandbox_refund)
        SandboxRefund.objects.bulk_create(sandbox_refunds, batch_size=BATCH)
        SandboxOrder.objects.bulk_update(
            [o for o in self.sandbox_orders if o.refunded_fen], ["refunded_fen", "state"], batch_size=BATCH
        )
        entries = [entry for entry, _m in self.entries]
        for entry in entries:
            for name in ("bill", "settlement", "payment", "payout"):
                linked = getattr(entry, name, None)
                if linked is not None:
                    setattr(entry, f"{name}_id", linked.pk)
        JournalEntry.objects.bulk_create(entries, batch_size=BATCH)
        accounts: dict[str, int] = {}
        lines: list[JournalLine] = []
        for entry, movements in self.entries:
            totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
            for code, amount in movements:
                totals[code] += amount
            if sum(totals.values(), ZERO) != 0:
                raise AssertionError(f"unbalanced demo entry {entry.kind}: {dict(totals)}")
            for code, amount in totals.items():
                if amount == 0:
                    continue
                if code not in accounts:
                    accounts[code] = ledger.account(code).pk
                lines.append(
                    JournalLine(
                        entry=entry,
                        account_id=accounts[code],
                        debit=amount if amount > 0 else ZERO,
                        credit=-amount if amount < 0 else ZERO,
                    )
                )
        JournalLine.objects.bulk_create(lines, batch_size=BATCH)

    def reconcile_last_week(self) -> int:
        """The daily job's work for the last seven days: the sandbox statement against our books."""
        today = clock.today()
        done = 0
        for back in range(7, 0, -1):
            day = today - dt.timedelta(days=back)
            if reconciliation.reconcile_from_provider("sandbox", day) is not None:
                done += 1
        return done


def build_billing(ctx: DemoContext) -> None:
    Builder(ctx).run()


register_generator("billing", build_billing, order=65)
