"""Follow-up pages.

Care team: the worklist of due and overdue tasks (``/followup/``), a task with its phone
follow-ups (``/followup/tasks/<id>/``), a patient's plans, scores and education
(``/followup/patients/<id>/``). Administrators: care plan templates, the questionnaire builder and
the education library. Management: the satisfaction indicator. Patients (phone first, elderly
mode): their plans and tasks, questionnaires, satisfaction surveys and education under
``/followup/me/``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, NotFound, show_on_page
from smartcare.core.permissions import has_capability, require_capability
from smartcare.followup import selectors, services
from smartcare.followup.choices import (
    OPEN_TASK_STATUSES,
    CallOutcome,
    CareStage,
    ConditionOperator,
    EducationKind,
    PlanCategory,
    PlanStatus,
    PlanTrigger,
    QuestionKind,
    QuestionnaireKind,
    ResponsibleRole,
    SurveyOccasion,
    TaskKind,
    TaskStatus,
)
from smartcare.followup.conditions import condition_choices
from smartcare.followup.errors import InvalidAnswers
from smartcare.followup.models import (
    CarePlanTemplate,
    CareTask,
    EducationDelivery,
    EducationItem,
    Question,
    Questionnaire,
    SurveyInvitation,
)
from smartcare.followup.questionnaires import QuestionSpec, shown_keys
from smartcare.organization.choices import Sex
from smartcare.organization.models import Department
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient


def _pk(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise NotFound() from None


# --- Questionnaire forms (shared by patients and the care team) ------------------------------------------


def answers_from_post(questionnaire: Questionnaire, post: Any) -> dict[str, Any]:
    """The answers of a questionnaire form: ``q_<key>`` fields (several for multiple choice)."""
    answers: dict[str, Any] = {}
    for question in questionnaire.questions.all():
        name = f"q_{question.key}"
        if question.kind == QuestionKind.MULTIPLE:
            values = [v for v in post.getlist(name) if v != ""]
            if values:
                answers[question.key] = values
        else:
            value = post.get(name, "")
            if value.strip() != "":
                answers[question.key] = value
    return answers


def form_questions(
    questionnaire: Questionnaire,
    answers: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """The questions as the form shows them: options in the reader's language, what was answered,
    the errors, and the condition (the page hides a conditional question until it applies)."""
    answers = answers or {}
    errors = errors or {}
    questions = list(questionnaire.questions.all().order_by("position", "pk"))
    visible = set(
        shown_keys(
            [QuestionSpec.of(q) for q in questions],
            {q.key: _as_answer(q, answers.get(q.key)) for q in questions},
        )
    )
    rows = []
    for q in questions:
        given = answers.get(q.key)
        chosen = (
            {str(v) for v in given}
            if isinstance(given, list)
            else ({str(given)} if given not in (None, "") else set())
        )
        rows.append(
            {
                "q": q,
                "options": q.labelled_options(),
                "scale": q.scale_values(),
                "chosen": chosen,
                "value": "" if isinstance(given, list) or given is None else str(given),
                "errors": errors.get(q.key, []),
                "condition": json.dumps(q.show_if) if q.show_if else "",
                "hidden": q.key not in visible,
            }
        )
    return rows


def _as_answer(question: Question, value: Any) -> Any:
    if value in (None, ""):
        return None
    if question.kind in (QuestionKind.SCALE, QuestionKind.NUMBER):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return value


# --- The care team: worklist, task, patient ------------------------------------------------------------------


@login_required
def worklist(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "followup.work")
    scope = request.GET.get("scope", "department")
    kind = request.GET.get("kind", "")
    kind = kind if kind in TaskKind.values else ""
    try:
        days = max(0, min(int(request.GET.get("days", "7")), 60))
    except ValueError:
        days = 7
    overdue = request.GET.get("overdue") == "1"
    tasks = list(
        selectors.worklist(user, scope=scope, horizon_days=days, kind=kind, overdue_only=overdue)[:300]
    )
    record(
        user,
        AuditAction.SEARCH,
        obj=("followup.CareTask", "worklist"),
        detail={"listed": sorted({t.patient_id for t in tasks})},
    )
    today = clock.today()
    return render(
        request,
        "followup/worklist.html",
        {
            "tasks": tasks,
            "today": today,
            "scope": scope,
            "days": days,
            "kind": kind,
            "overdue": overdue,
            "kinds": TaskKind.choices,
            "counts": {
                "overdue": sum(1 for t in tasks if t.due_on < today),
                "today": sum(1 for t in tasks if t.due_on == today),
                "missed": sum(1 for t in tasks if t.status == TaskStatus.MISSED),
            },
        },
    )


@login_required
def task(request: HttpRequest, task_id: int) -> HttpResponse:
    """One task for the care team: details, phone follow-ups (record a call), the questionnaire
    (filled in with the patient on the phone), done or cancelled."""
    user: Any = request.user
    require_capability(user, "followup.work")
    found = (
        CareTask.objects.select_related("plan__template", "patient", "responsible", "questionnaire")
        .filter(pk=task_id)
        .first()
    )
    if found is None:
        raise NotFound()
    access_patient(user, found.patient_id, AccessAction.CLINICAL, obj=found, reason="follow-up task")
    answers: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "call":
                services.record_call(
                    user,
                    found.pk,
                    outcome=request.POST.get("outcome", ""),
                    notes=request.POST.get("notes", ""),
                    needs_doctor=request.POST.get("needs_doctor") == "on",
                    next_call_on=request.POST.get("next_call_on") or None,
                    duration_minutes=request.POST.get("duration_minutes") or None,
                )
                messages.success(request, _("Call recorded."))
            elif action == "complete":
                services.complete_task(user, found.pk, outcome=request.POST.get("outcome", ""))
                messages.success(request, _("Task done."))
            elif action == "cancel":
                services.cancel_task(user, found.pk, request.POST.get("reason", ""))
                messages.success(request, _("Task cancelled."))
            elif action == "answer" and found.questionnaire is not None:
                answers = answers_from_post(found.questionnaire, request.POST)
                services.answer_task(user, found.pk, answers)
                messages.success(request, _("Answers saved."))
            else:
                raise InvalidInput(_("Unknown action."), field="action")
            return redirect("followup:task", task_id=found.pk)
        except InvalidAnswers as exc:
            errors = {k: [str(m) for m in v] for k, v in exc.errors.items()}
            show_on_page(request, exc)
            status = 400
        except CodedError as exc:
            show_on_page(request, exc)
            return redirect("followup:task", task_id=found.pk)
        found.refresh_from_db()
    response_row = getattr(found, "response", None) if found.kind == TaskKind.QUESTIONNAIRE else None
    return render(
        request,
        "followup/task.html",
        {
            "task": found,
            "plan": found.plan,
            "calls": list(found.calls.select_related("called_by")),
            "escalations": list(found.escalations.all()),
            "outcomes": CallOutcome.choices,
            "questions": form_questions(found.questionnaire, answers, errors)
            if found.questionnaire and found.is_open
            else [],
            "response": response_row,
            "today": clock.today(),
        },
        status=status,
    )


def _clinicians(department: Department | None, roles: tuple[str, ...]) -> list[User]:
    if department is None:
        return []
    return list(
        User.objects.filter(role__in=roles, is_active=True, practitioner__department=department).order_by(
            "pk"
        )
    )


def _chart(series: list[selectors.ScoreSeries]) -> str:
    """ECharts options for the score trends (one line per questionnaire, 0-100%)."""
    dates = sorted({d for s in series for d, _p in s.points})
    lines = []
    for s in series:
        values = dict(s.points)
        lines.append(
            {
                "name": s.name + ("" if s.higher_is_better else " ↓"),
                "type": "line",
                "connectNulls": True,
                "data": [values.get(d) for d in dates],
            }
        )
    return json.dumps(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "type": "scroll"},
            "grid": {"left": 40, "right": 16, "top": 36, "bottom": 30},
            "xAxis": {"type": "category", "data": dates},
            "yAxis": {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
            "series": lines,
        },
        ensure_ascii=False,
    )


@login_required
def patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A patient's follow-up for the care team: plans with their tasks, score trends, answers,
    education sent and read. Start a plan, cancel one, send an education item."""
    user: Any = request.user
    require_capability(user, "followup.work")
    found = access_patient(user, patient_id, AccessAction.CLINICAL, reason="follow-up")
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "start_plan":
                plan = services.start_plan(
                    user,
                    patient_id=found.pk,
                    template_id=request.POST.get("template"),
                    start_date=request.POST.get("start_date") or None,
                    doctor_id=request.POST.get("doctor") or None,
                    nurse_id=request.POST.get("nurse") or None,
                )
                messages.success(request, _("Plan started: %(name)s") % {"name": plan.template.name})
            elif action == "cancel_plan":
                services.cancel_plan(user, request.POST.get("plan"), request.POST.get("reason", ""))
                messages.success(request, _("Plan cancelled."))
            elif action == "send_education":
                services.send_education(
                    user, found.pk, request.POST.get("item"), note=request.POST.get("note", "")
                )
                messages.success(request, _("Education item sent."))
            else:
                raise InvalidInput(_("Unknown action."), field="action")
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("followup:patient", patient_id=found.pk)
    department = getattr(getattr(user, "practitioner", None), "department", None)
    series = selectors.score_trends(found)
    responses = list(
        found.questionnaire_responses.select_related("questionnaire", "task").order_by(
            "-submitted_at", "-pk"
        )[:30]
    )
    return render(
        request,
        "followup/patient.html",
        {
            "patient": found,
            "plans": list(selectors.plans_of(found)),
            "templates": CarePlanTemplate.objects.filter(is_active=True).order_by("category", "key"),
            "doctors": _clinicians(department, (Role.DOCTOR, Role.DEPARTMENT_HEAD)),
            "nurses": _clinicians(department, (Role.NURSE,)),
            "deliveries": list(selectors.deliveries_of(found)),
            "items": selectors.library(),
            "series": series,
            "chart": _chart(series) if series else "",
            "responses": responses,
            "today": clock.today(),
        },
    )


