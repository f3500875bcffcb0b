"""Shared helpers: a patient whose record holds every risk input."""

from __future__ import annotations

from typing import Any

from smartcare.emr import services as emr
from smartcare.health import services
from tests.factories import TestHospital

LIFESTYLE = {
    "smoker": "yes",
    "physically_active": "no",
    "daily_vegetables": "yes",
    "high_glucose_history": "no",
    "family_history": "second_degree",
    "waist_cm": "98",
}


def fill_record(h: TestHospital, patient: Any = None, *, sbp: float = 150, tc_mmol: float = 6.2) -> Any:
    """Vitals, cholesterol in mmol/L as Chinese laboratories report it, lifestyle answers."""
    patient = patient or h.patient_in_care
    doctor = h.user("doctor")
    emr.record_vital(doctor, patient.pk, kind="bp", value=sbp, value2=90)
    emr.record_vital(doctor, patient.pk, kind="weight", value=78)
    emr.record_vital(doctor, patient.pk, kind="height", value=170)
    emr.record_result(doctor, patient.pk, code="2093-3", name="总胆固醇", value=tc_mmol, unit="mmol/L")
    emr.record_result(doctor, patient.pk, code="2085-9", name="高密度脂蛋白胆固醇", value=1.1, unit="mmol/L")
    services.save_lifestyle(doctor, patient.pk, LIFESTYLE)
    return patient
