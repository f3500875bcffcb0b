"""Reads of follow-up data, already restricted to what the user may see, and the aggregates that
the management pages (and later the KPI cockpit) use."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Case, Count, Q, QuerySet, Value, When

from smartcare.core import clock
from smartcare.emr.choices import DiagnosisStatus, ProblemStatus
from smartcare.emr.models import Diagnosis, Problem
from smartcare.followup.choices import (
    OPEN_TASK_STATUSES,
    CareStage,
    InvitationStatus,
    PlanStatus,
    QuestionnaireKind,
    TaskStatus,
)
from smartcare.followup.conditions import conditions_of_codes
from smartcare.followup.models import (
    CarePlan,
    CareTask,
    EducationDelivery,
    EducationItem,
    QuestionnaireResponse,
    SurveyInvitation,
)
from smartcare.patients.models import Patient

DEFAULT_SATISFACTION_TARGET = Decimal("0.90")


def satisfaction_target() -> Decimal:
    percent = getattr(settings, "SMARTCARE_SATISFACTION_TARGET_PERCENT", 90)
    return (Decimal(percent) / 100).quantize(Decimal("0.01"))


def _department_id(user: Any) -> int | None:
    return getattr(getattr(user, "practitioner", None), "department_id", None)


# --- The worklist ------------------------------------------------------------------------------------


def worklist(
    user: Any, *, scope: str = "department", horizon_days: int = 7, kind: str = "", overdue_only: bool = False
) -> QuerySet[CareTask]:
    """Open tasks (due and missed) of patients the user may see, due by ``horizon_days`` from
    today: the user's own (``scope="mine"``) or those of their department. Overdue first."""
    today = clock.today()
    rows = CareTask.objects.filter(
        status__in=OPEN_TASK_STATUSES,
        plan__status=PlanStatus.ACTIVE,
        patient__in=Patient.objects.visible_to(user),
    )
    if overdue_only:
        rows = rows.filter(due_on__lt=today)
    else:
        rows = rows.filter(due_on__lte=today + dt.timedelta(days=max(0, min(horizon_days, 60))))
    if scope == "mine":
        rows = rows.filter(responsible=user)
    else:
        rows = rows.filter(Q(department_id=_department_id(user) or 0) | Q(responsible=user))
    if kind:
        rows = rows.filter(kind=kind)
    return rows.select_related("patient", "plan__template", "responsible").order_by("due_on", "pk")


# --- One patient ---------------------------------------------------------------------------------------


def plans_of(patient: Any) -> QuerySet[CarePlan]:
    """A patient's plans (the caller has opened the patient with ``access_patient``)."""
    return (
        CarePlan.objects.filter(patient=patient)
        .select_related("template", "department", "responsible_doctor", "responsible_nurse")
        .prefetch_related("tasks")
        .order_by("status", "-start_date", "-pk")
    )


def open_surveys(patient: Any) -> QuerySet[SurveyInvitation]:
    return SurveyInvitation.objects.filter(
        patient=patient, status=InvitationStatus.SENT, expires_at__gt=clock.now()
    ).select_related("questionnaire", "department")


def due_questionnaires(patient: Any) -> QuerySet[CareTask]:
    return CareTask.objects.filter(
        patient=patient,
        kind="questionnaire",
        status__in=OPEN_TASK_STATUSES,
        remind_on__lte=clock.today(),
        plan__status=PlanStatus.ACTIVE,
    ).select_related("questionnaire")


def deliveries_of(patient: Any) -> QuerySet[EducationDelivery]:
    return (
        EducationDelivery.objects.filter(patient=patient, item__is_published=True)
        .select_related("item", "sent_by")
        .annotate(is_read=Case(When(read_at__isnull=True, then=Value(0)), default=Value(1)))
        .order_by("is_read", "-sent_at", "-pk")
    )


@dataclass
class ScoreSeries:
    questionnaire_id: int
    name: str
    higher_is_better: bool
    points: list[tuple[str, float]] = field(default_factory=list)  # (local date, percent)