# --- Administrators: templates, questionnaires, the library --------------------------------------------------------


def _template_data(post: Any) -> dict[str, Any]:
    return {
        **{
            k: post.get(k, "")
            for k in (
                "key",
                "name_zh",
                "name_en",
                "description_zh",
                "description_en",
                "category",
                "trigger",
                "care_stage",
                "department",
            )
        },
        "icd10_prefixes": post.get("icd10_prefixes", ""),
        "procedure_keywords": post.get("procedure_keywords", ""),
        "education_tags": post.getlist("education_tags"),
        "is_active": post.get("is_active") == "on",
    }


def _template_choices() -> dict[str, Any]:
    return {
        "categories": PlanCategory.choices,
        "triggers": PlanTrigger.choices,
        "stages": CareStage.choices,
        "conditions": condition_choices(),
        "departments": Department.objects.filter(is_active=True, is_clinical=True).order_by(
            "national_code_id"
        ),
    }


@login_required
def templates(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "followup.library")
    if request.method == "POST":
        try:
            template = services.save_template(user, _template_data(request.POST))
            messages.success(request, _("Template created: add its tasks."))
            return redirect("followup:template", template_id=template.pk)
        except CodedError as exc:
            show_on_page(request, exc)
            return redirect("followup:templates")
    rows = CarePlanTemplate.objects.prefetch_related("tasks").order_by("category", "key")
    return render(
        request,
        "followup/templates.html",
        {"templates": rows, "may_manage": has_capability(user, "followup.manage"), **_template_choices()},
    )


