"""Writes of the follow-up module: care plans and their tasks, phone follow-ups, questionnaire
answers, satisfaction surveys, health education, and the editing of templates, questionnaires and
the education library.

Every service is atomic, checks the capability and the patient-level access (``access_patient``),
writes its audit event and raises coded errors; bad input writes nothing. Plans started by a rule
(a discharge after a procedure, a new diagnosis) go through the same ``_create_plan`` as plans
started by hand, so they give the same care relationships, education and notifications.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import User
from smartcare.accounts.services import end_care_relationship, register_care_relationship
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import has_capability, require_capability
from smartcare.emr.choices import DiagnosisStatus, EncounterKind, OrderKind, OrderStatus
from smartcare.emr.models import Diagnosis, Encounter, Problem
from smartcare.followup import selectors
from smartcare.followup.choices import (
    CHOICE_KINDS,
    OPEN_TASK_STATUSES,
    CallOutcome,
    CareStage,
    ConditionOperator,
    DataOrigin,
    DeliveryReason,
    EducationKind,
    InvitationStatus,
    PlanCategory,
    PlanOrigin,
    PlanStatus,
    PlanTrigger,
    QuestionKind,
    QuestionnaireKind,
    ResponsibleRole,
    SurveyOccasion,
    TaskKind,
    TaskStatus,
)
from smartcare.followup.conditions import CONDITIONS, code_matches
from smartcare.followup.errors import (
    AnswerTheQuestionnaire,
    PlanAlreadyActive,
    PlanNotActive,
    QuestionInUse,
    ReasonRequired,
    SurveyClosed,
    TaskTransitionRefused,
    TemplateNotUsable,
    VideoNotHospitalHosted,
)
from smartcare.followup.models import (
    CarePlan,
    CarePlanTemplate,
    CareTask,
    EducationDelivery,
    EducationItem,
    PhoneFollowUp,
    Question,
    Questionnaire,
    QuestionnaireResponse,
    SurveyInvitation,
    TemplateTask,
)
from smartcare.followup.questionnaires import QuestionSpec, check_question, evaluate
from smartcare.notifications.choices import Channel
from smartcare.notifications.services import notify
from smartcare.organization.choices import Sex
from smartcare.organization.models import Department
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction

logger = logging.getLogger("smartcare.followup")

RULES_ACTOR = "followup-rules"  # the audit trail's name for work no person started
CARE_AFTER_PLAN = dt.timedelta(days=30)  # the team keeps access this long after the last task
MAX_NOTES = 4000
MAX_PUSHED_PER_PLAN = 6
DOCTOR_ROLES = (Role.DOCTOR, Role.DEPARTMENT_HEAD)


# --- Helpers ----------------------------------------------------------------------------------------


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise InvalidInput(_("This field is required."), field=field)
    if len(text) > limit:
        raise InvalidInput(_("The text is too long (at most %(n)d characters).") % {"n": limit}, field=field)
    return text


def _int(value: Any, field: str, *, low: int, high: int, default: int | None = None) -> int:
    if value in (None, "") and default is not None:
        return default
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(_("Enter a whole number."), field=field) from None
    if not low <= number <= high:
        raise InvalidInput(
            _("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high}, field=field
        )
    return number


def _optional_int(value: Any, field: str, *, low: int, high: int) -> int | None:
    if value in (None, ""):
        return None
    return _int(value, field, low=low, high=high)


def _decimal(value: Any, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(_("Enter a number."), field=field) from None
    if not number.is_finite() or abs(number) >= 10**8:
        raise InvalidInput(_("Enter a number."), field=field)
    return number


def _date(value: Any, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(_("Enter a date as YYYY-MM-DD."), field=field) from None


def _pk(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise NotFound() from None


def _str_list(value: Any, field: str, *, allowed: set[str] | None = None, limit: int = 40) -> list[str]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).replace("，", ",").split(",")
    result: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if len(text) > 80:
            raise InvalidInput(_("An entry is too long."), field=field)
        if allowed is not None and text not in allowed:
            raise InvalidInput(_("Unknown value: %(value)s") % {"value": text}, field=field)
        if text not in result:
            result.append(text)
    if len(result) > limit:
        raise InvalidInput(_("Too many entries."), field=field)
    return result


def _department_of(user: Any) -> Department | None:
    practitioner = getattr(user, "practitioner", None)
    return practitioner.department if practitioner is not None else None


def _staff_patient(actor: Any, patient_id: Any, *, obj: Any = None) -> Any:
    require_capability(actor, "followup.work")
    return access_patient(actor, patient_id, AccessAction.UPDATE, obj=obj, audit=False)


def _load_task(task_id: Any, *, lock: bool = True) -> CareTask:
    rows = CareTask.objects.select_related("plan__template", "patient__user", "responsible")
    if lock:
        rows = rows.select_for_update(of=("self",))
    task = rows.filter(pk=_pk(task_id)).first()
    if task is None:
        raise NotFound()
    return task


def _staff_task(actor: Any, task_id: Any) -> CareTask:
    require_capability(actor, "followup.work")
    task = _load_task(task_id)
    access_patient(actor, task.patient_id, AccessAction.UPDATE, obj=task, audit=False)
    return task


def _patient_language(user: Any) -> str:
    return getattr(user, "preferred_language", "") or settings.LANGUAGE_CODE


def _notify_patient(patient: Any, *, category: str, subject: Any, body: Any, link: str) -> None:
    """Tell the patient (in their language) when they have a portal account."""
    user = getattr(patient, "user", None)
    if user is None or not user.is_active:
        return
    with translation.override(_patient_language(user)):
        notify(user, category=category, subject=str(subject), body=str(body), link=link)


def _notify_staff(users: list[Any], *, category: str, subject: Any, body: Any, link: str) -> list[int]:
    sent: list[int] = []
    for user in users:
        if user is None or not user.is_active or user.pk in sent:
            continue
        with translation.override(_patient_language(user)):
            notify(user, category=category, subject=str(subject), body=str(body), link=link)
        sent.append(user.pk)
    return sent


def least_loaded(department: Department, roles: tuple[str, ...]) -> User | None:
    """The active clinician of ``department`` with one of ``roles`` and the fewest open follow-up
    tasks (the first by id among equals), so new plans spread over the team."""
    return (
        User.objects.filter(role__in=roles, is_active=True, practitioner__department=department)
        .annotate(open_tasks=Count("followup_tasks", filter=Q(followup_tasks__status__in=OPEN_TASK_STATUSES)))
        .order_by("open_tasks", "pk")
        .first()
    )


def _clinician(value: Any, field: str, department: Department, roles: tuple[str, ...]) -> User | None:
    if value in (None, ""):
        return None
    user = User.objects.filter(
        pk=_pk(value), role__in=roles, is_active=True, practitioner__department=department
    ).first()
    if user is None:
        raise InvalidInput(_("Choose a clinician of the plan's department."), field=field)
    return user


# --- Plans ---------------------------------------------------------------------------------------------


@dataclass
class _PlanStart:
    template: CarePlanTemplate
    patient: Any
    department: Department
    doctor: User | None
    nurse: User | None
    start_date: dt.date
    origin: str
    source: str
    started_by: Any


def _care_source(plan: CarePlan) -> str:
    return f"followup.plan:{plan.pk}"


def _give_care(plan: CarePlan, until: dt.datetime) -> None:
    """The plan's department (its follow-up team) and each responsible clinician by name care for
    the patient until a while after the last task."""
    register_care_relationship(
        patient=plan.patient,
        department=plan.department,
        kind=CareRelationshipKind.FOLLOW_UP,
        source=_care_source(plan),
        valid_until=until,
    )
    for clinician in (plan.responsible_doctor, plan.responsible_nurse):
        if clinician is None:
            continue
        register_care_relationship(
            patient=plan.patient,
            department=_department_of(clinician) or plan.department,
            kind=CareRelationshipKind.FOLLOW_UP,
            source=f"{_care_source(plan)}:user:{clinician.pk}",
            practitioner_user=clinician,
            valid_until=until,
        )


def _end_care(plan: CarePlan) -> None:
    end_care_relationship(source=_care_source(plan))
    for clinician_id in (plan.responsible_doctor_id, plan.responsible_nurse_id):
        if clinician_id:
            end_care_relationship(source=f"{_care_source(plan)}:user:{clinician_id}")


def _local_midnight(day: dt.date) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def _create_plan(start: _PlanStart) -> CarePlan:
    """The plan, its tasks, the care relationships, the plan's education, the patient's message and
    the audit event. Callers check permissions; this runs inside their transaction."""
    template_tasks = list(start.template.tasks.all())
    if not start.template.is_active or not template_tasks:
        raise TemplateNotUsable()
    if CarePlan.objects.filter(
        patient=start.patient, template=start.template, status=PlanStatus.ACTIVE
    ).exists():
        raise PlanAlreadyActive()
    try:
        with transaction.atomic():
            plan = CarePlan.objects.create(
                patient=start.patient,
                template=start.template,
                department=start.department,
                responsible_doctor=start.doctor,
                responsible_nurse=start.nurse,
                origin=start.origin,
                source=start.source[:80],
                start_date=start.start_date,
                started_by=start.started_by if getattr(start.started_by, "is_authenticated", False) else None,
            )
    except IntegrityError:
        raise PlanAlreadyActive() from None
    tasks = []
    for item in template_tasks:
        due = start.start_date + dt.timedelta(days=item.offset_days)
        responsible = start.doctor if item.responsible_role == ResponsibleRole.DOCTOR else start.nurse
        tasks.append(
            CareTask(
                plan=plan,
                patient=start.patient,
                department=start.department,
                template_task=item,
                kind=item.kind,
                title_zh=item.title_zh,
                title_en=item.title_en,
                instructions_zh=item.instructions_zh,
                instructions_en=item.instructions_en,
                due_on=due,
                remind_on=max(start.start_date, due - dt.timedelta(days=item.remind_days_before)),
                grace_days=item.grace_days,
                responsible=responsible,
                responsible_role=item.responsible_role,
                questionnaire=item.questionnaire,
                education_item=item.education_item,
                lab_code=item.lab_code,
            )
        )
    CareTask.objects.bulk_create(tasks)
    last_day = max(t.due_on + dt.timedelta(days=t.grace_days) for t in tasks)
    _give_care(plan, _local_midnight(last_day) + CARE_AFTER_PLAN)
    actor = start.started_by
    record(
        actor,
        AuditAction.CREATE,
        patient=start.patient,
        obj=plan,
        actor_username="" if getattr(actor, "is_authenticated", False) else RULES_ACTOR,
        detail={
            "event": "plan_started",
            "template": start.template.key,
            "origin": start.origin,
            "source": start.source,
            "tasks": len(tasks),
        },
    )
    pushed = push_plan_education(plan)
    _notify_patient(
        start.patient,
        category="followup_plan",
        subject=_("Your follow-up plan has started"),
        body=_("%(plan)s: %(n)d steps over the coming weeks. %(education)s")
        % {
            "plan": start.template.name,
            "n": len(tasks),
            "education": _("%(n)d health education items were sent to you.") % {"n": pushed}
            if pushed
            else "",
        },
        link="/followup/me/",
    )
    return plan


@transaction.atomic
def start_plan(
    actor: Any,
    *,
    patient_id: Any,
    template_id: Any,
    start_date: Any = None,
    department_id: Any = None,
    doctor_id: Any = None,
    nurse_id: Any = None,
) -> CarePlan:
    """Start a plan by hand. The department defaults to the actor's; the responsible doctor and
    nurse to the actor (in their role) or else the least loaded of the department."""
    patient = _staff_patient(actor, patient_id)
    template = CarePlanTemplate.objects.filter(
        pk=_pk(template_id) if template_id not in (None, "") else 0
    ).first()
    if template is None:
        raise InvalidInput(_("Choose a care plan template."), field="template")
    if department_id not in (None, ""):
        department = Department.objects.filter(pk=_pk(department_id), is_active=True).first()
    else:
        department = _department_of(actor)
    if department is None:
        raise InvalidInput(_("Choose a department."), field="department")
    today = clock.today()
    start = _date(start_date, "start_date") or today
    if not today - dt.timedelta(days=30) <= start <= today + dt.timedelta(days=365):
        raise InvalidInput(
            _("The plan starts within the last 30 days or the coming year."), field="start_date"
        )
    doctor = _clinician(doctor_id, "doctor", department, DOCTOR_ROLES)
    nurse = _clinician(nurse_id, "nurse", department, (Role.NURSE,))
    in_department = _department_of(actor) == department
    if doctor is None:
        doctor = (
            actor if actor.role in DOCTOR_ROLES and in_department else least_loaded(department, DOCTOR_ROLES)
        )
    if nurse is None:
        nurse = (
            actor if actor.role == Role.NURSE and in_department else least_loaded(department, (Role.NURSE,))
        )
    return _create_plan(
        _PlanStart(template, patient, department, doctor, nurse, start, PlanOrigin.MANUAL, "", actor)
    )


@transaction.atomic
def cancel_plan(actor: Any, plan_id: Any, reason: str) -> CarePlan:
    require_capability(actor, "followup.work")
    plan = CarePlan.objects.select_for_update().filter(pk=_pk(plan_id)).first()
    if plan is None:
        raise NotFound()
    access_patient(actor, plan.patient_id, AccessAction.UPDATE, obj=plan, audit=False)
    reason = _text(reason, "reason", 300)
    if not reason:
        raise ReasonRequired(field="reason")
    if plan.status != PlanStatus.ACTIVE:
        raise PlanNotActive()
    now = clock.now()
    cancelled = plan.tasks.filter(status__in=OPEN_TASK_STATUSES).update(
        status=TaskStatus.CANCELLED, cancel_reason=reason, updated_at=now
    )
    plan.status = PlanStatus.CANCELLED
    plan.ended_at = now
    plan.end_reason = reason
    plan.save(update_fields=["status", "ended_at", "end_reason", "updated_at"])
    _end_care(plan)
    record(
        actor,
        AuditAction.UPDATE,
        patient=plan.patient_id,
        obj=plan,
        reason=reason,
        detail={"event": "plan_cancelled", "tasks_cancelled": cancelled},
    )
    return plan


def complete_plan_if_finished(plan: CarePlan) -> bool:
    """A plan whose tasks are all done or cancelled is completed (its care relationships run out on
    their own, a while after the last task)."""
    # A missed task keeps the plan open until someone does it late or cancels it with a reason.
    if plan.status != PlanStatus.ACTIVE or plan.tasks.filter(status__in=OPEN_TASK_STATUSES).exists():
        return False
    updated = CarePlan.objects.filter(pk=plan.pk, status=PlanStatus.ACTIVE).update(
        status=PlanStatus.COMPLETED, ended_at=clock.now(), updated_at=clock.now()
    )
    return bool(updated)


# --- Plans started by rules ---------------------------------------------------------------------------


def _doctor_for(encounter: Encounter, actor: Any) -> User | None:
    attending = getattr(encounter.attending, "user", None)
    if attending is not None and attending.is_active and attending.role in DOCTOR_ROLES:
        return attending
    if getattr(actor, "role", "") in DOCTOR_ROLES and _department_of(actor) == encounter.department:
        return actor  # type: ignore[no-any-return]
    return least_loaded(encounter.department, DOCTOR_ROLES)


def _rule_templates(trigger: str, department: Department) -> list[CarePlanTemplate]:
    return list(
        CarePlanTemplate.objects.filter(trigger=trigger, is_active=True)
        .filter(Q(department__isnull=True) | Q(department=department))
        .order_by("key")
    )


def _start_by_rule(
    template: CarePlanTemplate,
    patient: Any,
    department: Department,
    *,
    doctor: User | None,
    actor: Any,
    source: str,
    start_date: dt.date,
) -> CarePlan | None:
    # Once per source and template: saving the same encounter or diagnosis again starts nothing.
    if (
        CarePlan.objects.filter(patient=patient, template=template)
        .filter(Q(status=PlanStatus.ACTIVE) | Q(source=source[:80]))
        .exists()
    ):
        return None
    try:
        with transaction.atomic():
            return _create_plan(
                _PlanStart(
                    template,
                    patient,
                    department,
                    doctor,
                    least_loaded(department, (Role.NURSE,)),
                    start_date,
                    PlanOrigin.RULE,
                    source,
                    actor,
                )
            )
    except (PlanAlreadyActive, TemplateNotUsable):
        return None


def plans_after_discharge(encounter: Encounter, actor: Any = None) -> list[CarePlan]:
    """Post-operative plans for an inpatient discharged after a procedure: the templates whose
    keywords appear in a procedure's name, or, when none does, the generic post-operative ones."""
    if encounter.kind != EncounterKind.INPATIENT or encounter.discharged_at is None:
        return []
    procedures = [
        name.lower()
        for name in encounter.orders.filter(kind=OrderKind.PROCEDURE)
        .exclude(status__in=[OrderStatus.DRAFT, OrderStatus.CANCELLED])
        .values_list("name", flat=True)
    ]
    if not procedures:
        return []
    templates = _rule_templates(PlanTrigger.DISCHARGE_PROCEDURE, encounter.department)
    specific = [
        t
        for t in templates
        if t.procedure_keywords
        and any(
            str(k).strip() and str(k).strip().lower() in name
            for k in t.procedure_keywords
            for name in procedures
        )
    ]
    chosen = specific or [t for t in templates if not t.procedure_keywords]
    start = timezone.localtime(encounter.discharged_at).date()
    doctor = _doctor_for(encounter, actor)
    plans = [
        _start_by_rule(
            t,
            encounter.patient,
            encounter.department,
            doctor=doctor,
            actor=actor,
            source=f"emr.encounter:{encounter.pk}",
            start_date=start,
        )
        for t in chosen
    ]
    return [p for p in plans if p is not None]


