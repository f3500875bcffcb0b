"""Billing: the price catalog, charges grouped into bills, insurance policies and settlements,
payments, refunds, the double-entry ledger, reconciliation, and the sandbox payment gateway.

Money is ``Decimal`` with two places (yuan and fen) everywhere; nothing that was charged, settled,
paid or refunded is ever deleted or has its amount changed: a correction is a new row (a negative
correction charge, a reversal settlement, a refund, a journal entry).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from smartcare.billing.choices import (
    AccountKind,
    BillKind,
    CareSetting,
    ChargeStatus,
    DeductibleBasis,
    EntryKind,
    InsuranceCategory,
    ItemKind,
    MismatchKind,
    NotificationOutcome,
    PaymentChannel,
    PaymentMethod,
    PaymentStatus,
    PayoutStatus,
    RefundStatus,
    SettlementKind,
    SettlementStatus,
)
from smartcare.core import clock
from smartcare.core.models import BilingualNameMixin, TimeStampedModel


def money_field(label: Any, **kwargs: Any) -> models.DecimalField:
    return models.DecimalField(label, max_digits=12, decimal_places=2, **kwargs)


ZERO = Decimal("0.00")
# Half a fen: amounts have two decimals, so any real difference is at least one fen. SQLite
# computes these checks in binary floating point (79.52 + 27.68 is not 107.20 there), PostgreSQL
# exactly; the tolerance makes the same check right on both.
HALF_FEN = Decimal("0.005")


def adds_up(total: str, *parts: str) -> Q:
    """A check condition: ``total`` equals the sum of ``parts`` (to the fen)."""
    from django.db.models import Value

    summed: Any = F(parts[0])
    for part in parts[1:]:
        summed = summed + F(part)
    return Q(**{f"{total}__gte": summed - Value(HALF_FEN)}) & Q(**{f"{total}__lte": summed + Value(HALF_FEN)})


# --- Price catalog -------------------------------------------------------------------------------


class CatalogItem(BilingualNameMixin, TimeStampedModel):
    """A billable item. ``match`` says what it prices: ``fee_class:<class>`` (registration and
    consultation by the scheduling fee class), ``order:<knowledge key>`` (drugs and exams ordered
    in the record), ``bed:<type>``, or ``fallback`` (the kind's item for anything unlisted)."""

    code = models.CharField(_("code"), max_length=50, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=ItemKind.choices, db_index=True)
    unit = models.CharField(_("unit"), max_length=10, default="次")
    insurance_category = models.CharField(
        _("insurance category"), max_length=5, choices=InsuranceCategory.choices
    )
    match = models.CharField(_("matches"), max_length=120, blank=True, db_index=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("catalog item")
        verbose_name_plural = _("catalog items")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Price(models.Model):
    """One version of an item's price, valid from ``valid_from`` until the next version."""

    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="prices")
    amount = money_field(_("price (yuan)"))
    valid_from = models.DateTimeField(_("valid from"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["item", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["item", "valid_from"], name="one_price_per_item_and_start"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.amount} from {self.valid_from:%Y-%m-%d}"


# --- Bills and charges ---------------------------------------------------------------------------


class Bill(TimeStampedModel):
    """The charges of one outpatient visit (from its booking) or one inpatient stay."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="bills")
    kind = models.CharField(_("kind"), max_length=10, choices=BillKind.choices)
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    appointment = models.OneToOneField(
        "scheduling.Appointment", on_delete=models.PROTECT, null=True, blank=True, related_name="bill"
    )
    encounter = models.OneToOneField(
        "emr.Encounter", on_delete=models.PROTECT, null=True, blank=True, related_name="bill"
    )
    opened_at = models.DateTimeField(_("opened at"), default=clock.now)

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["patient", "opened_at"])]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"B{self.pk:08d}" if self.pk else "B-"

    @property
    def care_setting(self) -> str:
        return CareSetting.INPATIENT if self.kind == BillKind.STAY else CareSetting.OUTPATIENT


class Charge(models.Model):
    """One line of a bill. A correction (unused drugs returned, a refunded exam) is a new charge
    with a negative quantity that ``corrects`` the original; the original is never changed."""

    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="charges")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="+")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=ItemKind.choices)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    unit = models.CharField(_("unit"), max_length=10)
    insurance_category = models.CharField(
        _("insurance category"), max_length=5, choices=InsuranceCategory.choices
    )
    unit_price = money_field(_("unit price"))
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3)
    amount = money_field(_("amount"))
    service_date = models.DateField(_("service date"))
    source = models.CharField(_("source"), max_length=100, blank=True, db_index=True)
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ChargeStatus.choices, default=ChargeStatus.ACTIVE
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("charge")
        verbose_name_plural = _("charges")
        ordering = ["pk"]
        constraints = [
            # A booking, an order or a bed-day is charged once, however often its signal fires.
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(corrects__isnull=True) & ~Q(source=""),
                name="one_charge_per_source",
            ),
            models.CheckConstraint(
                condition=(Q(corrects__isnull=True) & Q(quantity__gt=0) & Q(amount__gte=0))
                | (Q(corrects__isnull=False) & Q(quantity__lt=0) & Q(amount__lte=0)),
                name="charge_sign_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name_zh} x{self.quantity} = {self.amount}"

    @property
    def name(self) -> str:
        from django.utils.translation import get_language

        return self.name_en if (get_language() or "").startswith("en") and self.name_en else self.name_zh


# --- Insurance -----------------------------------------------------------------------------------


class InsuranceScheme(BilingualNameMixin, TimeStampedModel):
    """Urban employee, urban and rural resident, commercial, self-pay (patients.InsuranceType)."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    pays_real_time = models.BooleanField(
        _("settles in real time"), default=True, help_text=_("The insurer's share is settled at payment.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("insurance scheme")
        verbose_name_plural = _("insurance schemes")

    def __str__(self) -> str:
        return self.name


class InsurancePolicy(TimeStampedModel):
    """A scheme's rules for one calendar year, editable by the hospital's billing managers."""

    scheme = models.ForeignKey(InsuranceScheme, on_delete=models.PROTECT, related_name="policies")
    year = models.PositiveSmallIntegerField(_("year"))
    class_b_self_pay_share = models.DecimalField(
        _("class B share paid by the patient first"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.1000"),
        help_text=_("0.10 = 10%% of every class B item is paid by the patient before reimbursement."),
    )
    outpatient_annual_cap = money_field(_("outpatient annual cap (insurer)"), default=ZERO)
    inpatient_annual_cap = money_field(_("inpatient annual cap (insurer)"), default=ZERO)
    excluded_items = models.ManyToManyField(
        CatalogItem, blank=True, related_name="+", verbose_name=_("items the scheme never pays")
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("insurance policy")
        verbose_name_plural = _("insurance policies")
        ordering = ["scheme", "-year"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "year"], name="one_policy_per_scheme_and_year"),
            models.CheckConstraint(
                condition=Q(class_b_self_pay_share__gte=0) & Q(class_b_self_pay_share__lte=1),
                name="class_b_share_is_a_fraction",
            ),
            models.CheckConstraint(
                condition=Q(outpatient_annual_cap__gte=0) & Q(inpatient_annual_cap__gte=0),
                name="caps_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scheme} {self.year}"


class PolicyRule(models.Model):
    """Deductible and reimbursement ratios for one care setting at one hospital level (1-3)."""

    policy = models.ForeignKey(InsurancePolicy, on_delete=models.CASCADE, related_name="rules")
    care_setting = models.CharField(_("care setting"), max_length=12, choices=CareSetting.choices)
    hospital_level = models.PositiveSmallIntegerField(_("hospital level"), help_text=_("1, 2 or 3"))
    deductible = money_field(_("deductible"), default=ZERO)
    deductible_basis = models.CharField(
        _("deductible applies"), max_length=5, choices=DeductibleBasis.choices, default=DeductibleBasis.YEAR
    )
    ratio_class_a = models.DecimalField(_("ratio, class A"), max_digits=5, decimal_places=4)
    ratio_class_b = models.DecimalField(_("ratio, class B"), max_digits=5, decimal_places=4)
    ratio_self_pay = models.DecimalField(
        _("ratio, self-pay items"), max_digits=5, decimal_places=4, default=Decimal("0")
    )

    class Meta:
        verbose_name = _("policy rule")
        verbose_name_plural = _("policy rules")
        ordering = ["care_setting", "hospital_level"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "care_setting", "hospital_level"], name="one_rule_per_setting_and_level"
            ),
            models.CheckConstraint(
                condition=Q(hospital_level__gte=1) & Q(hospital_level__lte=3), name="hospital_level_1_to_3"
            ),
            models.CheckConstraint(
                condition=Q(ratio_class_a__gte=0)
                & Q(ratio_class_a__lte=1)
                & Q(ratio_class_b__gte=0)
                & Q(ratio_class_b__lte=1)
                & Q(ratio_self_pay__gte=0)
                & Q(ratio_self_pay__lte=1)
                & Q(deductible__gte=0),
                name="ratios_are_fractions",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} {self.care_setting} L{self.hospital_level}"


# --- Settlements ---------------------------------------------------------------------------------


class Settlement(models.Model):
    """The split of a set of charges between the insurer and the patient, computed in real time
    when the patient pays. A refund reverses it with a ``reversal`` (negative amounts) and settles
    what is left anew."""

    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="settlements")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(
        _("kind"), max_length=12, choices=SettlementKind.choices, default=SettlementKind.SETTLEMENT
    )
    status = models.CharField(
        _("status"), max_length=10, choices=SettlementStatus.choices, default=SettlementStatus.PENDING
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    scheme = models.CharField(_("insurance scheme"), max_length=20)
    policy = models.ForeignKey(
        InsurancePolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    care_setting = models.CharField(_("care setting"), max_length=12, choices=CareSetting.choices)
    hospital_level = models.PositiveSmallIntegerField(_("hospital level"), default=3)
    year = models.PositiveSmallIntegerField(_("year"))
    total_amount = money_field(_("total"))
    insurer_amount = money_field(_("insurer pays"))
    patient_amount = money_field(_("patient pays"))
    deductible_applied = money_field(_("deductible applied"), default=ZERO)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    confirmed_at = models.DateTimeField(_("settled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("settlement")
        verbose_name_plural = _("settlements")
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=adds_up("total_amount", "insurer_amount", "patient_amount"),
                name="settlement_shares_add_up",
            ),
        ]
        indexes = [models.Index(fields=["patient", "year", "status"])]

    def __str__(self) -> str:
        return f"S{self.pk} {self.total_amount} ({self.status})"

    @property
    def number(self) -> str:
        return f"S{self.pk:08d}"


class SettlementLine(models.Model):
    settlement = models.ForeignKey(Settlement, on_delete=models.PROTECT, related_name="lines")
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="settlement_lines")
    amount = money_field(_("amount"))
    insurer_amount = money_field(_("insurer pays"))
    patient_amount = money_field(_("patient pays"))
    deductible = money_field(_("deductible"), default=ZERO)
    reasons = models.JSONField(_("reasons"), default=list)

    class Meta:
        verbose_name = _("settlement line")
        verbose_name_plural = _("settlement lines")
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=adds_up("amount", "insurer_amount", "patient_amount"), name="line_shares_add_up"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.settlement_id}/{self.charge_id}: {self.insurer_amount} + {self.patient_amount}"


# --- Payments ------------------------------------------------------------------------------------


class Payment(models.Model):
    """A payment order for the patient's share of one settlement, with one provider."""

    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="payments")
    settlement = models.OneToOneField(Settlement, on_delete=models.PROTECT, related_name="payment")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(_("provider"), max_length=20)
    method = models.CharField(_("method"), max_length=10, choices=PaymentMethod.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=PaymentChannel.choices)
    amount = money_field(_("amount"))
    out_trade_no = models.CharField(_("order number"), max_length=40, unique=True)
    provider_reference = models.CharField(_("provider's reference"), max_length=64, blank=True)
    code_url = models.CharField(_("QR code content"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, db_index=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True, db_index=True)
    cashier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_positive")]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["provider", "paid_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.out_trade_no} {self.amount} ({self.status})"

    @property
    def receipt_number(self) -> str:
        return f"E{self.pk:010d}"


class ProviderNotification(models.Model):
    """Every asynchronous notification received, with what was done with it."""

    provider = models.CharField(_("provider"), max_length=20)
    event_id = models.CharField(_("event id"), max_length=64, blank=True)
    out_trade_no = models.CharField(_("order number"), max_length=40, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=NotificationOutcome.choices)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    body_sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField(_("received at"), default=clock.now)

    class Meta:
        verbose_name = _("provider notification")
        verbose_name_plural = _("provider notifications")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"],
                condition=Q(outcome__in=["applied", "conflict"]),
                name="one_applied_notification_per_event",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id or '-'} ({self.outcome})"


# --- Refunds -------------------------------------------------------------------------------------


class Refund(models.Model):
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="refunds")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=10, choices=RefundStatus.choices, default=RefundStatus.REQUESTED
    )
    reason = models.CharField(_("reason"), max_length=300)
    automatic = models.BooleanField(_("from a cancellation"), default=False)
    total_amount = money_field(_("charges refunded"), default=ZERO)
    insurer_amount = money_field(_("insurer's share returned"), default=ZERO)
    patient_amount = money_field(_("paid back to the patient"), default=ZERO)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), default=clock.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=300, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"R{self.pk} {self.patient_amount} ({self.status})"

    @property
    def number(self) -> str:
        return f"R{self.pk:08d}"