@login_required
def template(request: HttpRequest, template_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "followup.library")
    found = CarePlanTemplate.objects.filter(pk=template_id).first()
    if found is None:
        raise NotFound()
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "save":
                services.save_template(user, _template_data(request.POST), found.pk)
            elif action == "save_task":
                data = {
                    k: request.POST.get(k, "")
                    for k in (
                        "kind",
                        "title_zh",
                        "title_en",
                        "instructions_zh",
                        "instructions_en",
                        "offset_days",
                        "grace_days",
                        "remind_days_before",
                        "responsible_role",
                        "questionnaire",
                        "education_item",
                        "lab_code",
                    )
                }
                services.save_template_task(user, found.pk, data, request.POST.get("task") or None)
            elif action == "delete_task":
                services.delete_template_task(user, found.pk, request.POST.get("task"))
            else:
                raise InvalidInput(_("Unknown action."), field="action")
            messages.success(request, _("Saved."))
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("followup:template", template_id=found.pk)
    return render(
        request,
        "followup/template.html",
        {
            "template": found,
            "tasks": list(found.tasks.select_related("questionnaire", "education_item")),
            "may_manage": has_capability(user, "followup.manage"),
            "kinds": TaskKind.choices,
            "roles": ResponsibleRole.choices,
            "questionnaires": Questionnaire.objects.filter(is_active=True).exclude(
                kind=QuestionnaireKind.SATISFACTION
            ),
            "items": EducationItem.objects.order_by("key"),
            "active_plans": found.plans.filter(status=PlanStatus.ACTIVE).count(),
            **_template_choices(),
        },
    )


