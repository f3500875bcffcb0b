"""Permission rules for health management: the pages under /health/ and the API under /api/health/.

``setup`` gives each caller's target patient a record with every risk input (vitals and results
bulk-written, lifestyle answers), computes the risks and advice once, and adds a candidate trained
model, written directly: the callers differ in whom they may see, the world must not.

Capabilities: ``health.calculate`` (clinicians and researchers: the calculator, no patient),
``health.assess`` (doctors, nurses, department heads: a patient's risk, manual input, recompute),
``health.enrol`` (doctors and department heads: enrolment, who follows), ``health.portal``
(patients: their own risk, advice, lifestyle answers, adherence), ``health.effect`` (doctors,
department heads, operations managers: aggregates only) and ``health.models`` (department heads and
researchers: trained models and promotion). One patient's data needs access to that patient
(``access_patient``): clinicians without care get 404 CORE-404, as for a record that does not
exist, and so does a patient reporting on another patient's advice.
"""

from __future__ import annotations

from typing import Any

from smartcare.emr.models import Observation, VitalSign
from smartcare.health.models import Advice, Enrolment, LifestyleAnswers, Programme, TrainedModel
from smartcare.health.seed import ensure_programmes
from smartcare.health.services import refresh_from_record
from tests.test_permissions import (
    BREAK_GLASS,
    CARE,
    CLINICIANS,
    HEAD,
    MISSING_ID,
    NO_CARE,
    PATIENT_OTHER,
    PATIENT_OWN,
    PATIENTS,
    RESEARCHER,
    Rule,
    World,
)

WRITERS = frozenset({CARE, BREAK_GLASS, HEAD})
NOT_FOUND = {NO_CARE: 404}
OTHER_PATIENT_NOT_FOUND = {PATIENT_OTHER: 404}
MODELLERS = frozenset({HEAD, RESEARCHER})
CALCULATORS = CLINICIANS | {RESEARCHER}
PCE_INPUTS = {
    "age": 55,
    "sex": "female",
    "race": "other",
    "total_cholesterol": 5.5,
    "total_cholesterol_unit": "mmol/L",
    "hdl": 1.3,
    "hdl_unit": "mmol/L",
    "systolic_bp": 135,
    "bp_treated": False,
    "smoker": True,
    "diabetes": False,
}
LIFESTYLE = {
    "smoker": True,
    "physically_active": False,
    "daily_vegetables": True,
    "high_glucose_history": False,
    "family_history": "none",
    "waist_cm": 90,
}


def setup(world: World) -> None:
    ensure_programmes()
    target = world.target
    doctor = world.h.user("doctor")
    VitalSign.objects.bulk_create(
        [
            VitalSign(patient=target, kind="bp", value=150, value2=90, unit="mmHg", recorded_by=doctor),
            VitalSign(patient=target, kind="weight", value=70, unit="kg", recorded_by=doctor),
            VitalSign(patient=target, kind="height", value=165, unit="cm", recorded_by=doctor),
        ]
    )
    Observation.objects.bulk_create(
        [
            Observation(patient=target, code="2093-3", name="TC", value=6.0, unit="mmol/L"),
            Observation(patient=target, code="2085-9", name="HDL", value=1.2, unit="mmol/L"),
        ]
    )
    LifestyleAnswers.objects.create(patient=target, **LIFESTYLE)
    refresh_from_record(target)
    advice = Advice.objects.filter(patient=target, for_doctor=False, is_current=True).order_by("pk").first()
    model = TrainedModel.objects.create(
        outcome="new_diabetes",
        algorithm="logistic_regression",
        version=1,
        horizon_years=5,
        metrics={"auc": 0.8, "brier": 0.1, "calibration": []},
        artifact=b"-",
        artifact_sha256="0" * 64,
    )
    world.extra.update(health_advice=advice, health_model=model)


def _id(name: str, param: str) -> Any:
    return lambda w, missing: {param: MISSING_ID if missing else w.extra[name].pk}


_advice = _id("health_advice", "advice_id")
_model = _id("health_model", "model_id")


def _programme() -> int:
    return Programme.objects.get(key="cardiovascular-risk").pk


