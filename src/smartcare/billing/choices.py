from django.db import models
from django.utils.translation import gettext_lazy as _


class ItemKind(models.TextChoices):
    REGISTRATION = "registration", _("Registration fee")
    CONSULTATION = "consultation", _("Consultation fee")
    LAB = "lab", _("Lab tests")
    IMAGING = "imaging", _("Imaging and examinations")
    DRUG = "drug", _("Drugs")
    PROCEDURE = "procedure", _("Procedures and treatment")
    BED = "bed", _("Bed fee")


class InsuranceCategory(models.TextChoices):
    """The national reimbursement catalog's classes (甲类, 乙类, 自费)."""

    CLASS_A = "A", _("Class A")
    CLASS_B = "B", _("Class B")
    SELF_PAY = "self", _("Self-pay item")


class CareSetting(models.TextChoices):
    OUTPATIENT = "outpatient", _("Outpatient")
    INPATIENT = "inpatient", _("Inpatient")


class BillKind(models.TextChoices):
    VISIT = "visit", _("Outpatient or emergency visit")
    STAY = "stay", _("Inpatient stay")


class ChargeStatus(models.TextChoices):
    ACTIVE = "active", _("Charged")
    CANCELLED = "cancelled", _("Cancelled before payment")


class DeductibleBasis(models.TextChoices):
    YEAR = "year", _("Once per calendar year")
    BILL = "bill", _("Once per visit or stay")


class SettlementStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting payment")
    CONFIRMED = "confirmed", _("Settled")
    VOIDED = "voided", _("Voided (payment not completed)")


class SettlementKind(models.TextChoices):
    SETTLEMENT = "settlement", _("Settlement")
    REVERSAL = "reversal", _("Reversal for a refund")


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("Cash")
    CARD = "card", _("Bank card")
    QR = "qr", _("QR code (mobile payment)")


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for payment")
    PAID = "paid", _("Paid")
    EXPIRED = "expired", _("Expired")
    CLOSED = "closed", _("Closed")


class PaymentChannel(models.TextChoices):
    PORTAL = "portal", _("Patient's phone")
    KIOSK = "kiosk", _("Self-service kiosk")
    DESK = "desk", _("Cashier window")
    APP = "app", _("App or mini-program")


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", _("Awaiting approval")
    APPROVED = "approved", _("Approved, paying out")
    COMPLETED = "completed", _("Refunded")
    REJECTED = "rejected", _("Rejected")


class PayoutStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    PAID = "paid", _("Paid out")
    FAILED = "failed", _("Failed")


class AccountKind(models.TextChoices):
    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    INCOME = "income", _("Income")


class EntryKind(models.TextChoices):
    SETTLEMENT = "settlement", _("Settlement")
    REVERSAL = "reversal", _("Settlement reversed")
    PAYMENT = "payment", _("Payment received")
    REFUND = "refund", _("Refund paid out")


class MismatchKind(models.TextChoices):
    MISSING_AT_HOSPITAL = "missing_at_hospital", _("In the provider's statement, not in our records")
    MISSING_AT_PROVIDER = "missing_at_provider", _("In our records, not in the provider's statement")
    AMOUNT_DIFFERS = "amount_differs", _("Amounts differ")
    STATUS_DIFFERS = "status_differs", _("Status differs")


class NotificationOutcome(models.TextChoices):
    APPLIED = "applied", _("Applied")
    DUPLICATE = "duplicate", _("Repeated notification, already applied")
    REJECTED = "rejected", _("Rejected")
    CONFLICT = "conflict", _("Does not match our record")
