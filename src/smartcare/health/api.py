"""Health management over REST: the validated risk calculator, a patient's risks with drivers and
advice, manual assessments, recomputation from the record, enrolment, the patient's own risk,
lifestyle answers and adherence, who follows, programme effects, the indicator and trained
models. Same services, access rules and audit as the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Body, Router, Schema, Status
from pydantic import Field

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.health import equations, selectors, services
from smartcare.health.effect import Effect, Interval, Share
from smartcare.health.models import Advice, RiskAssessment, TrainedModel
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

router = Router(tags=["health"])


class DriverOut(Schema):
    factor: str
    label: str
    contribution: float
    modifiable: bool


class ScoreOut(Schema):
    model: str
    version: str
    risk: float
    risk_percent: float
    horizon_years: int
    outcome: str
    score: int | None
    band: str
    optimal_risk: float | None
    population: str
    age_range: list[int]
    citation: str
    inputs: dict[str, Any]
    drivers: list[DriverOut]


class AssessmentOut(Schema):
    id: int
    patient_id: int
    model: str
    model_version: str
    risk: float
    score: int | None
    band: str
    optimal_risk: float | None
    inputs: dict[str, Any]
    drivers: list[DriverOut]
    measures: dict[str, Any]
    source: str
    computed_at: dt.datetime


class AdviceOut(Schema):
    id: int
    rule: str
    category: str
    text: str
    for_doctor: bool
    education_key: str
    enrolment_id: int | None
    reported_today: str


class EnrolmentOut(Schema):
    id: int
    programme: str
    patient_id: int
    status: str
    enrolled_on: dt.date
    baseline_risk: float


class PatientRiskOut(Schema):
    patient_id: int
    assessments: list[AssessmentOut]
    missing: dict[str, list[str]]
    advice: list[AdviceOut]
    enrolments: list[EnrolmentOut]


class FollowerOut(Schema):
    enrolment_id: int
    patient_id: int
    patient_name: str
    programme: str
    enrolled_on: dt.date
    reports: int
    last_report: dt.date | None
    adherence: float | None
    status: str


class IntervalOut(Schema):
    estimate: float | None
    low: float | None
    high: float | None
    n: int


class ShareOut(Schema):
    count: int
    n: int
    share: float | None
    low: float | None
    high: float | None


class MeasureEffectOut(Schema):
    measure: str
    enrolled: IntervalOut
    comparison: IntervalOut
    difference: IntervalOut


class EffectOut(Schema):
    programme: str
    department_id: int | None
    enrolled: int
    compared: int
    risk_enrolled: IntervalOut
    risk_comparison: IntervalOut
    risk_difference: IntervalOut
    measures: list[MeasureEffectOut]
    reduced_25: ShareOut
    reduced_25_adherent: ShareOut


class IndicatorOut(Schema):
    start: dt.date
    end: dt.date
    evaluated: int
    reduced: int
    share: float | None
    low: float | None
    high: float | None
    target: float


class TrainedModelOut(Schema):
    id: int
    outcome: str
    algorithm: str
    version: int
    status: str
    horizon_years: int
    features: list[str]
    metrics: dict[str, Any]
    model_card: dict[str, Any]
    promoted_at: dt.datetime | None


def _assessment(a: RiskAssessment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "patient_id": a.patient_id,
        "model": a.model,
        "model_version": a.model_version,
        "risk": a.risk,
        "score": a.score,
        "band": a.band,
        "optimal_risk": a.optimal_risk,
        "inputs": a.inputs,
        "drivers": a.drivers,
        "measures": a.measures,
        "source": a.source,
        "computed_at": a.computed_at,
    }


def _advice(a: Advice, today: dict[int, str]) -> dict[str, Any]:
    return {
        "id": a.pk,
        "rule": a.rule,
        "category": a.category,
        "text": a.text,
        "for_doctor": a.for_doctor,
        "education_key": a.education_key,
        "enrolment_id": a.enrolment_id,
        "reported_today": today.get(a.pk, ""),
    }


def _patient_risk(patient: Patient, *, for_patient: bool) -> dict[str, Any]:
    advice = selectors.current_advice(patient, for_doctor=False if for_patient else None)
    return {
        "patient_id": patient.pk,
        "assessments": [_assessment(a) for a in services.latest_assessments(patient).values()],
        "missing": selectors.missing_inputs(patient),
        "advice": [_advice(a, selectors.reported_today(advice)) for a in advice],
        "enrolments": [
            {
                "id": e.pk,
                "programme": e.programme.key,
                "patient_id": e.patient_id,
                "status": e.status,
                "enrolled_on": e.enrolled_on,
                "baseline_risk": e.baseline.risk,
            }
            for e in selectors.enrolments_of(patient)
        ],
    }


def _interval(i: Interval) -> dict[str, Any]:
    return {"estimate": i.estimate, "low": i.low, "high": i.high, "n": i.n}


def _share(s: Share) -> dict[str, Any]:
    return {"count": s.count, "n": s.n, "share": s.share, "low": s.low, "high": s.high}


def _effect(programme: str, department_id: int | None, e: Effect) -> dict[str, Any]:
    return {
        "programme": programme,
        "department_id": department_id,
        "enrolled": e.enrolled,
        "compared": e.compared,
        "risk_enrolled": _interval(e.risk_enrolled),
        "risk_comparison": _interval(e.risk_comparison),
        "risk_difference": _interval(e.risk_difference),
        "measures": [
            {
                "measure": name,
                "enrolled": _interval(a),
                "comparison": _interval(b),
                "difference": _interval(d),
            }
            for name, (a, b, d) in e.measures.items()
        ],
        "reduced_25": _share(e.reduced),
        "reduced_25_adherent": _share(e.reduced_adherent),
    }


def _model(m: TrainedModel) -> dict[str, Any]:
    return {
        "id": m.pk,
        "outcome": m.outcome,
        "algorithm": m.algorithm,
        "version": m.version,
        "status": m.status,
        "horizon_years": m.horizon_years,
        "features": m.features,
        "metrics": m.metrics,
        "model_card": m.model_card,
        "promoted_at": m.promoted_at,
    }


# --- The calculator ---------------------------------------------------------------------------------


@router.post(
    "/risk-score/{model}",
    response=ScoreOut,
    summary="A validated risk (pce, framingham, findrisc) from the given inputs; nothing is stored",
)
def risk_score(request: HttpRequest, model: str, payload: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    require_capability(request.user, "health.calculate")
    return equations.compute(model, payload).as_dict()


# --- A patient's risk (care team) ------------------------------------------------------------------


@router.get(
    "/patients/{patient_id}/risk", response=PatientRiskOut, summary="A patient's risks, drivers and advice"
)
def patient_risk(request: HttpRequest, patient_id: int) -> dict[str, Any]:
    require_capability(request.user, "health.assess")
    patient = access_patient(request.user, patient_id, AccessAction.CLINICAL, reason="health risk")
    return _patient_risk(patient, for_patient=False)


class ManualIn(Schema):
    model: str
    inputs: dict[str, Any]


@router.post(
    "/patients/{patient_id}/assessments",
    response={201: AssessmentOut},
    summary="Store a risk from inputs entered by hand",
)
def assess(request: HttpRequest, patient_id: int, payload: ManualIn) -> Status:
    return Status(
        201, _assessment(services.assess_manually(request.user, patient_id, payload.model, payload.inputs))
    )


@router.post(
    "/patients/{patient_id}/refresh",
    response=list[AssessmentOut],
    summary="Compute the risks again from the record",
)
def refresh(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    return [_assessment(a) for a in services.refresh_for(request.user, patient_id)]


class EnrolIn(Schema):
    programme_id: int


@router.post(
    "/patients/{patient_id}/enrolments", response={201: EnrolmentOut}, summary="Enrol in a programme"
)
def enrol(request: HttpRequest, patient_id: int, payload: EnrolIn) -> Status:
    e = services.enrol(request.user, payload.programme_id, patient_id)
    return Status(
        201,
        {
            "id": e.pk,
            "programme": e.programme.key,
            "patient_id": e.patient_id,
            "status": e.status,
            "enrolled_on": e.enrolled_on,
            "baseline_risk": e.baseline.risk,
        },
    )


class LifestyleIn(Schema):
    smoker: bool
    physically_active: bool
    daily_vegetables: bool
    high_glucose_history: bool
    family_history: str
    waist_cm: float | None = None


@router.post(
    "/patients/{patient_id}/lifestyle",
    response={201: PatientRiskOut},
    summary="Answer the lifestyle questions",
)
def lifestyle(request: HttpRequest, patient_id: int, payload: LifestyleIn) -> Status:
    answers = services.save_lifestyle(request.user, patient_id, payload.dict())
    return Status(
        201, _patient_risk(answers.patient, for_patient=getattr(request.user, "role", "") == "patient")
    )


# --- The patient ---------------------------------------------------------------------------------


@router.get("/me", response=list[PatientRiskOut], summary="My risks and advice (and my family members')")
def me(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "health.portal")
    result = []
    for person in Patient.objects.visible_to(request.user).order_by("pk"):
        patient = access_patient(request.user, person, AccessAction.VIEW, reason="my health")
        result.append(_patient_risk(patient, for_patient=True))
    return result


class AdherenceIn(Schema):
    level: str
    note: str = Field(default="", max_length=300)


class AdherenceOut(Schema):
    id: int
    advice_id: int
    reported_on: dt.date
    level: str


@router.post(
    "/advice/{advice_id}/adherence",
    response={201: AdherenceOut},
    summary="Report how I followed advice today",
)
def adherence(request: HttpRequest, advice_id: int, payload: AdherenceIn) -> Status:
    report = services.report_adherence(request.user, advice_id, payload.level, note=payload.note)
    return Status(
        201,
        {
            "id": report.pk,
            "advice_id": report.advice_id,
            "reported_on": report.reported_on,
            "level": report.level,
        },
    )


# --- Care team lists and management ------------------------------------------------------------------


@router.get("/followers", response=list[FollowerOut], summary="Enrolled patients I may see, and who follows")
def followers(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "health.enrol")
    rows = selectors.followers(request.user)
    record(
        request.user,
        AuditAction.SEARCH,
        obj=("health.Enrolment", "followers"),
        detail={"listed": sorted({f.enrolment.patient_id for f in rows})},
    )
    return [
        {
            "enrolment_id": f.enrolment.pk,
            "patient_id": f.enrolment.patient_id,
            "patient_name": f.enrolment.patient.name,
            "programme": f.enrolment.programme.key,
            "enrolled_on": f.enrolment.enrolled_on,
            "reports": f.reports,
            "last_report": f.last_report,
            "adherence": f.adherence,
            "status": f.status,
        }
        for f in rows
    ]


@router.get(
    "/effect", response=list[EffectOut], summary="Effect of each programme, overall and per department"
)
def effect(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "health.effect")
    return [
        _effect(r.programme.key, r.department.pk if r.department else None, r.effect)
        for r in selectors.effect_table()
    ]


@router.get(
    "/indicator", response=IndicatorOut, summary="Share of enrolled patients whose risk fell by 25% or more"
)
def indicator(
    request: HttpRequest, start: dt.date | None = None, end: dt.date | None = None
) -> dict[str, Any]:
    require_capability(request.user, "health.effect")
    end = end or clock.today()
    start = start or end - dt.timedelta(days=365)
    i = selectors.risk_reduction_indicator(start, end)
    return {
        "start": i.start,
        "end": i.end,
        "evaluated": i.evaluated,
        "reduced": i.reduced,
        "share": i.share,
        "low": i.low,
        "high": i.high,
        "target": i.target,
    }


@router.get(
    "/trained-models", response=list[TrainedModelOut], summary="Trained model versions and their evaluation"
)
def trained_models(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "health.models")
    return [_model(m) for m in TrainedModel.objects.order_by("outcome", "-version")]


@router.post(
    "/trained-models/{model_id}/promote",
    response=TrainedModelOut,
    summary="Promote a version for use with patients",
)
def promote(request: HttpRequest, model_id: int) -> dict[str, Any]:
    return _model(services.promote_model(request.user, model_id))
