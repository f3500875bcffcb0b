"""Measurements, devices, thresholds, alerts and rehab: the vocabulary of home monitoring.

The hospital defaults for thresholds and trend rules live here (in code, so that a fresh database
and a flushed test database behave the same); an administrator overrides them hospital-wide with a
``Threshold`` row without a patient, a doctor per patient with a row for that patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class MeasurementKind(models.TextChoices):
    BLOOD_PRESSURE = "blood_pressure", _("Blood pressure")
    GLUCOSE = "glucose", _("Blood glucose")
    SPO2 = "spo2", _("Oxygen saturation (SpO2)")
    WEIGHT = "weight", _("Body weight")
    HEART_RATE = "heart_rate", _("Heart rate")
    STEPS = "steps", _("Steps")
    EXERCISE_MINUTES = "exercise_minutes", _("Exercise minutes")
    ROM_SESSIONS = "rom_sessions", _("Range-of-motion exercise sessions")


class DeviceKind(models.TextChoices):
    BP_MONITOR = "bp_monitor", _("Blood pressure monitor")
    GLUCOMETER = "glucometer", _("Glucometer")
    PULSE_OXIMETER = "pulse_oximeter", _("Pulse oximeter")
    SCALE = "scale", _("Scale")
    WEARABLE = "wearable", _("Wearable")


# What each kind of device may report. Range-of-motion sessions are entered by the patient.
DEVICE_MEASUREMENTS: dict[str, frozenset[str]] = {
    DeviceKind.BP_MONITOR: frozenset({MeasurementKind.BLOOD_PRESSURE, MeasurementKind.HEART_RATE}),
    DeviceKind.GLUCOMETER: frozenset({MeasurementKind.GLUCOSE}),
    DeviceKind.PULSE_OXIMETER: frozenset({MeasurementKind.SPO2, MeasurementKind.HEART_RATE}),
    DeviceKind.SCALE: frozenset({MeasurementKind.WEIGHT}),
    DeviceKind.WEARABLE: frozenset(
        {
            MeasurementKind.STEPS,
            MeasurementKind.EXERCISE_MINUTES,
            MeasurementKind.HEART_RATE,
            MeasurementKind.SPO2,
        }
    ),
}
# What a patient may enter by hand in the portal (a device without a connection, a paper diary).
MANUAL_MEASUREMENTS = (
    MeasurementKind.BLOOD_PRESSURE,
    MeasurementKind.GLUCOSE,
    MeasurementKind.WEIGHT,
    MeasurementKind.SPO2,
    MeasurementKind.ROM_SESSIONS,
)


class DeviceStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")


class ReadingSource(models.TextChoices):
    MQTT = "mqtt", _("Device over MQTT")
    HTTP = "http", _("Device over HTTP (FHIR)")
    MANUAL = "manual", _("Entered by the patient")


class GlucoseContext(models.TextChoices):
    FASTING = "fasting", _("Fasting")
    BEFORE_MEAL = "before_meal", _("Before a meal")
    AFTER_MEAL = "after_meal", _("After a meal")
    BEDTIME = "bedtime", _("Bedtime")
    RANDOM = "random", _("Random")


class Flag(models.TextChoices):
    NORMAL = "", _("Normal")
    WARNING = "W", _("Warning")
    CRITICAL = "C", _("Critical")


class AlertSeverity(models.TextChoices):
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class AlertRule(models.TextChoices):
    THRESHOLD = "threshold", _("Threshold")
    TREND = "trend", _("Trend")


class AlertDirection(models.TextChoices):
    HIGH = "high", _("High")
    LOW = "low", _("Low")
    RISING = "rising", _("Rising")
    FALLING = "falling", _("Falling")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")


class EscalationLevel(models.IntegerChoices):
    RESPONSIBLE = 0, _("Responsible doctor")
    DUTY_DOCTOR = 1, _("Duty doctor")
    DEPARTMENT_HEAD = 2, _("Department head")


class RehabTargetKind(models.TextChoices):
    STEPS = "steps", _("Steps per day")
    EXERCISE_MINUTES = "exercise_minutes", _("Exercise minutes per day")
    ROM_SESSIONS = "rom_sessions", _("Range-of-motion sessions per day")


class RehabPlanStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class SuggestionRule(models.TextChoices):
    BELOW_HALF = "below_half", _("Three days below half the target")
    PROGRESSION = "progression", _("A week at or above the target")


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the therapist")
    ACCEPTED = "accepted", _("Accepted")
    EDITED = "edited", _("Accepted with another target")
    DISMISSED = "dismissed", _("Dismissed")


# --- Units, LOINC codes and plausible ranges -------------------------------------------------------

UNITS: dict[str, str] = {
    MeasurementKind.BLOOD_PRESSURE: "mmHg",
    MeasurementKind.GLUCOSE: "mmol/L",
    MeasurementKind.SPO2: "%",
    MeasurementKind.WEIGHT: "kg",
    MeasurementKind.HEART_RATE: "/min",
    MeasurementKind.STEPS: "steps",
    MeasurementKind.EXERCISE_MINUTES: "min",
    MeasurementKind.ROM_SESSIONS: "sessions",
}
# UCUM codes for FHIR valueQuantity.
UCUM: dict[str, str] = {
    MeasurementKind.BLOOD_PRESSURE: "mm[Hg]",
    MeasurementKind.GLUCOSE: "mmol/L",
    MeasurementKind.SPO2: "%",
    MeasurementKind.WEIGHT: "kg",
    MeasurementKind.HEART_RATE: "/min",
    MeasurementKind.STEPS: "{steps}",
    MeasurementKind.EXERCISE_MINUTES: "min",
    MeasurementKind.ROM_SESSIONS: "{sessions}",
}

LOINC_SYSTEM = "http://loinc.org"
LOCAL_SYSTEM = "https://smartcare.example/monitoring"
LOINC_BP_PANEL = "85354-9"
LOINC_SYSTOLIC = "8480-6"
LOINC_DIASTOLIC = "8462-4"
LOINC_HEART_RATE = "8867-4"
# The code each kind is written with (FHIR output).
LOINC: dict[str, str] = {
    MeasurementKind.BLOOD_PRESSURE: LOINC_BP_PANEL,
    MeasurementKind.GLUCOSE: "14743-9",  # Glucose [Moles/volume] in Capillary blood by Glucometer
    MeasurementKind.SPO2: "59408-5",  # Oxygen saturation in Arterial blood by Pulse oximetry
    MeasurementKind.WEIGHT: "29463-7",  # Body weight
    MeasurementKind.HEART_RATE: LOINC_HEART_RATE,
    MeasurementKind.STEPS: "55423-8",  # Number of steps in unspecified time Pedometer
    MeasurementKind.EXERCISE_MINUTES: "55411-3",  # Exercise duration
}
# Codes accepted on input: LOINC code -> (kind, factor to our unit). Glucose in mg/dL is divided
# by 18.016 (the molar mass of glucose is 180.16 g/mol).
LOINC_INPUT: dict[str, tuple[str, float]] = {
    LOINC_BP_PANEL: (MeasurementKind.BLOOD_PRESSURE, 1.0),
    "55284-4": (MeasurementKind.BLOOD_PRESSURE, 1.0),  # Blood pressure systolic and diastolic
    "14743-9": (MeasurementKind.GLUCOSE, 1.0),
    "15074-8": (MeasurementKind.GLUCOSE, 1.0),  # Glucose [Moles/volume] in Blood
    "41653-7": (
        MeasurementKind.GLUCOSE,
        1 / 18.016,
    ),  # Glucose [Mass/volume] in Capillary blood by Glucometer
    "2339-0": (MeasurementKind.GLUCOSE, 1 / 18.016),  # Glucose [Mass/volume] in Blood
    "59408-5": (MeasurementKind.SPO2, 1.0),
    "2708-6": (MeasurementKind.SPO2, 1.0),  # Oxygen saturation in Arterial blood
    "29463-7": (MeasurementKind.WEIGHT, 1.0),
    "3141-9": (MeasurementKind.WEIGHT, 1.0),  # Body weight Measured
    LOINC_HEART_RATE: (MeasurementKind.HEART_RATE, 1.0),
    "55423-8": (MeasurementKind.STEPS, 1.0),
    "41950-7": (MeasurementKind.STEPS, 1.0),  # Number of steps in 24 hour Measured
    "55411-3": (MeasurementKind.EXERCISE_MINUTES, 1.0),
}
LOCAL_CODES = {"rom-sessions": MeasurementKind.ROM_SESSIONS}

# Values outside these ranges are rejected as implausible (a broken sensor, a typing error).
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "systolic": (40, 300),
    "diastolic": (20, 200),
    MeasurementKind.GLUCOSE: (0.5, 50),
    MeasurementKind.SPO2: (50, 100),
    MeasurementKind.WEIGHT: (1, 400),
    MeasurementKind.HEART_RATE: (20, 250),
    MeasurementKind.STEPS: (0, 100000),
    MeasurementKind.EXERCISE_MINUTES: (0, 1440),
    MeasurementKind.ROM_SESSIONS: (0, 50),
}


# --- Thresholds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """Alert bounds for one metric. High bounds count at or above (``>=``), low bounds below (``<``):
    "at or above 180/110" is critical, "SpO2 below 90%" is critical."""

    critical_low: float | None = None
    warning_low: float | None = None
    warning_high: float | None = None
    critical_high: float | None = None

    def classify(self, value: float) -> tuple[str, str] | None:
        """(severity, direction) of ``value``, or None when it is within bounds."""
        if self.critical_high is not None and value >= self.critical_high:
            return AlertSeverity.CRITICAL, AlertDirection.HIGH
        if self.critical_low is not None and value < self.critical_low:
            return AlertSeverity.CRITICAL, AlertDirection.LOW
        if self.warning_high is not None and value >= self.warning_high:
            return AlertSeverity.WARNING, AlertDirection.HIGH
        if self.warning_low is not None and value < self.warning_low:
            return AlertSeverity.WARNING, AlertDirection.LOW
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "critical_low": self.critical_low,
            "warning_low": self.warning_low,
            "warning_high": self.warning_high,
            "critical_high": self.critical_high,
        }


# (measurement kind, metric) -> hospital default. Metric names the field of the reading:
# blood pressure has "systolic" (value) and "diastolic" (value2); the others "value". A pulse
# reported by a blood pressure monitor or oximeter is checked as heart rate.
DEFAULT_THRESHOLDS: dict[tuple[str, str], Bounds] = {
    (MeasurementKind.BLOOD_PRESSURE, "systolic"): Bounds(warning_low=90, warning_high=160, critical_high=180),
    (MeasurementKind.BLOOD_PRESSURE, "diastolic"): Bounds(warning_high=100, critical_high=110),
    # Hypoglycaemia below 3.9 (level 1) and 3.0 mmol/L (level 2); marked hyperglycaemia.
    (MeasurementKind.GLUCOSE, "value"): Bounds(
        critical_low=3.0, warning_low=3.9, warning_high=13.9, critical_high=16.7
    ),
    (MeasurementKind.SPO2, "value"): Bounds(critical_low=90, warning_low=94),
    (MeasurementKind.HEART_RATE, "value"): Bounds(
        critical_low=40, warning_low=50, warning_high=120, critical_high=150
    ),
}
THRESHOLD_METRICS: tuple[tuple[str, str], ...] = tuple(DEFAULT_THRESHOLDS)
METRIC_LABELS: dict[tuple[str, str], Any] = {
    (MeasurementKind.BLOOD_PRESSURE, "systolic"): _("Systolic blood pressure (mmHg)"),
    (MeasurementKind.BLOOD_PRESSURE, "diastolic"): _("Diastolic blood pressure (mmHg)"),
    (MeasurementKind.GLUCOSE, "value"): _("Blood glucose (mmol/L)"),
    (MeasurementKind.SPO2, "value"): _("SpO2 (%)"),
    (MeasurementKind.HEART_RATE, "value"): _("Heart rate (/min)"),
}


@dataclass(frozen=True)
class TrendRule:
    """Three calendar days in a row whose daily means move the same way, by ``min_change`` in all."""

    kind: str
    metric: str
    direction: str
    min_change: float
    days: int = 3


TREND_RULES: tuple[TrendRule, ...] = (
    TrendRule(MeasurementKind.BLOOD_PRESSURE, "systolic", AlertDirection.RISING, 10.0),
    TrendRule(MeasurementKind.GLUCOSE, "value", AlertDirection.RISING, 1.5),
    # Heart failure: a gain of about 2 kg in three days is fluid until proven otherwise.
    TrendRule(MeasurementKind.WEIGHT, "value", AlertDirection.RISING, 2.0),
    TrendRule(MeasurementKind.SPO2, "value", AlertDirection.FALLING, 3.0),
)