class RefundLine(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="lines")
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="refund_lines")
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3)
    amount = money_field(_("amount"))
    correction = models.OneToOneField(
        Charge, on_delete=models.PROTECT, null=True, blank=True, related_name="refund_line_of"
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="refund_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.refund_id}/{self.charge_id} x{self.quantity}"


class RefundPayout(models.Model):
    """Money going back to the patient through the provider of one original payment."""

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="payouts")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="payouts")
    amount = money_field(_("amount"))
    out_refund_no = models.CharField(_("refund number"), max_length=40, unique=True)
    provider_reference = models.CharField(_("provider's reference"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.PENDING
    )
    cashier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    paid_at = models.DateTimeField(_("paid out at"), null=True, blank=True, db_index=True)
    failure = models.CharField(_("failure"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_positive")]

    def __str__(self) -> str:
        return f"{self.out_refund_no} {self.amount} ({self.status})"


# --- Ledger --------------------------------------------------------------------------------------


class LedgerAccount(models.Model):
    code = models.CharField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=10, choices=AccountKind.choices)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class JournalEntry(models.Model):
    """A balanced double-entry posting: the sum of debits equals the sum of credits."""

    kind = models.CharField(_("kind"), max_length=12, choices=EntryKind.choices)
    occurred_at = models.DateTimeField(_("occurred at"), default=clock.now, db_index=True)
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    settlement = models.ForeignKey(
        Settlement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payout = models.ForeignKey(
        RefundPayout, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"J{self.pk} {self.kind}"


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="lines")
    debit = money_field(_("debit"), default=ZERO)
    credit = money_field(_("credit"), default=ZERO)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0) & Q(credit=0)) | (Q(credit__gt=0) & Q(debit=0)),
                name="journal_line_one_side",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} D{self.debit} C{self.credit}"