def _questionnaire_data(post: Any) -> dict[str, Any]:
    return {
        **{
            k: post.get(k, "")
            for k in (
                "key",
                "name_zh",
                "name_en",
                "description_zh",
                "description_en",
                "kind",
                "occasion",
                "satisfied_percent",
            )
        },
        "higher_is_better": post.get("higher_is_better") == "on",
        "is_active": post.get("is_active") == "on",
    }


@login_required
def questionnaires(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "followup.manage")
    if request.method == "POST":
        try:
            found = services.save_questionnaire(user, _questionnaire_data(request.POST))
            messages.success(request, _("Questionnaire created: add its questions."))
            return redirect("followup:questionnaire", questionnaire_id=found.pk)
        except CodedError as exc:
            show_on_page(request, exc)
            return redirect("followup:questionnaires")
    return render(
        request,
        "followup/questionnaires.html",
        {
            "questionnaires": Questionnaire.objects.prefetch_related("questions").order_by("kind", "key"),
            "kinds": QuestionnaireKind.choices,
            "occasions": SurveyOccasion.choices,
        },
    )


def _question_data(post: Any) -> dict[str, Any]:
    keys = (
        "key",
        "kind",
        "text_zh",
        "text_en",
        "options",
        "scale_min",
        "scale_max",
        "low_label_zh",
        "low_label_en",
        "high_label_zh",
        "high_label_en",
        "min_value",
        "max_value",
        "unit",
        "show_if_question",
        "show_if_operator",
        "show_if_values",
    )
    return {
        **{k: post.get(k, "") for k in keys},
        "required": post.get("required") == "on",
        "scored": post.get("scored") == "on",
    }


def _options_text(question: Question) -> str:
    return "\n".join(
        "|".join(
            [
                str(o.get("value", "")),
                o.get("label_zh", ""),
                o.get("label_en", ""),
                str(o.get("score", 0)),
                "flag" if o.get("flag") else "",
            ]
        ).rstrip("|")
        for o in question.options or []
    )


def _condition_fields(question: Question) -> dict[str, str]:
    """The builder's three condition fields (a dict's own ``values`` would shadow a key in templates)."""
    condition = question.show_if or {}
    values = condition.get("values")
    text = (
        ",".join(str(v) for v in values)
        if isinstance(values, list)
        else str(condition.get("value", "") or "")
    )
    return {
        "question": str(condition.get("question", "")),
        "operator": str(condition.get("operator", "")),
        "text": text,
    }


