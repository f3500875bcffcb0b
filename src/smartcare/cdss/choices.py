from django.db import models
from django.utils.translation import gettext_lazy as _


class RuleKind(models.TextChoices):
    DRUG_INTERACTION = "drug_interaction", _("Drug-drug interaction")
    DRUG_ALLERGY = "drug_allergy", _("Drug allergy")
    DRUG_CONDITION = "drug_condition", _("Drug-condition contraindication")
    DOSE_RANGE = "dose_range", _("Dose range")
    DUPLICATE_THERAPY = "duplicate_therapy", _("Duplicate therapy")
    REPEATED_EXAM = "repeated_exam", _("Repeated exam")
    MISSED_EXAM = "missed_exam", _("Missed recommended exam")
    CUSTOM = "custom", _("Custom rule")
    COVERAGE = "coverage", _("Not checked (coverage)")


class Indicator(models.TextChoices):
    INFO = "info", _("Information")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


INDICATOR_RANK = {Indicator.CRITICAL: 0, Indicator.WARNING: 1, Indicator.INFO: 2}


class Hook(models.TextChoices):
    PATIENT_VIEW = "patient-view", _("Patient view")
    ORDER_SELECT = "order-select", _("Order select")
    ORDER_SIGN = "order-sign", _("Order sign")


class FeedbackOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    OVERRIDDEN = "overridden", _("Overridden")


class OverrideReason(models.TextChoices):
    """Coded reasons offered with every card (CDS Hooks ``overrideReasons``)."""

    NOT_APPLICABLE = "not-applicable", _("Not applicable here")
    BENEFIT_OUTWEIGHS_RISK = "benefit-outweighs-risk", _("Benefit outweighs the risk")
    ALREADY_MONITORED = "already-monitored", _("Already monitored or managed")
    PATIENT_TOLERATED = "patient-tolerated", _("Patient has tolerated this before")
    DATA_INCORRECT = "data-incorrect", _("Patient data is incorrect")
    PATIENT_DECLINED = "patient-declined", _("Patient declined")


OVERRIDE_REASON_SYSTEM = "https://smartcare.example/fhir/CodeSystem/cdss-override-reason"