def score_trends(
    patient: Any, *, kinds: tuple[str, ...] = (QuestionnaireKind.PRO, QuestionnaireKind.GENERAL)
) -> list[ScoreSeries]:
    """Each scored questionnaire the patient answered, as a time series of score percentages."""
    tz = ZoneInfo(settings.TIME_ZONE)
    series: dict[int, ScoreSeries] = {}
    rows = (
        QuestionnaireResponse.objects.filter(
            patient=patient, questionnaire__kind__in=kinds, score_percent__isnull=False
        )
        .select_related("questionnaire")
        .order_by("submitted_at", "pk")
    )
    for row in rows:
        q = row.questionnaire
        entry = series.setdefault(q.pk, ScoreSeries(q.pk, q.name, q.higher_is_better))
        entry.points.append(
            (row.submitted_at.astimezone(tz).strftime("%Y-%m-%d"), float(row.score_percent or 0))
        )
    return list(series.values())


# --- Education targeting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EducationProfile:
    age: int
    sex: str
    conditions: frozenset[str]
    stages: frozenset[str]


def education_profile(patient: Any) -> EducationProfile:
    """What education is chosen by: age, sex, the conditions (active problems, confirmed diagnoses
    of the last year, active plans) and the care stages of the active plans."""
    since = clock.now() - dt.timedelta(days=365)
    codes = list(
        Problem.objects.filter(patient=patient, status=ProblemStatus.ACTIVE).values_list(
            "icd10_id", flat=True
        )
    )
    codes += list(
        Diagnosis.objects.filter(
            encounter__patient=patient, status=DiagnosisStatus.CONFIRMED, created_at__gte=since
        ).values_list("icd10_id", flat=True)
    )
    conditions = conditions_of_codes(codes)
    stages: set[str] = set()
    for template in CarePlan.objects.filter(patient=patient, status=PlanStatus.ACTIVE).select_related(
        "template"
    ):
        conditions.update(template.template.education_tags or [template.template.category])
        stages.add(template.template.care_stage)
    if conditions and not stages:
        stages.add(CareStage.LONG_TERM)
    return EducationProfile(patient.age, patient.sex, frozenset(conditions), frozenset(stages))


def item_fits(
    item: EducationItem, profile: EducationProfile, *, conditions: set[str] | None = None, stage: str = ""
) -> bool:
    """Whether ``item`` suits the patient. With ``conditions``/``stage`` (a plan), the item must
    be about one of those conditions and, when it names stages, about that stage."""
    wanted = set(conditions) if conditions is not None else set(profile.conditions)
    tagged = set(item.conditions or [])
    if not tagged or not tagged & wanted:
        return False
    stages = set(item.care_stages or [])
    wanted_stages = {stage} if stage else set(profile.stages)
    if stages and wanted_stages and not stages & wanted_stages:
        return False
    if item.sex and item.sex != profile.sex:
        return False
    if item.min_age is not None and profile.age < item.min_age:
        return False
    return not (item.max_age is not None and profile.age > item.max_age)


def matching_items(
    profile: EducationProfile, *, conditions: set[str] | None = None, stage: str = ""
) -> list[EducationItem]:
    items = EducationItem.objects.filter(is_published=True).order_by("key")
    return [i for i in items if item_fits(i, profile, conditions=conditions, stage=stage)]


def library(
    *, query: str = "", condition: str = "", kind: str = "", published_only: bool = True
) -> QuerySet[EducationItem]:
    rows = EducationItem.objects.all().order_by("key")
    if published_only:
        rows = rows.filter(is_published=True)
    if query:
        rows = rows.filter(
            Q(title_zh__icontains=query)
            | Q(title_en__icontains=query)
            | Q(summary_zh__icontains=query)
            | Q(summary_en__icontains=query)
        )
    if kind:
        rows = rows.filter(kind=kind)
    if condition:
        # JSON containment differs between SQLite and PostgreSQL: filter in Python (the library is small).
        keys = [i.pk for i in rows if condition in (i.conditions or [])]
        rows = rows.filter(pk__in=keys)
    return rows


def reading_rates(item_ids: list[int]) -> dict[int, tuple[int, int]]:
    """item id -> (sent, read)."""
    rows = (
        EducationDelivery.objects.filter(item_id__in=item_ids)
        .values("item_id")
        .annotate(sent=Count("id"), read=Count("id", filter=Q(read_at__isnull=False)))
    )
    return {r["item_id"]: (r["sent"], r["read"]) for r in rows}


