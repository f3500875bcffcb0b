"""The inputs of the risk models as the record holds them.

Reads the medical record through emr's selectors (vitals, results, problems, medications), home
readings from monitoring and the patient's own lifestyle answers. No access check: callers have
opened the patient (services and views do), or run as the system after a record write.

Sources, newest value first:
* systolic blood pressure: the newer of the last office vital sign (emr) and the mean of the home
  readings of the last 14 days (monitoring, at least three readings);
* total cholesterol (LOINC 2093-3), HDL (2085-9), LDL (13457-7, 18262-6, 2089-1), HbA1c (4548-4)
  from results, in mg/dL whatever unit the laboratory used;
* diabetes: an active problem E10-E14, or an HbA1c of 6.5% or more (ADA criterion);
* blood pressure treatment: a current medication with an ATC code in C02, C03, C07, C08, C09;
* smoking: the patient's answer, or an active problem F17 / Z72.0;
* race: the PCE have white and African American equations only; the record holds no race, so
  every patient is "other", which the guideline scores with the white equations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from smartcare.core import clock
from smartcare.emr import selectors as emr
from smartcare.emr.choices import VitalKind
from smartcare.emr.models import Observation, Order, Problem, VitalSign
from smartcare.health.equations import CHOLESTEROL_MG_DL_PER_MMOL_L
from smartcare.health.models import LifestyleAnswers
from smartcare.monitoring.choices import MeasurementKind
from smartcare.monitoring.models import Reading

TOTAL_CHOLESTEROL = ("2093-3",)
HDL = ("2085-9",)
LDL = ("13457-7", "18262-6", "2089-1")
HBA1C = ("4548-4",)
ANTIHYPERTENSIVE_ATC = ("C02", "C03", "C07", "C08", "C09")
DIABETES_ICD10 = ("E10", "E11", "E12", "E13", "E14")
SMOKING_ICD10 = ("F17", "Z72.0")
HOME_BP_DAYS = 14
HOME_BP_MIN_READINGS = 3


@dataclass
class RecordInputs:
    cv: dict[str, Any] = field(default_factory=dict)  # PCE / Framingham raw inputs
    findrisc: dict[str, Any] = field(default_factory=dict)
    measures: dict[str, Any] = field(default_factory=dict)  # sbp, ldl, hba1c, weight, bmi
    missing: dict[str, list[str]] = field(default_factory=dict)  # model -> missing inputs


def fingerprint(model: str, version: str, inputs: dict[str, Any]) -> str:
    text = json.dumps({"m": model, "v": version, "i": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _mg_dl(observation: Observation) -> float | None:
    if observation.value is None:
        return None
    unit = observation.unit.strip().lower().replace(" ", "")
    if unit == "mg/dl":
        return float(observation.value)
    if unit == "mmol/l":
        return float(observation.value) * CHOLESTEROL_MG_DL_PER_MMOL_L
    return None


def _latest(codes: tuple[str, ...], patient: Any, as_of: dt.datetime) -> Observation | None:
    return (
        Observation.objects.filter(
            patient=patient, code__in=codes, value__isnull=False, observed_at__lte=as_of
        )
        .order_by("-observed_at", "-pk")
        .first()
    )


def _systolic(patient: Any, as_of: dt.datetime) -> tuple[float | None, str]:
    office = (
        VitalSign.objects.filter(patient=patient, kind=VitalKind.BLOOD_PRESSURE, measured_at__lte=as_of)
        .order_by("-measured_at", "-pk")
        .first()
    )
    home = list(
        Reading.objects.filter(
            patient=patient,
            kind=MeasurementKind.BLOOD_PRESSURE,
            measured_at__lte=as_of,
            measured_at__gte=as_of - dt.timedelta(days=HOME_BP_DAYS),
        ).values_list("value", "measured_at")
    )
    if len(home) >= HOME_BP_MIN_READINGS and (
        office is None or max(m for _v, m in home) > office.measured_at
    ):
        return round(sum(v for v, _m in home) / len(home), 1), "home"
    if office is not None:
        return float(office.value), "office"
    return None, ""


def gather(patient: Any, *, as_of: dt.datetime | None = None) -> RecordInputs:
    """The risk inputs of ``patient`` at ``as_of`` (default now), and what is missing."""
    as_of = as_of or clock.now()
    found = RecordInputs()
    born = patient.birth_date
    today = timezone.localtime(as_of).date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    sex = str(patient.sex or "")
    problems = [
        p.icd10_id.upper()
        for p in Problem.objects.filter(patient=patient, status="active", created_at__lte=as_of).only(
            "icd10_id"
        )
    ]
    tc = _latest(TOTAL_CHOLESTEROL, patient, as_of)
    hdl = _latest(HDL, patient, as_of)
    ldl = _latest(LDL, patient, as_of)
    hba1c = _latest(HBA1C, patient, as_of)
    sbp, sbp_source = _systolic(patient, as_of)
    medications = Order.objects.filter(patient=patient, kind="medication", ordered_at__lte=as_of)
    current = [o.code.upper() for o in emr.current_medications(patient) if o.ordered_at <= as_of]
    treated = any(code.startswith(ANTIHYPERTENSIVE_ATC) for code in current)
    ever_treated = treated or any(
        (code or "").upper().startswith(ANTIHYPERTENSIVE_ATC)
        for code in medications.values_list("code", flat=True)
    )
    hba1c_value = float(hba1c.value) if hba1c is not None and hba1c.value is not None else None
    diabetes = any(c.startswith(DIABETES_ICD10) for c in problems) or (
        hba1c_value is not None and hba1c_value >= 6.5
    )
    answers = LifestyleAnswers.objects.filter(patient=patient, answered_at__lte=as_of).first()
    smoker: bool | None = answers.smoker if answers else None
    if any(c.startswith(SMOKING_ICD10) for c in problems):
        smoker = True
    vitals = VitalSign.objects.filter(patient=patient, measured_at__lte=as_of).order_by("-measured_at", "-pk")
    weight = vitals.filter(kind=VitalKind.WEIGHT).first()
    height = vitals.filter(kind=VitalKind.HEIGHT).first()
    home_weight = (
        Reading.objects.filter(patient=patient, kind=MeasurementKind.WEIGHT, measured_at__lte=as_of)
        .order_by("-measured_at", "-pk")
        .first()
    )
    weight_kg: float | None = float(weight.value) if weight else None
    if home_weight is not None and (weight is None or home_weight.measured_at > weight.measured_at):
        weight_kg = float(home_weight.value)
    bmi = round(weight_kg / (float(height.value) / 100) ** 2, 1) if weight_kg and height else None

    tc_mg, hdl_mg, ldl_mg = (_mg_dl(o) if o is not None else None for o in (tc, hdl, ldl))
    found.cv = {
        "age": age,
        "sex": sex,
        "race": "other",
        "total_cholesterol": round(tc_mg, 2) if tc_mg is not None else None,
        "total_cholesterol_unit": "mg/dL",
        "hdl": round(hdl_mg, 2) if hdl_mg is not None else None,
        "hdl_unit": "mg/dL",
        "systolic_bp": sbp,
        "bp_treated": treated,
        "smoker": smoker,
        "diabetes": diabetes,
    }
    found.missing["pce"] = found.missing["framingham"] = [
        k for k in ("total_cholesterol", "hdl", "systolic_bp", "smoker") if found.cv[k] is None
    ]
    glucose_history = answers.high_glucose_history if answers else None
    if diabetes or (hba1c_value is not None and hba1c_value >= 5.7):
        glucose_history = True
    found.findrisc = {
        "age": age,
        "sex": sex,
        "bmi": bmi,
        "waist_cm": answers.waist_cm if answers else None,
        "physically_active": answers.physically_active if answers else None,
        "daily_vegetables": answers.daily_vegetables if answers else None,
        "bp_medication": ever_treated,
        "high_glucose_history": glucose_history,
        "family_history": answers.family_history if answers else None,
    }
    found.missing["findrisc"] = [k for k, v in found.findrisc.items() if v is None]
    found.measures = {
        "systolic_bp": sbp,
        "systolic_source": sbp_source,
        "ldl": round(ldl_mg, 1) if ldl_mg is not None else None,
        "hba1c": hba1c_value,
        "weight": weight_kg,
        "bmi": bmi,
        "total_cholesterol": found.cv["total_cholesterol"],
        "physically_active": answers.physically_active if answers else None,
    }
    return found