# --- Reconciliation ------------------------------------------------------------------------------


class Reconciliation(models.Model):
    provider = models.CharField(_("provider"), max_length=20)
    date = models.DateField(_("statement date"))
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    file_sha256 = models.CharField(max_length=64)
    statement_rows = models.PositiveIntegerField(_("rows in the statement"), default=0)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    provider_total = money_field(_("provider's net total"), default=ZERO)
    hospital_total = money_field(_("our net total"), default=ZERO)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("run at"), default=clock.now)

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        ordering = ["-date", "-created_at"]

    def __str__(self) -> str:
        return f"{self.provider} {self.date}"

    @property
    def balanced(self) -> bool:
        return not self.mismatches.exists()


class ReconciliationMismatch(models.Model):
    reconciliation = models.ForeignKey(Reconciliation, on_delete=models.CASCADE, related_name="mismatches")
    kind = models.CharField(_("kind"), max_length=25, choices=MismatchKind.choices)
    reference = models.CharField(_("reference"), max_length=40)
    record_type = models.CharField(_("type"), max_length=10)
    hospital_amount = money_field(_("our amount"), null=True, blank=True)
    provider_amount = money_field(_("provider's amount"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=200, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


# --- The sandbox payment gateway (the provider's side) -------------------------------------------


class SandboxOrder(models.Model):
    """An order as the sandbox gateway (standing in for WeChat Pay / Alipay) keeps it."""

    out_trade_no = models.CharField(max_length=40, unique=True)
    transaction_id = models.CharField(max_length=40, unique=True)
    pay_token = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=120)
    amount_fen = models.PositiveIntegerField()
    refunded_fen = models.PositiveIntegerField(default=0)
    notify_url = models.CharField(max_length=300)
    state = models.CharField(max_length=10, default="NOTPAY")  # NOTPAY SUCCESS CLOSED REFUND
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("sandbox gateway order")
        verbose_name_plural = _("sandbox gateway orders")

    def __str__(self) -> str:
        return f"{self.out_trade_no} ({self.state})"


class SandboxRefund(models.Model):
    order = models.ForeignKey(SandboxOrder, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField(max_length=40, unique=True)
    refund_id = models.CharField(max_length=40, unique=True)
    amount_fen = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=clock.now, db_index=True)

    def __str__(self) -> str:
        return self.out_refund_no


class SandboxNotification(models.Model):
    """A notification the gateway owes the merchant; retried until acknowledged."""

    order = models.ForeignKey(SandboxOrder, on_delete=models.PROTECT, related_name="notifications")
    event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=40)
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"{self.event_id} ({self.event_type})"