def _diagnosed_before(
    patient: Any, prefixes: list[str], *, diagnosis_id: int | None, problem_id: int | None
) -> bool:
    codes = list(
        Diagnosis.objects.filter(encounter__patient=patient)
        .exclude(status=DiagnosisStatus.RULED_OUT)
        .exclude(pk=diagnosis_id or 0)
        .values_list("icd10_id", flat=True)
    )
    codes += list(
        Problem.objects.filter(patient=patient).exclude(pk=problem_id or 0).values_list("icd10_id", flat=True)
    )
    return any(code_matches(code, prefixes) for code in codes)


def plans_for_new_diagnosis(
    patient: Any,
    code: str,
    *,
    department: Department | None,
    actor: Any = None,
    diagnosis_id: int | None = None,
    problem_id: int | None = None,
) -> list[CarePlan]:
    """Plans for a diagnosis the patient did not have before (hypertension, diabetes, heart
    failure, pregnancy...), and the education that fits the patient's new profile."""
    if department is None:
        return []
    plans: list[CarePlan] = []
    for template in _rule_templates(PlanTrigger.DIAGNOSIS, department):
        if not code_matches(code, template.icd10_prefixes or []):
            continue
        if _diagnosed_before(
            patient, template.icd10_prefixes, diagnosis_id=diagnosis_id, problem_id=problem_id
        ):
            continue
        source = f"emr.diagnosis:{diagnosis_id}" if diagnosis_id else f"emr.problem:{problem_id}"
        doctor = (
            actor if getattr(actor, "role", "") in DOCTOR_ROLES else least_loaded(department, DOCTOR_ROLES)
        )
        plan = _start_by_rule(
            template, patient, department, doctor=doctor, actor=actor, source=source, start_date=clock.today()
        )
        if plan is not None:
            plans.append(plan)
    if not plans:
        push_profile_education(patient)
    return plans