# --- The satisfaction indicator ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SatisfactionIndicator:
    """Share of satisfied survey answers in a period (and department). Aggregates only."""

    start: dt.date
    end: dt.date
    department_id: int | None
    invited: int
    responses: int
    satisfied: int
    rate: Decimal | None  # satisfied / responses, 0..1; None without answers
    target: Decimal
    response_rate: Decimal | None

    @property
    def met(self) -> bool | None:
        return None if self.rate is None else self.rate >= self.target

    @property
    def rate_percent(self) -> Decimal | None:
        return (
            None if self.rate is None else (self.rate * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        )

    @property
    def target_percent(self) -> Decimal:
        return (self.target * 100).quantize(Decimal("1"))

    @property
    def response_rate_percent(self) -> Decimal | None:
        if self.response_rate is None:
            return None
        return (self.response_rate * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "department_id": self.department_id,
            "invited": self.invited,
            "responses": self.responses,
            "satisfied": self.satisfied,
            "rate": float(self.rate) if self.rate is not None else None,
            "target": float(self.target),
            "met": self.met,
            "response_rate": float(self.response_rate) if self.response_rate is not None else None,
        }


def _day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(settings.TIME_ZONE)
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def _ratio(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def satisfaction_indicator(start: dt.date, end: dt.date, department: Any = None) -> SatisfactionIndicator:
    """The patient satisfaction indicator (target at least 90%) for survey answers submitted from
    ``start`` to ``end`` (local dates, inclusive), for one department or the whole hospital.

    A survey answer is satisfied when its score reaches the questionnaire's "satisfied from"
    share (80% by default: every answer "satisfied" on a five-point scale)."""
    if end < start:
        start, end = end, start
    department_id = getattr(department, "pk", department)
    since, until = _day_bounds(start, end)
    answers = QuestionnaireResponse.objects.filter(
        questionnaire__kind=QuestionnaireKind.SATISFACTION, submitted_at__gte=since, submitted_at__lt=until
    )
    invitations = SurveyInvitation.objects.filter(sent_at__gte=since, sent_at__lt=until)
    if department_id is not None:
        answers = answers.filter(department_id=department_id)
        invitations = invitations.filter(department_id=department_id)
    counts = answers.aggregate(n=Count("id"), satisfied=Count("id", filter=Q(satisfied=True)))
    invited = invitations.count()
    answered_invitations = invitations.filter(status=InvitationStatus.ANSWERED).count()
    return SatisfactionIndicator(
        start=start,
        end=end,
        department_id=department_id,
        invited=invited,
        responses=counts["n"],
        satisfied=counts["satisfied"],
        rate=_ratio(counts["satisfied"], counts["n"]),
        target=satisfaction_target(),
        response_rate=_ratio(answered_invitations, invited),
    )


def satisfaction_by_month(months: int = 12, department: Any = None) -> list[SatisfactionIndicator]:
    """The indicator for each of the last ``months`` calendar months, oldest first."""
    today = clock.today()
    first = today.replace(day=1)
    result = []
    for back in range(months - 1, -1, -1):
        year, month = first.year, first.month - back
        while month <= 0:
            year, month = year - 1, month + 12
        start = dt.date(year, month, 1)
        following = dt.date(year + (month == 12), month % 12 + 1, 1)
        result.append(satisfaction_indicator(start, min(following - dt.timedelta(days=1), today), department))
    return result


def satisfaction_by_department(start: dt.date, end: dt.date) -> list[tuple[Any, SatisfactionIndicator]]:
    from smartcare.organization.models import Department

    since, until = _day_bounds(start, end)
    ids = (
        QuestionnaireResponse.objects.filter(
            questionnaire__kind=QuestionnaireKind.SATISFACTION,
            submitted_at__gte=since,
            submitted_at__lt=until,
        )
        .values_list("department_id", flat=True)
        .distinct()
    )
    departments = Department.objects.filter(pk__in=[i for i in ids if i]).order_by("national_code_id")
    return [(d, satisfaction_indicator(start, end, d)) for d in departments]


def task_counts(department_id: int | None = None) -> dict[str, int]:
    """Open tasks, overdue and missed, for a department or the hospital (aggregates)."""
    rows = CareTask.objects.filter(plan__status=PlanStatus.ACTIVE)
    if department_id is not None:
        rows = rows.filter(department_id=department_id)
    today = clock.today()
    counts: dict[str, int] = defaultdict(int)
    for status, due_on in rows.filter(status__in=OPEN_TASK_STATUSES).values_list("status", "due_on"):
        counts["open"] += 1
        if status == TaskStatus.MISSED:
            counts["missed"] += 1
        elif due_on < today:
            counts["overdue"] += 1
    return dict(counts)
