from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class EncounterKind(models.TextChoices):
    OUTPATIENT = "outpatient", _("Outpatient visit")
    INPATIENT = "inpatient", _("Inpatient stay")
    EMERGENCY = "emergency", _("Emergency visit")


class EncounterStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    IN_PROGRESS = "in_progress", _("In progress")
    FINISHED = "finished", _("Finished")
    CANCELLED = "cancelled", _("Cancelled")


class MovementKind(models.TextChoices):
    ADMISSION = "admission", _("Admission")
    TRANSFER = "transfer", _("Transfer")
    DISCHARGE = "discharge", _("Discharge")


class DiagnosisStatus(models.TextChoices):
    PROVISIONAL = "provisional", _("Provisional")
    CONFIRMED = "confirmed", _("Confirmed")
    RULED_OUT = "ruled_out", _("Ruled out")


class NoteKind(models.TextChoices):
    PROGRESS = "progress", _("Progress note")
    ADMISSION = "admission", _("Admission note")
    DISCHARGE_SUMMARY = "discharge_summary", _("Discharge summary")
    VISIT_SUMMARY = "visit_summary", _("Visit summary")
    REFERRAL = "referral", _("Referral letter")


SUMMARY_KINDS = (NoteKind.VISIT_SUMMARY, NoteKind.DISCHARGE_SUMMARY, NoteKind.REFERRAL)


class NoteStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SIGNED = "signed", _("Signed")
    AMENDED = "amended", _("Amended")


# The structured sections of every note, in the order they are written.
NOTE_SECTIONS: tuple[tuple[str, Any], ...] = (
    ("chief_complaint", _("Chief complaint")),
    ("history", _("History of present illness")),
    ("examination", _("Examination")),
    ("assessment", _("Assessment")),
    ("plan", _("Plan")),
)
SECTION_KEYS = tuple(key for key, _label in NOTE_SECTIONS)


class OrderKind(models.TextChoices):
    MEDICATION = "medication", _("Medication")
    LAB = "lab", _("Lab test")
    IMAGING = "imaging", _("Imaging exam")
    PROCEDURE = "procedure", _("Procedure")


class OrderStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SIGNED = "signed", _("Signed")
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    DISCONTINUED = "discontinued", _("Discontinued")


# The order lifecycle: which status may follow which. Anything else is refused (EMR-006).
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.DRAFT: frozenset({OrderStatus.SIGNED, OrderStatus.CANCELLED}),
    OrderStatus.SIGNED: frozenset({OrderStatus.ACTIVE, OrderStatus.COMPLETED, OrderStatus.CANCELLED}),
    OrderStatus.ACTIVE: frozenset({OrderStatus.COMPLETED, OrderStatus.DISCONTINUED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.DISCONTINUED: frozenset(),
}
CURRENT_ORDER_STATUSES = (OrderStatus.SIGNED, OrderStatus.ACTIVE)


class Route(models.TextChoices):
    ORAL = "oral", _("Oral")
    IV = "iv", _("Intravenous")
    IM = "im", _("Intramuscular")
    SC = "sc", _("Subcutaneous")
    TOPICAL = "topical", _("Topical")
    INHALED = "inhaled", _("Inhaled")
    SUBLINGUAL = "sublingual", _("Sublingual")
    RECTAL = "rectal", _("Rectal")


class AllergySeverity(models.TextChoices):
    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    SEVERE = "severe", _("Severe")


class AllergyStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    INACTIVE = "inactive", _("Inactive")
    ENTERED_IN_ERROR = "entered_in_error", _("Entered in error")


class VitalKind(models.TextChoices):
    BLOOD_PRESSURE = "bp", _("Blood pressure")
    HEART_RATE = "hr", _("Heart rate")
    TEMPERATURE = "temp", _("Temperature")
    SPO2 = "spo2", _("Oxygen saturation")
    WEIGHT = "weight", _("Weight")
    HEIGHT = "height", _("Height")
    RESPIRATORY_RATE = "rr", _("Respiratory rate")


VITAL_UNITS = {
    VitalKind.BLOOD_PRESSURE: "mmHg",
    VitalKind.HEART_RATE: "/min",
    VitalKind.TEMPERATURE: "°C",
    VitalKind.SPO2: "%",
    VitalKind.WEIGHT: "kg",
    VitalKind.HEIGHT: "cm",
    VitalKind.RESPIRATORY_RATE: "/min",
}
# Plausible ranges: anything outside is a typing error, refused (EMR-009).
VITAL_RANGES = {
    VitalKind.BLOOD_PRESSURE: (20.0, 300.0),
    VitalKind.HEART_RATE: (10.0, 300.0),
    VitalKind.TEMPERATURE: (25.0, 45.0),
    VitalKind.SPO2: (30.0, 100.0),
    VitalKind.WEIGHT: (0.3, 400.0),
    VitalKind.HEIGHT: (20.0, 250.0),
    VitalKind.RESPIRATORY_RATE: (2.0, 80.0),
}


class ProblemStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RESOLVED = "resolved", _("Resolved")


class ObservationFlag(models.TextChoices):
    NORMAL = "", pgettext_lazy("result flag", "Normal")
    HIGH = "H", _("High")
    LOW = "L", _("Low")
    CRITICAL_HIGH = "HH", _("Critically high")
    CRITICAL_LOW = "LL", _("Critically low")
    ABNORMAL = "A", _("Abnormal")


class ObservationSource(models.TextChoices):
    MANUAL = "manual", _("Entered by hand")
    LAB = "lab", _("Laboratory")
    HL7 = "hl7", _("HL7 v2 message")
    FHIR = "fhir", _("FHIR import")
    PRE_VISIT = "pre_visit", _("Pre-visit exam")