@login_required
def questionnaire(request: HttpRequest, questionnaire_id: int) -> HttpResponse:
    """The builder: the questionnaire's details, its questions (add, edit, move, delete) with their
    conditions, and a preview as patients see it."""
    user: Any = request.user
    require_capability(user, "followup.manage")
    found = Questionnaire.objects.filter(pk=questionnaire_id).first()
    if found is None:
        raise NotFound()
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "save":
                services.save_questionnaire(user, _questionnaire_data(request.POST), found.pk)
            elif action == "save_question":
                services.save_question(
                    user, found.pk, _question_data(request.POST), request.POST.get("question") or None
                )
            elif action == "delete_question":
                services.delete_question(user, found.pk, request.POST.get("question"))
            elif action in ("up", "down"):
                services.move_question(user, found.pk, request.POST.get("question"), up=action == "up")
            else:
                raise InvalidInput(_("Unknown action."), field="action")
            messages.success(request, _("Saved."))
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("followup:questionnaire", questionnaire_id=found.pk)
    questions = list(found.questions.all().order_by("position", "pk"))
    return render(
        request,
        "followup/questionnaire.html",
        {
            "questionnaire": found,
            "questions": [
                {"q": q, "options_text": _options_text(q), "condition": _condition_fields(q)}
                for q in questions
            ],
            "preview": form_questions(found),
            "kinds": QuestionnaireKind.choices,
            "occasions": SurveyOccasion.choices,
            "question_kinds": QuestionKind.choices,
            "operators": ConditionOperator.choices,
            "responses": found.responses.count(),
        },
    )


def _item_data(post: Any) -> dict[str, Any]:
    keys = (
        "key",
        "kind",
        "title_zh",
        "title_en",
        "summary_zh",
        "summary_en",
        "body_zh",
        "body_en",
        "video_url",
        "duration_minutes",
        "min_age",
        "max_age",
        "sex",
    )
    return {
        **{k: post.get(k, "") for k in keys},
        "conditions": post.getlist("conditions"),
        "care_stages": post.getlist("care_stages"),
        "is_published": post.get("is_published") == "on",
    }


def _library_choices() -> dict[str, Any]:
    return {
        "conditions": condition_choices(),
        "stages": CareStage.choices,
        "education_kinds": EducationKind.choices,
        "sexes": Sex.choices,
    }


@login_required
def library(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "followup.library")
    may_manage = has_capability(user, "followup.manage")
    if request.method == "POST":
        try:
            item = services.save_education_item(user, _item_data(request.POST))
            messages.success(request, _("Education item created."))
            return redirect("followup:education_item", item_id=item.pk)
        except CodedError as exc:
            show_on_page(request, exc)
            return redirect("followup:library")
    query = request.GET.get("q", "").strip()
    condition = request.GET.get("condition", "")
    kind = request.GET.get("kind", "")
    items = list(
        selectors.library(query=query, condition=condition, kind=kind, published_only=not may_manage)
    )
    rates = selectors.reading_rates([i.pk for i in items])
    return render(
        request,
        "followup/library.html",
        {
            "rows": [
                {"item": i, "sent": rates.get(i.pk, (0, 0))[0], "read": rates.get(i.pk, (0, 0))[1]}
                for i in items
            ],
            "query": query,
            "condition": condition,
            "kind": kind,
            "may_manage": may_manage,
            **_library_choices(),
        },
    )


@login_required
def education_item(request: HttpRequest, item_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "followup.library")
    may_manage = has_capability(user, "followup.manage")
    found = EducationItem.objects.filter(pk=item_id).first()
    if found is None or (not found.is_published and not may_manage):
        raise NotFound()
    if request.method == "POST":
        try:
            services.save_education_item(user, _item_data(request.POST), found.pk)
            messages.success(request, _("Saved."))
        except CodedError as exc:
            show_on_page(request, exc)
        return redirect("followup:education_item", item_id=found.pk)
    return render(
        request,
        "followup/education_item.html",
        {"item": found, "may_manage": may_manage, **_library_choices()},
    )


# --- Management: the satisfaction indicator ---------------------------------------------------------------------