# --- Tasks ---------------------------------------------------------------------------------------------


def _finish(task: CareTask, actor: Any, outcome: str = "") -> CareTask:
    if task.status not in OPEN_TASK_STATUSES:
        raise TaskTransitionRefused(current=task.get_status_display(), target=TaskStatus.DONE.label)
    task.status = TaskStatus.DONE
    task.completed_at = clock.now()
    task.completed_by = actor
    task.outcome = outcome
    task.save(update_fields=["status", "completed_at", "completed_by", "outcome", "updated_at"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=task.patient_id,
        obj=task,
        detail={"event": "task_done", "kind": task.kind},
    )
    complete_plan_if_finished(task.plan)
    return task


# A result or visit this many days before the task's due day still counts for it.
EARLY_COMPLETION_DAYS = 7


def _open_tasks_for(patient_id: int, kind: str, on: dt.date) -> Any:
    return (
        CareTask.objects.select_for_update()
        .filter(
            patient_id=patient_id,
            kind=kind,
            status__in=OPEN_TASK_STATUSES,
            due_on__lte=on + dt.timedelta(days=EARLY_COMPLETION_DAYS),
        )
        .select_related("plan")
        .order_by("due_on", "pk")
    )


def close_lab_task_by_result(observation: Any) -> CareTask | None:
    """A result with a lab task's LOINC code, from a week before the task's due day on (late too),
    completes the earliest such open task of the patient; the outcome names the result."""
    if observation.patient_id is None or not observation.code:
        return None
    observed_on = timezone.localtime(observation.observed_at).date()
    task = (
        _open_tasks_for(observation.patient_id, TaskKind.LAB_TEST, observed_on)
        .filter(lab_code=observation.code)
        .first()
    )
    if task is None:
        return None
    value = observation.value if observation.value is not None else observation.value_text
    outcome = f"{observation.name or observation.code}: {value} {observation.unit}".strip()
    return _finish(task, None, f"{outcome} ({observed_on.isoformat()})")


def close_revisit_task_by_encounter(encounter: Any) -> CareTask | None:
    """An outpatient visit in the plan's department, from a week before the task's due day on,
    completes the earliest open return-visit task of the patient there."""
    started = encounter.started_at or encounter.created_at
    on = timezone.localtime(started).date()
    task = (
        _open_tasks_for(encounter.patient_id, TaskKind.REVISIT, on)
        .filter(department_id=encounter.department_id)
        .first()
    )
    if task is None:
        return None
    return _finish(task, None, f"{encounter.get_kind_display()} {on.isoformat()} (#{encounter.pk})")


@transaction.atomic
def complete_task(actor: Any, task_id: Any, *, outcome: str = "") -> CareTask:
    """Mark a task done (late too, after it was missed). A questionnaire task is done by
    answering its questionnaire instead (``FU-011``)."""
    task = _staff_task(actor, task_id)
    outcome = _text(outcome, "outcome", MAX_NOTES)
    if task.kind == TaskKind.QUESTIONNAIRE and task.status in OPEN_TASK_STATUSES:
        raise AnswerTheQuestionnaire()
    return _finish(task, actor, outcome)


@transaction.atomic
def cancel_task(actor: Any, task_id: Any, reason: str) -> CareTask:
    task = _staff_task(actor, task_id)
    reason = _text(reason, "reason", 300)
    if not reason:
        raise ReasonRequired(field="reason")
    if task.status not in OPEN_TASK_STATUSES:
        raise TaskTransitionRefused(current=task.get_status_display(), target=TaskStatus.CANCELLED.label)
    task.status = TaskStatus.CANCELLED
    task.cancel_reason = reason
    task.save(update_fields=["status", "cancel_reason", "updated_at"])
    record(
        actor,
        AuditAction.UPDATE,
        patient=task.patient_id,
        obj=task,
        reason=reason,
        detail={"event": "task_cancelled"},
    )
    complete_plan_if_finished(task.plan)
    return task


@transaction.atomic
def record_call(
    actor: Any,
    task_id: Any,
    *,
    outcome: str,
    notes: str = "",
    needs_doctor: bool = False,
    next_call_on: Any = None,
    duration_minutes: Any = None,
) -> PhoneFollowUp:
    """Record a phone follow-up about a task. Reaching the patient completes a phone-call task;
    an unanswered call may set the day to call again (the task is due again that day). "Needs the
    doctor" sends the responsible doctor a message."""
    task = _staff_task(actor, task_id)
    if outcome not in CallOutcome.values:
        raise InvalidInput(_("Choose the outcome of the call."), field="outcome")
    notes = _text(notes, "notes", MAX_NOTES)
    minutes = _optional_int(duration_minutes, "duration_minutes", low=0, high=240)
    again = _date(next_call_on, "next_call_on")
    today = clock.today()
    if again is not None and not today <= again <= today + dt.timedelta(days=60):
        raise InvalidInput(_("Call again within the next 60 days."), field="next_call_on")
    if again is not None and outcome == CallOutcome.REACHED and task.kind == TaskKind.PHONE_CALL:
        raise InvalidInput(_("The call reached the patient: this task is done."), field="next_call_on")
    if task.status not in OPEN_TASK_STATUSES:
        raise TaskTransitionRefused(current=task.get_status_display(), target=TaskStatus.DONE.label)
    call = PhoneFollowUp.objects.create(
        task=task,
        patient=task.patient,
        called_by=actor,
        outcome=outcome,
        duration_minutes=minutes,
        notes=notes,
        needs_doctor=bool(needs_doctor),
        next_call_on=again,
    )
    record(
        actor,
        AuditAction.CREATE,
        patient=task.patient_id,
        obj=call,
        detail={"event": "phone_follow_up", "outcome": outcome, "task": task.pk},
    )
    if outcome == CallOutcome.REACHED and task.kind == TaskKind.PHONE_CALL:
        _finish(task, actor, notes)
    elif again is not None:
        task.due_on = again
        task.remind_on = again
        task.reminded_at = None
        task.status = TaskStatus.DUE
        task.save(update_fields=["due_on", "remind_on", "reminded_at", "status", "updated_at"])
    if needs_doctor:
        doctor = task.plan.responsible_doctor
        _notify_staff(
            [doctor] if doctor is not None and doctor.pk != actor.pk else [],
            category="followup_attention",
            subject=_("Follow-up call: the patient needs your attention"),
            body=_("%(task)s (%(plan)s), called by %(by)s.")
            % {"task": task.title, "plan": task.plan.template.name, "by": actor},
            link=f"/followup/tasks/{task.pk}/",
        )
    return call


# --- Questionnaires: answers -------------------------------------------------------------------------------


def question_specs(questionnaire: Questionnaire) -> list[QuestionSpec]:
    return [QuestionSpec.of(q) for q in questionnaire.questions.all().order_by("position", "pk")]


def _save_answers(
    actor: Any,
    questionnaire: Questionnaire,
    patient_id: int,
    answers: Any,
    *,
    task: CareTask | None = None,
    invitation: SurveyInvitation | None = None,
    department_id: int | None = None,
) -> QuestionnaireResponse:
    result = evaluate(question_specs(questionnaire), answers if answers is not None else {})
    satisfied = None
    if questionnaire.kind == QuestionnaireKind.SATISFACTION:
        satisfied = result.percent is not None and result.percent >= questionnaire.satisfied_percent
    response = QuestionnaireResponse.objects.create(
        questionnaire=questionnaire,
        patient_id=patient_id,
        task=task,
        invitation=invitation,
        department_id=department_id,
        answers=result.answers,
        score=result.score,
        max_score=result.max_score,
        score_percent=result.percent,
        satisfied=satisfied,
        flagged=bool(result.flagged),
        submitted_by=actor,
    )
    record(
        actor,
        AuditAction.CREATE,
        patient=patient_id,
        obj=response,
        actor_username="" if actor is not None else SURVEY_LINK_ACTOR,
        detail={
            "event": "questionnaire_answered",
            "questionnaire": questionnaire.key,
            "score": str(result.percent),
        },
    )
    return response


def _may_answer_for(actor: Any, patient_id: int, obj: Any) -> None:
    """Patients answer for themselves (and linked family); the care team during a call."""
    if has_capability(actor, "followup.portal"):
        access_patient(actor, patient_id, AccessAction.UPDATE, obj=obj, audit=False)
    else:
        _staff_patient(actor, patient_id, obj=obj)


@transaction.atomic
def answer_task(actor: Any, task_id: Any, answers: Any) -> QuestionnaireResponse:
    """Answer a questionnaire task: checked and scored as one (``FU-005`` writes nothing); the
    task is done, and flagged answers go to the responsible clinicians."""
    if not (has_capability(actor, "followup.portal") or has_capability(actor, "followup.work")):
        require_capability(actor, "followup.portal")
    task = _load_task(task_id)
    _may_answer_for(actor, task.patient_id, task)
    if task.kind != TaskKind.QUESTIONNAIRE or task.questionnaire_id is None:
        raise NotFound()
    if task.status not in OPEN_TASK_STATUSES:
        raise SurveyClosed()
    assert task.questionnaire is not None
    response = _save_answers(
        actor, task.questionnaire, task.patient_id, answers, task=task, department_id=task.department_id
    )
    _finish(task, actor)
    if response.flagged:
        _notify_staff(
            [task.responsible, task.plan.responsible_doctor],
            category="followup_attention",
            subject=_("Questionnaire answers need attention"),
            body=_("%(questionnaire)s (%(plan)s): an answer calls for a look by the care team.")
            % {"questionnaire": task.questionnaire.name, "plan": task.plan.template.name},
            link=f"/followup/tasks/{task.pk}/",
        )
    return response


@transaction.atomic
def answer_survey(actor: Any, invitation_id: Any, answers: Any) -> QuestionnaireResponse:
    """A patient's answer to a satisfaction survey (only the patient answers it; staff never
    answer for them). Satisfied when the score reaches the survey's threshold."""
    require_capability(actor, "followup.portal")
    invitation = (
        SurveyInvitation.objects.select_for_update(of=("self",))
        .select_related("questionnaire")
        .filter(pk=_pk(invitation_id))
        .first()
    )
    if invitation is None:
        raise NotFound()
    access_patient(actor, invitation.patient_id, AccessAction.UPDATE, obj=invitation, audit=False)
    return _answer_invitation(actor, invitation, answers)


def _answer_invitation(actor: Any, invitation: SurveyInvitation, answers: Any) -> QuestionnaireResponse:
    """Store the answers of an open survey (locked by the caller) and close it."""
    if not invitation.is_open():
        raise SurveyClosed()
    response = _save_answers(
        actor,
        invitation.questionnaire,
        invitation.patient_id,
        answers,
        invitation=invitation,
        department_id=invitation.department_id,
    )
    invitation.status = InvitationStatus.ANSWERED
    invitation.answered_at = response.submitted_at
    invitation.save(update_fields=["status", "answered_at"])
    return response


SURVEY_LINK_SALT = "smartcare.followup.survey-link"
SURVEY_LINK_ACTOR = "survey-link"


def survey_link_token(invitation: SurveyInvitation) -> str:
    """The key of the sign-in-free survey link sent by SMS: the invitation, signed with the
    installation's secret. It opens that one survey while it is open, and nothing else."""
    from django.core import signing

    return signing.dumps(invitation.pk, salt=SURVEY_LINK_SALT, compress=True)


def survey_link(invitation: SurveyInvitation) -> str:
    from django.urls import reverse

    path = reverse("followup:survey_link", args=[survey_link_token(invitation)])
    return f"{settings.SMARTCARE_PUBLIC_URL.rstrip('/')}{path}"


def invitation_for_link(token: str, *, lock: bool = False) -> SurveyInvitation:
    """The invitation a survey link opens; a link that was not signed here is CORE-404, like a
    survey that does not exist."""
    from django.core import signing

    try:
        pk = signing.loads(token, salt=SURVEY_LINK_SALT)
    except signing.BadSignature:
        raise NotFound() from None
    rows = SurveyInvitation.objects.select_related("questionnaire", "department")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(pk=pk if isinstance(pk, int) else -1).first()
    if invitation is None:
        raise NotFound()
    return invitation


@transaction.atomic
def answer_survey_by_link(token: str, answers: Any) -> QuestionnaireResponse:
    """The answer of a patient without a portal account, through the link of their SMS. Nobody is
    signed in: the link is the key (as a QR code's is), so it opens one open survey only."""
    return _answer_invitation(None, invitation_for_link(token, lock=True), answers)


def _invite_without_account(patient: Any, invitation: SurveyInvitation, department: Department) -> None:
    """The survey by SMS, in the hospital's language, with the sign-in-free link."""
    with translation.override(settings.LANGUAGE_CODE):
        notify(
            None,
            category="followup_survey",
            subject=_("How was your care?"),
            body=_("Please tell us about your care in %(department)s (two minutes): %(link)s")
            % {"department": department.name, "link": survey_link(invitation)},
            channels=(Channel.SMS,),
            phone=patient.phone,
        )


def invite_to_survey(encounter: Encounter) -> SurveyInvitation | None:
    """After each finished visit and each discharge: the satisfaction survey for that occasion,
    once per encounter: in the portal for patients with an account, by an SMS with a sign-in-free
    link for patients with a phone number but no account."""
    occasion = SurveyOccasion.DISCHARGE if encounter.kind == EncounterKind.INPATIENT else SurveyOccasion.VISIT
    patient = encounter.patient
    if patient.user_id is None and not patient.phone:
        return None
    questionnaire = (
        Questionnaire.objects.filter(kind=QuestionnaireKind.SATISFACTION, occasion=occasion, is_active=True)
        .order_by("pk")
        .first()
    )
    if questionnaire is None or SurveyInvitation.objects.filter(encounter=encounter).exists():
        return None
    now = clock.now()
    try:
        with transaction.atomic():
            invitation = SurveyInvitation.objects.create(
                questionnaire=questionnaire,
                patient=patient,
                encounter=encounter,
                department=encounter.department,
                occasion=occasion,
                sent_at=now,
                expires_at=now + dt.timedelta(days=getattr(settings, "SMARTCARE_SURVEY_OPEN_DAYS", 14)),
            )
    except IntegrityError:
        return None  # a concurrent save of the same encounter sent it
    record(
        None,
        AuditAction.CREATE,
        patient=patient,
        obj=invitation,
        actor_username=RULES_ACTOR,
        detail={
            "event": "survey_sent",
            "occasion": occasion,
            "encounter": encounter.pk,
            "by": "portal" if patient.user_id else "sms link",
        },
    )
    if patient.user_id is None:
        _invite_without_account(patient, invitation, encounter.department)
        return invitation
    _notify_patient(
        patient,
        category="followup_survey",
        subject=_("How was your care?"),
        body=_("Please tell us about your %(occasion)s in %(department)s: it takes two minutes.")
        % {
            "occasion": _("hospital stay") if occasion == SurveyOccasion.DISCHARGE else _("visit"),
            "department": encounter.department.name,
        },
        link=f"/followup/me/surveys/{invitation.pk}/",
    )
    return invitation


# --- Health education ------------------------------------------------------------------------------------


def _deliver(
    patient: Any,
    item: EducationItem,
    *,
    reason: str,
    plan: CarePlan | None = None,
    task: CareTask | None = None,
    sent_by: Any = None,
    note: str = "",
) -> tuple[EducationDelivery, bool]:
    """(delivery, whether it is new or sent again by a clinician). An item reaches a patient once;
    a clinician sending it again brings it back to the top of their list."""
    existing = EducationDelivery.objects.filter(patient=patient, item=item).first()
    if existing is not None:
        if reason != DeliveryReason.MANUAL:
            if task is not None and existing.task_id is None:
                EducationDelivery.objects.filter(pk=existing.pk).update(task=task)
            return existing, False
        existing.reason, existing.sent_by, existing.note, existing.sent_at = (
            reason,
            sent_by,
            note,
            clock.now(),
        )
        existing.save(update_fields=["reason", "sent_by", "note", "sent_at"])
        return existing, True
    try:
        with transaction.atomic():
            delivery = EducationDelivery.objects.create(
                patient=patient, item=item, reason=reason, plan=plan, task=task, sent_by=sent_by, note=note
            )
    except IntegrityError:
        return EducationDelivery.objects.get(patient=patient, item=item), False
    return delivery, True


def push_plan_education(plan: CarePlan) -> int:
    """The items about the plan's conditions and care stage that suit the patient (age, sex)."""
    template = plan.template
    profile = selectors.education_profile(plan.patient)
    wanted = set(template.education_tags or [template.category])
    planned = set(template.tasks.exclude(education_item=None).values_list("education_item_id", flat=True))
    sent = 0
    for item in selectors.matching_items(profile, conditions=wanted, stage=template.care_stage):
        if item.pk in planned:
            continue  # delivered by its own task, on its day
        _delivery, new = _deliver(plan.patient, item, reason=DeliveryReason.PLAN, plan=plan)
        sent += int(new)
        if sent >= MAX_PUSHED_PER_PLAN:
            break
    return sent


def push_profile_education(patient: Any) -> int:
    """Items that suit the patient's profile and were not sent yet (after a new diagnosis)."""
    profile = selectors.education_profile(patient)
    sent = 0
    for item in selectors.matching_items(profile):
        _delivery, new = _deliver(patient, item, reason=DeliveryReason.PROFILE)
        sent += int(new)
        if sent >= MAX_PUSHED_PER_PLAN:
            break
    if sent:
        _notify_patient(
            patient,
            category="followup_education",
            subject=_("Health education for you"),
            body=_("%(n)d new items about your health are waiting for you.") % {"n": sent},
            link="/followup/me/education/",
        )
    return sent


def deliver_task_education(task: CareTask) -> EducationDelivery | None:
    if task.kind != TaskKind.EDUCATION or task.education_item is None:
        return None
    delivery, _new = _deliver(
        task.patient, task.education_item, reason=DeliveryReason.PLAN, plan=task.plan, task=task
    )
    return delivery


@transaction.atomic
def send_education(actor: Any, patient_id: Any, item_id: Any, *, note: str = "") -> EducationDelivery:
    """A clinician sends an item to a patient by hand (again, if it was sent before)."""
    patient = _staff_patient(actor, patient_id)
    item = EducationItem.objects.filter(
        pk=_pk(item_id) if item_id not in (None, "") else 0, is_published=True
    ).first()
    if item is None:
        raise InvalidInput(_("Choose a published education item."), field="item")
    note = _text(note, "note", 500)
    delivery, _new = _deliver(patient, item, reason=DeliveryReason.MANUAL, sent_by=actor, note=note)
    record(
        actor,
        AuditAction.CREATE,
        patient=patient,
        obj=delivery,
        detail={"event": "education_sent", "item": item.key},
    )
    _notify_patient(
        patient,
        category="followup_education",
        subject=_("Your care team sent you: %(title)s") % {"title": item.title},
        body=note or item.summary,
        link=f"/followup/me/education/{delivery.pk}/",
    )
    return delivery


def _own_delivery(actor: Any, delivery_id: Any) -> EducationDelivery:
    require_capability(actor, "followup.portal")
    delivery = (
        EducationDelivery.objects.select_for_update(of=("self",))
        .select_related("item", "task__plan")
        .filter(pk=_pk(delivery_id))
        .first()
    )
    if delivery is None:
        raise NotFound()
    return delivery


@transaction.atomic
def open_education(actor: Any, delivery_id: Any) -> EducationDelivery:
    """The patient opens an item (the read of the record is audited)."""
    delivery = _own_delivery(actor, delivery_id)
    access_patient(actor, delivery.patient_id, AccessAction.VIEW, obj=delivery)
    if delivery.opened_at is None:
        delivery.opened_at = clock.now()
        delivery.save(update_fields=["opened_at"])
    return delivery


@transaction.atomic
def mark_read(actor: Any, delivery_id: Any) -> EducationDelivery:
    """The patient has read the article or watched the video; an education task is then done."""
    delivery = _own_delivery(actor, delivery_id)
    access_patient(actor, delivery.patient_id, AccessAction.UPDATE, obj=delivery, audit=False)
    if delivery.read_at is None:
        now = clock.now()
        delivery.opened_at = delivery.opened_at or now
        delivery.read_at = now
        delivery.save(update_fields=["opened_at", "read_at"])
        record(
            actor,
            AuditAction.UPDATE,
            patient=delivery.patient_id,
            obj=delivery,
            detail={"event": "education_read"},
        )
    task = delivery.task
    if task is not None and task.kind == TaskKind.EDUCATION and task.status in OPEN_TASK_STATUSES:
        _finish(CareTask.objects.select_related("plan").get(pk=task.pk), actor)
    return delivery


def check_video_url(url: str) -> str:
    """A hospital-hosted video: a path on this server (``/media/...``) or a URL on one of
    ``SMARTCARE_EDUCATION_VIDEO_HOSTS``. Anything else (a CDN, another site) is refused."""
    url = (url or "").strip()
    if not url:
        return ""
    parsed = urlparse(url)
    if not parsed.scheme and not parsed.netloc and url.startswith("/") and not url.startswith("//"):
        return url
    hosts = {h.lower() for h in getattr(settings, "SMARTCARE_EDUCATION_VIDEO_HOSTS", [])}
    if parsed.scheme in ("https", "http") and (parsed.hostname or "").lower() in hosts:
        return url
    raise VideoNotHospitalHosted(field="video_url")


# --- Editing: care plan templates ---------------------------------------------------------------------------

CONDITION_KEYS = set(CONDITIONS)


@transaction.atomic
def save_template(actor: Any, data: dict[str, Any], template_id: Any = None) -> CarePlanTemplate:
    require_capability(actor, "followup.manage")
    template = (
        CarePlanTemplate()
        if template_id in (None, "")
        else CarePlanTemplate.objects.filter(pk=_pk(template_id)).first()
    )
    if template is None:
        raise NotFound()
    creating = template.pk is None
    if creating:
        key = _text(data.get("key"), "key", 60, required=True)
        if not key.replace("-", "").replace("_", "").isalnum() or not key.isascii():
            raise InvalidInput(_("Use letters, digits, - and _ for the key."), field="key")
        if CarePlanTemplate.objects.filter(key=key).exists():
            raise InvalidInput(_("Another template has this key."), field="key")
        template.key = key
    template.name_zh = _text(data.get("name_zh"), "name_zh", 200, required=True)
    template.name_en = _text(data.get("name_en"), "name_en", 200)
    template.description_zh = _text(data.get("description_zh"), "description_zh", 2000)
    template.description_en = _text(data.get("description_en"), "description_en", 2000)
    category = str(data.get("category") or "")
    if category not in PlanCategory.values:
        raise InvalidInput(_("Choose a category."), field="category")
    template.category = category
    trigger = str(data.get("trigger") or PlanTrigger.MANUAL)
    if trigger not in PlanTrigger.values:
        raise InvalidInput(_("Choose what starts the plan."), field="trigger")
    template.trigger = trigger
    template.icd10_prefixes = [p.upper() for p in _str_list(data.get("icd10_prefixes"), "icd10_prefixes")]
    template.procedure_keywords = _str_list(data.get("procedure_keywords"), "procedure_keywords")
    if trigger == PlanTrigger.DIAGNOSIS and not template.icd10_prefixes:
        raise InvalidInput(_("A plan started by a diagnosis needs ICD-10 codes."), field="icd10_prefixes")
    template.education_tags = _str_list(data.get("education_tags"), "education_tags", allowed=CONDITION_KEYS)
    stage = str(data.get("care_stage") or CareStage.LONG_TERM)
    if stage not in CareStage.values:
        raise InvalidInput(_("Choose a care stage."), field="care_stage")
    template.care_stage = stage
    department_id = data.get("department")
    template.department = (
        Department.objects.filter(pk=_pk(department_id)).first() if department_id not in (None, "") else None
    )
    template.is_active = bool(data.get("is_active", True))
    if not creating and template.origin == DataOrigin.SHIPPED:
        template.origin = DataOrigin.LOCAL  # edited here: the shipped data no longer overwrites it
    template.save()
    record(
        actor,
        AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=template,
        detail={"key": template.key},
    )
    return template


@transaction.atomic
def save_template_task(
    actor: Any, template_id: Any, data: dict[str, Any], task_id: Any = None
) -> TemplateTask:
    require_capability(actor, "followup.manage")
    template = CarePlanTemplate.objects.select_for_update().filter(pk=_pk(template_id)).first()
    if template is None:
        raise NotFound()
    if task_id in (None, ""):
        task = TemplateTask(template=template)
    else:
        found = TemplateTask.objects.filter(pk=_pk(task_id), template=template).first()
        if found is None:
            raise NotFound()
        task = found
    kind = str(data.get("kind") or "")
    if kind not in TaskKind.values:
        raise InvalidInput(_("Choose the kind of task."), field="kind")
    task.kind = kind
    task.title_zh = _text(data.get("title_zh"), "title_zh", 200, required=True)
    task.title_en = _text(data.get("title_en"), "title_en", 200)
    task.instructions_zh = _text(data.get("instructions_zh"), "instructions_zh", 2000)
    task.instructions_en = _text(data.get("instructions_en"), "instructions_en", 2000)
    task.offset_days = _int(data.get("offset_days"), "offset_days", low=0, high=730)
    task.grace_days = _int(data.get("grace_days"), "grace_days", low=0, high=60, default=3)
    task.remind_days_before = _int(
        data.get("remind_days_before"), "remind_days_before", low=0, high=30, default=1
    )
    role = str(data.get("responsible_role") or ResponsibleRole.NURSE)
    if role not in ResponsibleRole.values:
        raise InvalidInput(_("Choose who is responsible."), field="responsible_role")
    task.responsible_role = role
    task.questionnaire = None
    task.education_item = None
    if kind == TaskKind.QUESTIONNAIRE:
        task.questionnaire = (
            Questionnaire.objects.filter(pk=_pk(data.get("questionnaire") or 0), is_active=True)
            .exclude(kind=QuestionnaireKind.SATISFACTION)
            .first()
        )
        if task.questionnaire is None:
            raise InvalidInput(_("Choose the questionnaire."), field="questionnaire")
    if kind == TaskKind.EDUCATION:
        task.education_item = EducationItem.objects.filter(pk=_pk(data.get("education_item") or 0)).first()
        if task.education_item is None:
            raise InvalidInput(_("Choose the education item."), field="education_item")
    task.lab_code = _text(data.get("lab_code"), "lab_code", 20) if kind == TaskKind.LAB_TEST else ""
    task.save()
    _mark_local(template)
    record(actor, AuditAction.UPDATE, obj=template, detail={"event": "template_task_saved", "task": task.pk})
    return task


@transaction.atomic
def delete_template_task(actor: Any, template_id: Any, task_id: Any) -> None:
    require_capability(actor, "followup.manage")
    task = (
        TemplateTask.objects.filter(pk=_pk(task_id), template_id=_pk(template_id))
        .select_related("template")
        .first()
    )
    if task is None:
        raise NotFound()
    record(
        actor,
        AuditAction.DELETE,
        obj=task.template,
        detail={"event": "template_task_deleted", "task": task.pk},
    )
    _mark_local(task.template)
    task.delete()  # plans already started keep their own tasks


def _mark_local(row: Any) -> None:
    if row.origin == DataOrigin.SHIPPED:
        type(row).objects.filter(pk=row.pk).update(origin=DataOrigin.LOCAL)


# --- Editing: questionnaires (the builder) ----------------------------------------------------------------------


@transaction.atomic
def save_questionnaire(actor: Any, data: dict[str, Any], questionnaire_id: Any = None) -> Questionnaire:
    require_capability(actor, "followup.manage")
    if questionnaire_id in (None, ""):
        questionnaire = Questionnaire()
        key = _text(data.get("key"), "key", 60, required=True)
        if not key.replace("-", "").replace("_", "").isalnum() or not key.isascii():
            raise InvalidInput(_("Use letters, digits, - and _ for the key."), field="key")
        if Questionnaire.objects.filter(key=key).exists():
            raise InvalidInput(_("Another questionnaire has this key."), field="key")
        questionnaire.key = key
    else:
        found = Questionnaire.objects.filter(pk=_pk(questionnaire_id)).first()
        if found is None:
            raise NotFound()
        questionnaire = found
    creating = questionnaire.pk is None
    questionnaire.name_zh = _text(data.get("name_zh"), "name_zh", 200, required=True)
    questionnaire.name_en = _text(data.get("name_en"), "name_en", 200)
    questionnaire.description_zh = _text(data.get("description_zh"), "description_zh", 2000)
    questionnaire.description_en = _text(data.get("description_en"), "description_en", 2000)
    kind = str(data.get("kind") or "")
    if kind not in QuestionnaireKind.values:
        raise InvalidInput(_("Choose the kind of questionnaire."), field="kind")
    questionnaire.kind = kind
    occasion = str(data.get("occasion") or "")
    if occasion and (kind != QuestionnaireKind.SATISFACTION or occasion not in SurveyOccasion.values):
        raise InvalidInput(
            _("Only satisfaction surveys are sent after visits or discharges."), field="occasion"
        )
    questionnaire.occasion = occasion
    questionnaire.higher_is_better = bool(data.get("higher_is_better", True))
    questionnaire.satisfied_percent = _int(
        data.get("satisfied_percent"), "satisfied_percent", low=1, high=100, default=80
    )
    questionnaire.is_active = bool(data.get("is_active", True))
    questionnaire.save()
    if not creating:
        _mark_local(questionnaire)
    record(
        actor,
        AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=questionnaire,
        detail={"key": questionnaire.key},
    )
    return questionnaire


def _score_value(raw: Any) -> Any:
    """A number where the score is one (int when whole); anything else is kept for the check to refuse."""
    if raw in (None, ""):
        return 0
    try:
        number = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return raw
    if not number.is_finite():
        return raw
    return int(number) if number == number.to_integral_value() else float(number)


def _options(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Options from a list of dicts (API) or from the builder's lines ``value|中文|English|score|flag``."""
    raw = data.get("options")
    if isinstance(raw, list):
        options = []
        for item in raw:
            if not isinstance(item, dict):
                raise InvalidInput(_("Options must be objects."), field="options")
            options.append(
                {
                    "value": str(item.get("value", "")).strip(),
                    "label_zh": str(item.get("label_zh", "")).strip()[:120],
                    "label_en": str(item.get("label_en", "")).strip()[:120],
                    "score": _score_value(item.get("score", 0)),
                    "flag": bool(item.get("flag", False)),
                }
            )
        return options
    options = []
    for line in str(raw or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        parts += [""] * (5 - len(parts))
        options.append(
            {
                "value": parts[0],
                "label_zh": parts[1][:120],
                "label_en": parts[2][:120],
                "score": _score_value(parts[3]),
                "flag": parts[4].lower() in ("1", "flag", "yes", "true", "!"),
            }
        )
    return options


def _show_if(data: dict[str, Any]) -> dict[str, Any] | None:
    raw = data.get("show_if")
    if isinstance(raw, dict):
        return raw or None
    question = str(data.get("show_if_question") or "").strip()
    if not question:
        return None
    operator = str(data.get("show_if_operator") or ConditionOperator.IN)
    condition: dict[str, Any] = {"question": question, "operator": operator}
    value = str(data.get("show_if_values") or "").strip()
    if operator in (ConditionOperator.IN, ConditionOperator.NOT_IN):
        condition["values"] = [v.strip() for v in value.replace("，", ",").split(",") if v.strip()]
    elif operator in (ConditionOperator.GTE, ConditionOperator.LTE):
        condition["value"] = value
    return condition


@transaction.atomic
def save_question(
    actor: Any, questionnaire_id: Any, data: dict[str, Any], question_id: Any = None
) -> Question:
    """Add or change a question; it is checked against the earlier questions (keys, options,
    scale, the condition) and refused with ``FU-007`` when patients could not answer it."""
    require_capability(actor, "followup.manage")
    questionnaire = Questionnaire.objects.select_for_update().filter(pk=_pk(questionnaire_id)).first()
    if questionnaire is None:
        raise NotFound()
    existing = list(questionnaire.questions.all().order_by("position", "pk"))
    if question_id in (None, ""):
        question = Question(
            questionnaire=questionnaire, position=(existing[-1].position + 1) if existing else 0
        )
        earlier = existing
    else:
        found = next((q for q in existing if q.pk == _pk(question_id)), None)
        if found is None:
            raise NotFound()
        question = found
        earlier = [q for q in existing if (q.position, q.pk) < (question.position, question.pk)]
    question.key = _text(data.get("key"), "key", 40, required=True)
    question.kind = str(data.get("kind") or "")
    question.text_zh = _text(data.get("text_zh"), "text_zh", 300)
    question.text_en = _text(data.get("text_en"), "text_en", 300)
    question.required = bool(data.get("required", False))
    question.options = _options(data) if question.kind in CHOICE_KINDS else []
    question.scale_min = (
        _optional_int(data.get("scale_min"), "scale_min", low=-1000, high=1000)
        if question.kind == QuestionKind.SCALE
        else None
    )
    question.scale_max = (
        _optional_int(data.get("scale_max"), "scale_max", low=-1000, high=1000)
        if question.kind == QuestionKind.SCALE
        else None
    )
    for end in ("low_label_zh", "low_label_en", "high_label_zh", "high_label_en"):
        setattr(question, end, _text(data.get(end), end, 60) if question.kind == QuestionKind.SCALE else "")
    question.min_value = (
        _decimal(data.get("min_value"), "min_value") if question.kind == QuestionKind.NUMBER else None
    )
    question.max_value = (
        _decimal(data.get("max_value"), "max_value") if question.kind == QuestionKind.NUMBER else None
    )
    question.unit = _text(data.get("unit"), "unit", 20) if question.kind == QuestionKind.NUMBER else ""
    question.scored = bool(data.get("scored", True)) and question.kind in (*CHOICE_KINDS, QuestionKind.SCALE)
    question.show_if = _show_if(data)
    check_question(
        QuestionSpec.of(question),
        [QuestionSpec.of(q) for q in earlier],
        text_zh=question.text_zh,
        taken_keys={q.key for q in existing if q.pk != question.pk},
    )
    if question.pk is not None:
        _check_dependants(question, existing)
    question.save()
    _mark_local(questionnaire)
    record(
        actor,
        AuditAction.UPDATE,
        obj=questionnaire,
        detail={"event": "question_saved", "question": question.key},
    )
    return question


def _check_dependants(question: Question, existing: list[Question]) -> None:
    """A changed question must still fit the conditions of the questions that depend on it."""
    old = Question.objects.get(pk=question.pk)
    for other in existing:
        condition = other.show_if or {}
        if other.pk == question.pk or condition.get("question") != old.key:
            continue
        if question.key != old.key:
            raise QuestionInUse(field="key")
        earlier = [
            QuestionSpec.of(q if q.pk != question.pk else question)
            for q in existing
            if (q.position, q.pk) < (other.position, other.pk)
        ]
        check_question(QuestionSpec.of(other), earlier, text_zh=other.text_zh, taken_keys=set())


@transaction.atomic
def delete_question(actor: Any, questionnaire_id: Any, question_id: Any) -> None:
    require_capability(actor, "followup.manage")
    question = (
        Question.objects.filter(pk=_pk(question_id), questionnaire_id=_pk(questionnaire_id))
        .select_related("questionnaire")
        .first()
    )
    if question is None:
        raise NotFound()
    dependants = [
        q
        for q in question.questionnaire.questions.exclude(pk=question.pk)
        if (q.show_if or {}).get("question") == question.key
    ]
    if dependants:
        raise QuestionInUse()
    record(
        actor,
        AuditAction.DELETE,
        obj=question.questionnaire,
        detail={"event": "question_deleted", "question": question.key},
    )
    _mark_local(question.questionnaire)
    question.delete()  # earlier answers keep their own copy of what was answered


@transaction.atomic
def move_question(actor: Any, questionnaire_id: Any, question_id: Any, *, up: bool) -> None:
    """Swap a question with its neighbour, unless a condition would then point to a later question."""
    require_capability(actor, "followup.manage")
    questionnaire = Questionnaire.objects.select_for_update().filter(pk=_pk(questionnaire_id)).first()
    if questionnaire is None:
        raise NotFound()
    ordered = list(questionnaire.questions.all().order_by("position", "pk"))
    index = next((i for i, q in enumerate(ordered) if q.pk == _pk(question_id)), None)
    if index is None:
        raise NotFound()
    other = index - 1 if up else index + 1
    if not 0 <= other < len(ordered):
        return
    ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, question in enumerate(ordered):
        condition = question.show_if or {}
        if condition and condition.get("question") not in [q.key for q in ordered[:position]]:
            raise QuestionInUse()
    for position, question in enumerate(ordered):
        if question.position != position:
            Question.objects.filter(pk=question.pk).update(position=position)
    _mark_local(questionnaire)
    record(actor, AuditAction.UPDATE, obj=questionnaire, detail={"event": "questions_reordered"})


# --- Editing: the education library ------------------------------------------------------------------------------


@transaction.atomic
def save_education_item(actor: Any, data: dict[str, Any], item_id: Any = None) -> EducationItem:
    require_capability(actor, "followup.manage")
    if item_id in (None, ""):
        item = EducationItem()
        key = _text(data.get("key"), "key", 80, required=True)
        if not key.replace("-", "").replace("_", "").isalnum() or not key.isascii():
            raise InvalidInput(_("Use letters, digits, - and _ for the key."), field="key")
        if EducationItem.objects.filter(key=key).exists():
            raise InvalidInput(_("Another item has this key."), field="key")
        item.key = key
    else:
        found = EducationItem.objects.filter(pk=_pk(item_id)).first()
        if found is None:
            raise NotFound()
        item = found
    creating = item.pk is None
    kind = str(data.get("kind") or "")
    if kind not in EducationKind.values:
        raise InvalidInput(_("Choose article or video."), field="kind")
    item.kind = kind
    item.title_zh = _text(data.get("title_zh"), "title_zh", 200, required=True)
    item.title_en = _text(data.get("title_en"), "title_en", 200)
    item.summary_zh = _text(data.get("summary_zh"), "summary_zh", 400)
    item.summary_en = _text(data.get("summary_en"), "summary_en", 400)
    item.body_zh = _text(data.get("body_zh"), "body_zh", 20000)
    item.body_en = _text(data.get("body_en"), "body_en", 20000)
    item.video_url = check_video_url(str(data.get("video_url") or ""))
    if kind == EducationKind.VIDEO and not item.video_url:
        raise InvalidInput(_("A video needs its file."), field="video_url")
    if kind == EducationKind.ARTICLE and not item.body_zh:
        raise InvalidInput(_("Write the article's text in Chinese."), field="body_zh")
    item.duration_minutes = _optional_int(data.get("duration_minutes"), "duration_minutes", low=1, high=600)
    item.conditions = _str_list(data.get("conditions"), "conditions", allowed=CONDITION_KEYS)
    item.care_stages = _str_list(data.get("care_stages"), "care_stages", allowed=set(CareStage.values))
    item.min_age = _optional_int(data.get("min_age"), "min_age", low=0, high=120)
    item.max_age = _optional_int(data.get("max_age"), "max_age", low=0, high=120)
    if item.min_age is not None and item.max_age is not None and item.max_age < item.min_age:
        raise InvalidInput(_("The age range is reversed."), field="max_age")
    sex = str(data.get("sex") or "")
    if sex and sex not in Sex.values:
        raise InvalidInput(_("Unknown sex."), field="sex")
    item.sex = sex
    item.is_published = bool(data.get("is_published", True))
    if not creating and item.origin == DataOrigin.SHIPPED:
        item.origin = DataOrigin.LOCAL
    item.save()
    record(actor, AuditAction.CREATE if creating else AuditAction.UPDATE, obj=item, detail={"key": item.key})
    return item