def _enrolled(world: World, kind: str, response: Any) -> None:
    assert Enrolment.objects.get(patient=world.target).enrolled_by == world.user


def _reported(world: World, kind: str, response: Any) -> None:
    assert world.extra["health_advice"].reports.get().reported_by == world.user


def _answered(world: World, kind: str, response: Any) -> None:
    assert LifestyleAnswers.objects.filter(answered_by=world.user).exists()


def _promoted(world: World, kind: str, response: Any) -> None:
    assert TrainedModel.objects.get(pk=world.extra["health_model"].pk).promoted_by == world.user


def _assessed(world: World, kind: str, response: Any) -> None:
    from smartcare.health.models import RiskAssessment

    assert RiskAssessment.objects.get(patient=world.target, source="manual").computed_by == world.user


RULES: list[Rule] = [
    # --- pages: the care team and management ---
    Rule("GET", "/health/", CLINICIANS),
    Rule("GET", "/health/patients/{patient_id}/", WRITERS, special=NOT_FOUND, record=True),
    Rule(
        "POST",
        "/health/patients/{patient_id}/",
        WRITERS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"action": "enrol", "programme": _programme()},
        effect=_enrolled,
    ),
    Rule("GET", "/health/effect/", CLINICIANS),
    Rule("GET", "/health/models/", MODELLERS),
    Rule(
        "POST",
        "/health/models/",
        MODELLERS,
        ok=302,
        payload=lambda w, m: {"action": "promote", "model": w.extra["health_model"].pk},
        effect=_promoted,
    ),
    # --- pages: the patient ---
    Rule("GET", "/health/me/", PATIENTS),
    Rule(
        "POST",
        "/health/me/",
        frozenset({PATIENT_OWN}),
        ok=302,
        special=OTHER_PATIENT_NOT_FOUND,
        payload=lambda w, m: {"advice": w.extra["health_advice"].pk, "level": "followed"},
        effect=_reported,
    ),
    Rule("GET", "/health/me/lifestyle/", PATIENTS),
    Rule(
        "POST",
        "/health/me/lifestyle/",
        PATIENTS,
        ok=302,
        payload=lambda w, m: {
            **{k: "yes" if v is True else "no" if v is False else v for k, v in LIFESTYLE.items()}
        },
        effect=_answered,
    ),
    # --- API ---
    Rule(
        "POST",
        "/api/health/risk-score/{model}",
        CALCULATORS,
        params=lambda w, m: {"model": "pce"},
        payload=lambda w, m: PCE_INPUTS,
    ),
    Rule("GET", "/api/health/patients/{patient_id}/risk", WRITERS, special=NOT_FOUND, record=True),
    Rule(
        "POST",
        "/api/health/patients/{patient_id}/assessments",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"model": "pce", "inputs": PCE_INPUTS},
        effect=_assessed,
    ),
    Rule("POST", "/api/health/patients/{patient_id}/refresh", WRITERS, special=NOT_FOUND, record=True),
    Rule(
        "POST",
        "/api/health/patients/{patient_id}/enrolments",
        WRITERS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"programme_id": _programme()},
        effect=_enrolled,
    ),
    Rule(
        "POST",
        "/api/health/patients/{patient_id}/lifestyle",
        WRITERS | {PATIENT_OWN},
        ok=201,
        special={NO_CARE: 404, PATIENT_OTHER: 404},
        record=True,
        payload=lambda w, m: LIFESTYLE,
        effect=_answered,
    ),
    Rule("GET", "/api/health/me", PATIENTS),
    Rule(
        "POST",
        "/api/health/advice/{advice_id}/adherence",
        frozenset({PATIENT_OWN}),
        ok=201,
        special=OTHER_PATIENT_NOT_FOUND,
        record=True,
        params=_advice,
        payload=lambda w, m: {"level": "partly"},
        effect=_reported,
    ),
    Rule("GET", "/api/health/followers", CLINICIANS),
    Rule("GET", "/api/health/effect", CLINICIANS),
    Rule("GET", "/api/health/indicator", CLINICIANS),
    Rule("GET", "/api/health/trained-models", MODELLERS),
    Rule("POST", "/api/health/trained-models/{model_id}/promote", MODELLERS, params=_model, effect=_promoted),
]