@login_required
def satisfaction(request: HttpRequest) -> HttpResponse:
    """Aggregates only: the indicator for a period, per department, and month by month."""
    user: Any = request.user
    require_capability(user, "followup.reports")
    today = clock.today()

    def day(name: str, default: dt.date) -> dt.date:
        try:
            return dt.date.fromisoformat(request.GET.get(name, ""))
        except ValueError:
            return default

    end = day("end", today)
    start = day("start", end - dt.timedelta(days=29))
    department = Department.objects.filter(pk=request.GET.get("department") or 0).first()
    total = selectors.satisfaction_indicator(start, end, department)
    months = selectors.satisfaction_by_month(12, department)
    target = float(total.target * 100)
    chart = json.dumps(
        {
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 44, "right": 16, "top": 20, "bottom": 30},
            "xAxis": {"type": "category", "data": [m.start.strftime("%Y-%m") for m in months]},
            "yAxis": {"type": "value", "min": 50, "max": 100, "axisLabel": {"formatter": "{value}%"}},
            "series": [
                {
                    "name": _("Satisfaction"),
                    "type": "line",
                    "connectNulls": True,
                    "itemStyle": {"color": "#0b6e4f"},
                    "data": [float(m.rate_percent) if m.rate_percent is not None else None for m in months],
                    "markLine": {
                        "symbol": "none",
                        "lineStyle": {"color": "#c0392b", "type": "dashed"},
                        "data": [{"yAxis": target, "name": _("Target")}],
                    },
                }
            ],
        },
        ensure_ascii=False,
    )
    return render(
        request,
        "followup/satisfaction.html",
        {
            "total": total,
            "start": start,
            "end": end,
            "department": department,
            "departments": Department.objects.filter(is_active=True, is_clinical=True).order_by(
                "national_code_id"
            ),
            "by_department": selectors.satisfaction_by_department(start, end),
            "chart": chart,
            "task_counts": selectors.task_counts(department.pk if department else None),
        },
    )


# --- Patients ---------------------------------------------------------------------------------------------------


def _my_patients(request: HttpRequest) -> list[Patient]:
    user: Any = request.user
    require_capability(user, "followup.portal")
    return list(Patient.objects.visible_to(user).order_by("pk"))


@login_required
def my_followup(request: HttpRequest) -> HttpResponse:
    """The patient's follow-up on the phone: what to do now, the plan, surveys, score trends."""
    user: Any = request.user
    people = []
    for person in _my_patients(request):
        access_patient(user, person, AccessAction.VIEW, reason="my follow-up")
        plans = list(selectors.plans_of(person).filter(status=PlanStatus.ACTIVE))
        open_tasks = [t for p in plans for t in p.tasks.all() if t.status in OPEN_TASK_STATUSES]
        today = clock.today()
        series = selectors.score_trends(person)
        people.append(
            {
                "patient": person,
                "plans": plans,
                "now": sorted(
                    [t for t in open_tasks if t.remind_on <= today], key=lambda t: (t.due_on, t.pk)
                ),
                "upcoming": sorted(
                    [t for t in open_tasks if t.remind_on > today], key=lambda t: (t.due_on, t.pk)
                )[:5],
                "surveys": list(selectors.open_surveys(person)),
                "unread": EducationDelivery.objects.filter(
                    patient=person, read_at=None, item__is_published=True
                ).count(),
                "chart": _chart(series) if series else "",
                "done": list(
                    CareTask.objects.filter(patient=person, status=TaskStatus.DONE).order_by("-completed_at")[
                        :5
                    ]
                ),
            }
        )
    return render(request, "followup/me.html", {"people": people, "today": clock.today()})


