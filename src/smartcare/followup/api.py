"""Follow-up over REST: the worklist, plans and tasks, phone follow-ups, questionnaire answers,
satisfaction surveys, health education and the satisfaction indicator. Same services, access
rules and audit as the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.followup import selectors, services
from smartcare.followup.models import (
    CarePlan,
    CarePlanTemplate,
    CareTask,
    EducationDelivery,
    PhoneFollowUp,
    Questionnaire,
    QuestionnaireResponse,
    SurveyInvitation,
)
from smartcare.organization.models import Department
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

router = Router(tags=["followup"])


# --- Schemas -------------------------------------------------------------------------------------


class TaskOut(Schema):
    id: int
    plan_id: int
    patient_id: int
    patient_name: str
    kind: str
    title: str
    instructions: str
    due_on: dt.date
    status: str
    overdue: bool
    responsible: str
    responsible_role: str
    questionnaire_id: int | None
    education_item_id: int | None
    lab_code: str
    escalation_level: int
    completed_at: dt.datetime | None


class PlanOut(Schema):
    id: int
    patient_id: int
    template: str
    template_name: str
    category: str
    department: str
    status: str
    origin: str
    source: str
    start_date: dt.date
    responsible_doctor: str
    responsible_nurse: str
    tasks: list[TaskOut]


class TemplateTaskOut(Schema):
    kind: str
    title: str
    offset_days: int
    responsible_role: str


class TemplateOut(Schema):
    id: int
    key: str
    name: str
    category: str
    trigger: str
    icd10_prefixes: list[str]
    procedure_keywords: list[str]
    care_stage: str
    is_active: bool
    tasks: list[TemplateTaskOut]


class OptionOut(Schema):
    value: str
    label: str
    score: float | None


class QuestionOut(Schema):
    key: str
    kind: str
    text: str
    required: bool
    options: list[OptionOut]
    scale_min: int | None
    scale_max: int | None
    min_value: float | None
    max_value: float | None
    unit: str
    show_if: dict[str, Any] | None


class QuestionnaireOut(Schema):
    id: int
    key: str
    name: str
    kind: str
    description: str
    higher_is_better: bool
    questions: list[QuestionOut]


class ResponseOut(Schema):
    id: int
    questionnaire: str
    score: float | None
    max_score: float | None
    score_percent: float | None
    satisfied: bool | None
    flagged: bool
    submitted_at: dt.datetime


class CallOut(Schema):
    id: int
    task_id: int
    outcome: str
    called_at: dt.datetime
    called_by: str
    needs_doctor: bool
    next_call_on: dt.date | None


class DeliveryOut(Schema):
    id: int
    item_id: int
    key: str
    kind: str
    title: str
    reason: str
    sent_at: dt.datetime
    opened_at: dt.datetime | None
    read_at: dt.datetime | None


class SurveyOut(Schema):
    id: int
    questionnaire_id: int
    name: str
    department: str
    occasion: str
    sent_at: dt.datetime
    expires_at: dt.datetime


class MeOut(Schema):
    plans: list[PlanOut]
    surveys: list[SurveyOut]
    education: list[DeliveryOut]


class ScorePoint(Schema):
    date: str
    percent: float


class ScoreSeriesOut(Schema):
    questionnaire_id: int
    name: str
    higher_is_better: bool
    points: list[ScorePoint]


class SatisfactionOut(Schema):
    start: dt.date
    end: dt.date
    department_id: int | None
    invited: int
    responses: int
    satisfied: int
    rate: float | None
    target: float
    met: bool | None
    response_rate: float | None


class EducationItemOut(Schema):
    id: int
    key: str
    kind: str
    title: str
    summary: str
    conditions: list[str]
    care_stages: list[str]
    video_url: str


def _task(t: CareTask) -> dict[str, Any]:
    return {
        "id": t.pk,
        "plan_id": t.plan_id,
        "patient_id": t.patient_id,
        "patient_name": t.patient.name,
        "kind": t.kind,
        "title": t.title,
        "instructions": t.instructions,
        "due_on": t.due_on,
        "status": t.status,
        "overdue": t.is_overdue(),
        "responsible": str(t.responsible) if t.responsible else "",
        "responsible_role": t.responsible_role,
        "questionnaire_id": t.questionnaire_id,
        "education_item_id": t.education_item_id,
        "lab_code": t.lab_code,
        "escalation_level": t.escalation_level,
        "completed_at": t.completed_at,
    }


def _plan(p: CarePlan) -> dict[str, Any]:
    return {
        "id": p.pk,
        "patient_id": p.patient_id,
        "template": p.template.key,
        "template_name": p.template.name,
        "category": p.template.category,
        "department": p.department.name,
        "status": p.status,
        "origin": p.origin,
        "source": p.source,
        "start_date": p.start_date,
        "responsible_doctor": str(p.responsible_doctor) if p.responsible_doctor else "",
        "responsible_nurse": str(p.responsible_nurse) if p.responsible_nurse else "",
        "tasks": [
            _task(t) for t in p.tasks.select_related("patient", "responsible").order_by("due_on", "pk")
        ],
    }


def _response(r: QuestionnaireResponse) -> dict[str, Any]:
    return {
        "id": r.pk,
        "questionnaire": r.questionnaire.key,
        "score": float(r.score) if r.score is not None else None,
        "max_score": float(r.max_score) if r.max_score is not None else None,
        "score_percent": float(r.score_percent) if r.score_percent is not None else None,
        "satisfied": r.satisfied,
        "flagged": r.flagged,
        "submitted_at": r.submitted_at,
    }


def _delivery(d: EducationDelivery) -> dict[str, Any]:
    return {
        "id": d.pk,
        "item_id": d.item_id,
        "key": d.item.key,
        "kind": d.item.kind,
        "title": d.item.title,
        "reason": d.reason,
        "sent_at": d.sent_at,
        "opened_at": d.opened_at,
        "read_at": d.read_at,
    }


def _survey(s: SurveyInvitation) -> dict[str, Any]:
    return {
        "id": s.pk,
        "questionnaire_id": s.questionnaire_id,
        "name": s.questionnaire.name,
        "department": s.department.name,
        "occasion": s.occasion,
        "sent_at": s.sent_at,
        "expires_at": s.expires_at,
    }


def _questionnaire(q: Questionnaire) -> dict[str, Any]:
    return {
        "id": q.pk,
        "key": q.key,
        "name": q.name,
        "kind": q.kind,
        "description": q.description,
        "higher_is_better": q.higher_is_better,
        "questions": [
            {
                "key": x.key,
                "kind": x.kind,
                "text": x.text,
                "required": x.required,
                "options": [
                    {"value": str(o.get("value")), "label": o["label"], "score": _float(o.get("score"))}
                    for o in x.labelled_options()
                ],
                "scale_min": x.scale_min,
                "scale_max": x.scale_max,
                "min_value": float(x.min_value) if x.min_value is not None else None,
                "max_value": float(x.max_value) if x.max_value is not None else None,
                "unit": x.unit,
                "show_if": x.show_if,
            }
            for x in q.questions.all().order_by("position", "pk")
        ],
    }


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --- The worklist and plans ------------------------------------------------------------------------


@router.get(
    "/worklist", response=list[TaskOut], summary="Due and overdue follow-up tasks of my department or mine"
)
def worklist(
    request: HttpRequest, scope: str = "department", days: int = 7, kind: str = ""
) -> list[dict[str, Any]]:
    require_capability(request.user, "followup.work")
    tasks = list(selectors.worklist(request.user, scope=scope, horizon_days=days, kind=kind)[:500])
    record(
        request.user,
        AuditAction.SEARCH,
        obj=("followup.CareTask", "worklist"),
        detail={"listed": sorted({t.patient_id for t in tasks})},
    )
    return [_task(t) for t in tasks]


@router.get("/templates", response=list[TemplateOut], summary="Care plan templates")
def templates(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "followup.library")
    rows = CarePlanTemplate.objects.prefetch_related("tasks").order_by("category", "key")
    return [
        {
            "id": t.pk,
            "key": t.key,
            "name": t.name,
            "category": t.category,
            "trigger": t.trigger,
            "icd10_prefixes": list(t.icd10_prefixes or []),
            "procedure_keywords": list(t.procedure_keywords or []),
            "care_stage": t.care_stage,
            "is_active": t.is_active,
            "tasks": [
                {
                    "kind": x.kind,
                    "title": x.title,
                    "offset_days": x.offset_days,
                    "responsible_role": x.responsible_role,
                }
                for x in t.tasks.all()
            ],
        }
        for t in rows
    ]


@router.get(
    "/patients/{patient_id}/plans", response=list[PlanOut], summary="A patient's care plans and tasks"
)
def patient_plans(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    patient = access_patient(request.user, patient_id, AccessAction.CLINICAL, reason="follow-up plans")
    return [_plan(p) for p in selectors.plans_of(patient)]


class StartPlanIn(Schema):
    template_id: int
    start_date: dt.date | None = None
    department_id: int | None = None
    doctor_id: int | None = None
    nurse_id: int | None = None


@router.post("/patients/{patient_id}/plans", response={201: PlanOut}, summary="Start a care plan by hand")
def start_plan(request: HttpRequest, patient_id: int, payload: StartPlanIn) -> Status:
    plan = services.start_plan(
        request.user,
        patient_id=patient_id,
        template_id=payload.template_id,
        start_date=payload.start_date,
        department_id=payload.department_id,
        doctor_id=payload.doctor_id,
        nurse_id=payload.nurse_id,
    )
    return Status(201, _plan(plan))


class ReasonIn(Schema):
    reason: str = Field(default="", max_length=300)


@router.post("/plans/{plan_id}/cancel", response=PlanOut, summary="Cancel a plan and its open tasks")
def cancel_plan(request: HttpRequest, plan_id: int, payload: ReasonIn) -> dict[str, Any]:
    return _plan(services.cancel_plan(request.user, plan_id, payload.reason))


class CompleteIn(Schema):
    outcome: str = Field(default="", max_length=4000)


@router.post("/tasks/{task_id}/complete", response=TaskOut, summary="Mark a task done")
def complete_task(request: HttpRequest, task_id: int, payload: CompleteIn) -> dict[str, Any]:
    return _task(services.complete_task(request.user, task_id, outcome=payload.outcome))


@router.post("/tasks/{task_id}/cancel", response=TaskOut, summary="Cancel a task, with a reason")
def cancel_task(request: HttpRequest, task_id: int, payload: ReasonIn) -> dict[str, Any]:
    return _task(services.cancel_task(request.user, task_id, payload.reason))


class CallIn(Schema):
    outcome: str
    notes: str = Field(default="", max_length=4000)
    needs_doctor: bool = False
    next_call_on: dt.date | None = None
    duration_minutes: int | None = None


@router.post("/tasks/{task_id}/calls", response={201: CallOut}, summary="Record a phone follow-up")
def record_call(request: HttpRequest, task_id: int, payload: CallIn) -> Status:
    call: PhoneFollowUp = services.record_call(
        request.user,
        task_id,
        outcome=payload.outcome,
        notes=payload.notes,
        needs_doctor=payload.needs_doctor,
        next_call_on=payload.next_call_on,
        duration_minutes=payload.duration_minutes,
    )
    return Status(
        201,
        {
            "id": call.pk,
            "task_id": call.task_id,
            "outcome": call.outcome,
            "called_at": call.called_at,
            "called_by": str(call.called_by),
            "needs_doctor": call.needs_doctor,
            "next_call_on": call.next_call_on,
        },
    )


# --- Questionnaires and surveys ------------------------------------------------------------------------


@router.get(
    "/questionnaires/{questionnaire_id}", response=QuestionnaireOut, summary="A questionnaire's questions"
)
def questionnaire(request: HttpRequest, questionnaire_id: int) -> dict[str, Any]:
    if not any(has_capability(request.user, c) for c in ("followup.portal", "followup.library")):
        require_capability(request.user, "followup.library")
    found = Questionnaire.objects.filter(pk=questionnaire_id).first()
    if found is None:
        raise NotFound()
    return _questionnaire(found)


class AnswersIn(Schema):
    answers: dict[str, Any]


@router.post("/tasks/{task_id}/response", response={201: ResponseOut}, summary="Answer a questionnaire task")
def answer_task(request: HttpRequest, task_id: int, payload: AnswersIn) -> Status:
    return Status(201, _response(services.answer_task(request.user, task_id, payload.answers)))


@router.post(
    "/surveys/{invitation_id}/response", response={201: ResponseOut}, summary="Answer a satisfaction survey"
)
def answer_survey(request: HttpRequest, invitation_id: int, payload: AnswersIn) -> Status:
    return Status(201, _response(services.answer_survey(request.user, invitation_id, payload.answers)))


@router.get(
    "/patients/{patient_id}/scores", response=list[ScoreSeriesOut], summary="Questionnaire score trends"
)
def scores(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    patient = access_patient(request.user, patient_id, AccessAction.CLINICAL, reason="follow-up scores")
    return [
        {
            "questionnaire_id": s.questionnaire_id,
            "name": s.name,
            "higher_is_better": s.higher_is_better,
            "points": [{"date": d, "percent": p} for d, p in s.points],
        }
        for s in selectors.score_trends(patient)
    ]


# --- The patient's own -------------------------------------------------------------------------------------


@router.get("/me", response=MeOut, summary="My plans, open surveys and education (patients)")
def me(request: HttpRequest) -> dict[str, Any]:
    require_capability(request.user, "followup.portal")
    plans: list[dict[str, Any]] = []
    surveys: list[dict[str, Any]] = []
    education: list[dict[str, Any]] = []
    for patient in Patient.objects.visible_to(request.user).order_by("pk"):
        access_patient(request.user, patient, AccessAction.VIEW, reason="my follow-up")
        plans += [_plan(p) for p in selectors.plans_of(patient)]
        surveys += [_survey(s) for s in selectors.open_surveys(patient)]
        education += [_delivery(d) for d in selectors.deliveries_of(patient)]
    return {"plans": plans, "surveys": surveys, "education": education}


@router.post(
    "/education/{delivery_id}/read", response=DeliveryOut, summary="I have read this item (patients)"
)
def read_education(request: HttpRequest, delivery_id: int) -> dict[str, Any]:
    return _delivery(services.mark_read(request.user, delivery_id))


# --- Health education ---------------------------------------------------------------------------------------


@router.get("/education", response=list[EducationItemOut], summary="The health education library")
def education_library(
    request: HttpRequest, q: str = "", condition: str = "", kind: str = ""
) -> list[dict[str, Any]]:
    require_capability(request.user, "followup.library")
    return [
        {
            "id": i.pk,
            "key": i.key,
            "kind": i.kind,
            "title": i.title,
            "summary": i.summary,
            "conditions": list(i.conditions or []),
            "care_stages": list(i.care_stages or []),
            "video_url": i.video_url,
        }
        for i in selectors.library(query=q, condition=condition, kind=kind)
    ]


class SendEducationIn(Schema):
    item_id: int
    note: str = Field(default="", max_length=500)


@router.post(
    "/patients/{patient_id}/education",
    response={201: DeliveryOut},
    summary="Send an education item to a patient",
)
def send_education(request: HttpRequest, patient_id: int, payload: SendEducationIn) -> Status:
    return Status(
        201, _delivery(services.send_education(request.user, patient_id, payload.item_id, note=payload.note))
    )


# --- The satisfaction indicator ----------------------------------------------------------------------------------


@router.get("/satisfaction", response=SatisfactionOut, summary="Patient satisfaction indicator for a period")
def satisfaction(
    request: HttpRequest,
    start: dt.date | None = None,
    end: dt.date | None = None,
    department_id: int | None = None,
) -> dict[str, Any]:
    require_capability(request.user, "followup.reports")
    end = end or clock.today()
    start = start or end.replace(day=1)
    if (end - start).days > 3660:
        raise InvalidInput(field="start")
    if department_id is not None and not Department.objects.filter(pk=department_id).exists():
        raise NotFound()
    return selectors.satisfaction_indicator(start, end, department_id).as_dict()