@login_required
def my_task(request: HttpRequest, task_id: int) -> HttpResponse:
    """One task of the patient's plan: the questionnaire to fill in, or what to do."""
    user: Any = request.user
    require_capability(user, "followup.portal")
    found = (
        CareTask.objects.select_related("plan__template", "questionnaire", "education_item")
        .filter(pk=task_id)
        .first()
    )
    if found is None:
        raise NotFound()
    access_patient(user, found.patient_id, AccessAction.VIEW, obj=found, reason="my follow-up task")
    answers: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if found.questionnaire is None:
            raise NotFound()
        answers = answers_from_post(found.questionnaire, request.POST)
        try:
            services.answer_task(user, found.pk, answers)
            messages.success(request, _("Thank you, your answers were sent to your care team."))
            return redirect("followup:me")
        except InvalidAnswers as exc:
            errors = {k: [str(m) for m in v] for k, v in exc.errors.items()}
            messages.error(request, f"{exc.code}: {exc.detail}")
            status = 400
        except CodedError as exc:
            show_on_page(request, exc)
            return redirect("followup:me")
    delivery = None
    if found.kind == TaskKind.EDUCATION and found.education_item_id:
        delivery = (
            services.deliver_task_education(found)
            if found.is_open
            else EducationDelivery.objects.filter(
                patient_id=found.patient_id, item_id=found.education_item_id
            ).first()
        )
        if delivery is not None:
            return redirect("followup:my_education_item", delivery_id=delivery.pk)
    return render(
        request,
        "followup/my_task.html",
        {
            "task": found,
            "questions": form_questions(found.questionnaire, answers, errors)
            if found.questionnaire and found.is_open
            else [],
            "today": clock.today(),
        },
        status=status,
    )


@login_required
def my_survey(request: HttpRequest, invitation_id: int) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "followup.portal")
    found = (
        SurveyInvitation.objects.select_related("questionnaire", "department")
        .filter(pk=invitation_id)
        .first()
    )
    if found is None:
        raise NotFound()
    access_patient(user, found.patient_id, AccessAction.VIEW, obj=found, reason="satisfaction survey")
    answers: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        answers = answers_from_post(found.questionnaire, request.POST)
        try:
            services.answer_survey(user, found.pk, answers)
            messages.success(request, _("Thank you for your feedback."))
            return redirect("followup:me")
        except InvalidAnswers as exc:
            errors = {k: [str(m) for m in v] for k, v in exc.errors.items()}
            messages.error(request, f"{exc.code}: {exc.detail}")
            status = 400
        except CodedError as exc:
            show_on_page(request, exc)
            return redirect("followup:me")
    return render(
        request,
        "followup/my_survey.html",
        {
            "survey": found,
            "questions": form_questions(found.questionnaire, answers, errors) if found.is_open() else [],
        },
        status=status,
    )


@login_required
def my_education(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    people = []
    for person in _my_patients(request):
        access_patient(user, person, AccessAction.VIEW, reason="my health education")
        people.append({"patient": person, "deliveries": list(selectors.deliveries_of(person))})
    return render(request, "followup/my_education.html", {"people": people})


@login_required
def my_education_item(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Reading an item opens it (tracked); "I have read it" (POST) marks it read."""
    user: Any = request.user
    if request.method == "POST":
        services.mark_read(user, delivery_id)
        messages.success(request, _("Marked as read."))
        return redirect("followup:my_education")
    delivery = services.open_education(user, delivery_id)
    return render(request, "followup/my_education_item.html", {"delivery": delivery, "item": delivery.item})


def survey_link(request: HttpRequest, token: str) -> HttpResponse:
    """The satisfaction survey through the link of an SMS, for patients without a portal account:
    no sign-in, the signed link opens this one survey; the page names no patient."""
    found = services.invitation_for_link(token)
    answers: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    thanks = False
    if request.method == "POST":
        answers = answers_from_post(found.questionnaire, request.POST)
        try:
            services.answer_survey_by_link(token, answers)
            thanks = True
            found.refresh_from_db()
        except InvalidAnswers as exc:
            errors = {k: [str(m) for m in v] for k, v in exc.errors.items()}
            messages.error(request, f"{exc.code}: {exc.detail}")
            status = 400
        except CodedError as exc:
            messages.error(request, f"{exc.code}: {exc.detail}")
            status = exc.status
            found.refresh_from_db()
    return render(
        request,
        "followup/survey_link.html",
        {
            "survey": found,
            "thanks": thanks,
            "questions": form_questions(found.questionnaire, answers, errors) if found.is_open() else [],
        },
        status=status,
    )
