"""Quality control: guideline-adherence measures, the cases that failed them, and their review.

Each measure counts, per department and period, the cases it applies to (denominator) and those
handled as the guideline asks (numerator):

* ``QC-HBA1C`` — patients seen in the period with diabetes (ICD-10 and look-back of the
  decision-support rule ``gap.diabetes_hba1c``: E10, E11, E13, E14; 183 days) who have an HbA1c
  result in the 183 days before the period's end (or today, if earlier).
* ``QC-HTN-LABS`` — patients seen with hypertension (rule ``gap.hypertension_k_creatinine``: I10-I15)
  with both a potassium and a creatinine result in the 365 days before.
* ``QC-BP-FOLLOWUP`` — patients with hypertension whose blood pressure was 140/90 or more at a
  reading in the period, with another reading within 30 days (readings whose 30 days have not
  passed are not counted yet).
* ``QC-CRITICAL`` — lab reports with critical results (HH/LL or marked critical by the sender)
  issued in the period whose ordering doctor was told within ``SMARTCARE_QC_CRITICAL_MINUTES``
  (default 15) of the report's issue time.
* ``QC-ALERT`` — critical home-monitoring alerts raised in the period and acknowledged before they
  escalate (``SMARTCARE_MONITORING_ESCALATE_MINUTES``, default 15).
* ``QC-ABX`` — antibiotic prophylaxis given within 60 minutes before incision. The EMR records no
  incision time, so this measure always says "no data" and why.

A measure whose data does not exist in the period says "no data" (``no_data`` with the reason)
instead of a made-up rate. ``measures(start, end, department=None)`` is the aggregate selector the
cockpit shows (no patient in it); ``failed_cases`` lists the failures for a user, identifying only
patients the user may see (``Patient.objects.visible_to``) and auditing each one shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from smartcare.accounts.choices import Role
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.config import env_int
from smartcare.core.permissions import require_capability
from smartcare.organization.models import Department
from smartcare.patients.models import Patient

CRITICAL_FLAGS = ("HH", "LL")
STATUS_ON, STATUS_RISK, STATUS_OFF, STATUS_NONE = "on_target", "at_risk", "off_target", "no_data"
AT_RISK_MARGIN = 0.05
MAX_CASES = 500


@dataclass
class Outcome:
    """One case a measure applies to."""

    key: str  # stable within the measure: "patient-12", "report-7", "alert-3"
    patient_id: int
    department_id: int | None
    passed: bool
    occurred_at: dt.datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    outcomes: list[Outcome]
    no_data_reason: str | Promise = ""


@dataclass(frozen=True)
class Measure:
    code: str
    title: Promise
    definition: Promise
    source: str
    target: float
    evaluate: Callable[[dt.date, dt.date], Evaluation]


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = _tz()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


# --- Care gaps (decision-support rules) -----------------------------------------------------------


def _rule_parameters(key: str) -> dict[str, Any] | None:
    from smartcare.cdss.models import Rule

    rule = Rule.objects.filter(key=key, is_active=True).order_by("-version").first()
    return dict(rule.parameters) if rule is not None else None


def _care_gap(rule_key: str) -> Callable[[dt.date, dt.date], Evaluation]:
    def evaluate(start: dt.date, end: dt.date) -> Evaluation:
        from smartcare.emr.choices import DiagnosisStatus, EncounterStatus, ProblemStatus
        from smartcare.emr.models import Diagnosis, Encounter, Observation, Problem

        params = _rule_parameters(rule_key)
        if not params or not params.get("icd10") or not params.get("exams"):
            return Evaluation(
                [], _("The decision-support rule %(rule)s is not installed.") % {"rule": rule_key}
            )
        begin, stop = _bounds(start, end)
        as_of = min(stop, clock.now())
        days = int(params.get("days", 365))
        prefixes = Q()
        for code in params["icd10"]:
            prefixes |= Q(icd10__code__startswith=code)
        seen: dict[int, tuple[int | None, dt.datetime | None]] = {}
        for patient_id, department_id, started in (
            Encounter.objects.filter(started_at__gte=begin, started_at__lt=stop)
            .exclude(status=EncounterStatus.CANCELLED)
            .order_by("started_at", "pk")
            .values_list("patient_id", "department_id", "started_at")
        ):
            seen[patient_id] = (department_id, started)  # the latest encounter's department
        if not seen:
            return Evaluation([], _("No patient was seen in the period."))
        with_condition = set(
            Diagnosis.objects.filter(
                prefixes, encounter__patient_id__in=list(seen), encounter__started_at__lt=as_of
            )
            .exclude(status=DiagnosisStatus.RULED_OUT)
            .values_list("encounter__patient_id", flat=True)
        ) | set(
            Problem.objects.filter(
                prefixes, patient_id__in=list(seen), status=ProblemStatus.ACTIVE
            ).values_list("patient_id", flat=True)
        )
        if not with_condition:
            return Evaluation([], _("No patient seen in the period has the condition."))
        since = as_of - dt.timedelta(days=days)
        groups = [list(exam["codes"]) for exam in params["exams"]]
        all_codes = [c for codes in groups for c in codes]
        latest: dict[tuple[int, int], dt.datetime] = {}
        for patient_id, code, observed in Observation.objects.filter(
            patient_id__in=list(with_condition), code__in=all_codes, observed_at__lt=as_of
        ).values_list("patient_id", "code", "observed_at"):
            for index, codes in enumerate(groups):
                if code in codes and observed > latest.get(
                    (patient_id, index), dt.datetime.min.replace(tzinfo=_tz())
                ):
                    latest[(patient_id, index)] = observed
        outcomes = []
        names = [exam.get("name_en", "") for exam in params["exams"]]
        for pid in sorted(p for p in with_condition if p is not None):
            dep, started = seen[pid]
            missing = [names[i] for i in range(len(groups)) if (latest.get((pid, i)) or since) <= since]
            last = [latest[(pid, i)].date().isoformat() for i in range(len(groups)) if (pid, i) in latest]
            outcomes.append(
                Outcome(
                    key=f"patient-{pid}",
                    patient_id=pid,
                    department_id=dep,
                    passed=not missing,
                    occurred_at=started,
                    detail={"missing": missing, "last_results": last, "look_back_days": days},
                )
            )
        return Evaluation(outcomes)

    return evaluate


# --- Blood pressure follow-up -------------------------------------------------------------------

HYPERTENSION = ("I10", "I11", "I12", "I13", "I15")
BP_LIMITS = (140.0, 90.0)
BP_FOLLOW_UP_DAYS = 30


def _bp_follow_up(start: dt.date, end: dt.date) -> Evaluation:
    """Hypertensive patients whose blood pressure was uncontrolled (140/90 or more) at a reading in
    the period: is there another reading within 30 days? A reading whose 30 days have not passed
    yet is not counted."""
    from smartcare.emr.choices import DiagnosisStatus, ProblemStatus, VitalKind
    from smartcare.emr.models import Diagnosis, Problem, VitalSign

    begin, stop = _bounds(start, end)
    now = clock.now()
    window = dt.timedelta(days=BP_FOLLOW_UP_DAYS)
    high = Q(value__gte=BP_LIMITS[0]) | Q(value2__gte=BP_LIMITS[1])
    first: dict[int, tuple[dt.datetime, int | None, float, float | None]] = {}
    for patient_id, measured, department_id, systolic, diastolic in (
        VitalSign.objects.filter(
            high, kind=VitalKind.BLOOD_PRESSURE, measured_at__gte=begin, measured_at__lt=stop
        )
        .filter(measured_at__lte=now - window)
        .order_by("measured_at", "pk")
        .values_list("patient_id", "measured_at", "encounter__department_id", "value", "value2")
    ):
        first.setdefault(patient_id, (measured, department_id, systolic, diastolic))
    if not first:
        return Evaluation([], _("No uncontrolled blood pressure was recorded in the period."))
    prefixes = Q()
    for code in HYPERTENSION:
        prefixes |= Q(icd10__code__startswith=code)
    hypertensive = set(
        Diagnosis.objects.filter(
            prefixes, encounter__patient_id__in=list(first), encounter__started_at__lt=stop
        )
        .exclude(status=DiagnosisStatus.RULED_OUT)
        .values_list("encounter__patient_id", flat=True)
    ) | set(
        Problem.objects.filter(prefixes, patient_id__in=list(first), status=ProblemStatus.ACTIVE).values_list(
            "patient_id", flat=True
        )
    )
    if not hypertensive:
        return Evaluation(
            [], _("No patient with hypertension had an uncontrolled blood pressure in the period.")
        )
    followed: dict[int, dt.datetime] = {}
    for patient_id, measured in VitalSign.objects.filter(
        kind=VitalKind.BLOOD_PRESSURE, patient_id__in=list(hypertensive), measured_at__gte=begin
    ).values_list("patient_id", "measured_at"):
        reading = first.get(patient_id)
        if reading and reading[0] < measured <= reading[0] + window:
            followed[patient_id] = min(measured, followed.get(patient_id, measured))
    outcomes = []
    for pid in sorted(p for p in hypertensive if p is not None):
        reading_at, reading_department, systolic, diastolic = first[pid]
        again = followed.get(pid)
        outcomes.append(
            Outcome(
                key=f"patient-{pid}",
                patient_id=pid,
                department_id=reading_department,
                passed=again is not None,
                occurred_at=reading_at,
                detail={
                    "blood_pressure": f"{systolic:g}/{diastolic:g}"
                    if diastolic is not None
                    else f"{systolic:g}",
                    "next_reading": again.date().isoformat() if again else None,
                    "within_days": BP_FOLLOW_UP_DAYS,
                },
            )
        )
    return Evaluation(outcomes)


# --- Critical values ----------------------------------------------------------------------------


def critical_minutes() -> int:
    return env_int("SMARTCARE_QC_CRITICAL_MINUTES", 15)


def _critical_values(start: dt.date, end: dt.date) -> Evaluation:
    from smartcare.interop.models import ReportDelivery

    begin, stop = _bounds(start, end)
    limit = dt.timedelta(minutes=critical_minutes())
    rows = (
        ReportDelivery.objects.filter(critical_count__gt=0)
        .annotate(result_at=Coalesce("report__issued_at", "created_at"))
        .filter(result_at__gte=begin, result_at__lt=stop)
        .values_list(
            "pk",
            "report__patient_id",
            "report__encounter__department_id",
            "order__encounter__department_id",
            "result_at",
            "critical_notified_at",
            "report__name",
        )
    )
    outcomes = []
    for pk, patient_id, department_id, order_department_id, result_at, notified_at, name in rows:
        minutes = round((notified_at - result_at).total_seconds() / 60, 1) if notified_at else None
        outcomes.append(
            Outcome(
                key=f"report-{pk}",
                patient_id=patient_id,
                department_id=department_id or order_department_id,
                passed=notified_at is not None and notified_at - result_at <= limit,
                occurred_at=result_at,
                detail={"report": name, "minutes_to_notice": minutes, "limit_minutes": critical_minutes()},
            )
        )
    if not outcomes:
        return Evaluation([], _("No report with a critical value was issued in the period."))
    return Evaluation(outcomes)


def _monitoring_alerts(start: dt.date, end: dt.date) -> Evaluation:
    from smartcare.monitoring.choices import AlertSeverity
    from smartcare.monitoring.models import Alert

    begin, stop = _bounds(start, end)
    allowed = settings.SMARTCARE_MONITORING_ESCALATE_MINUTES
    now = clock.now()
    outcomes = []
    for pk, patient_id, department_id, since, acknowledged, kind, value in (
        Alert.objects.filter(severity=AlertSeverity.CRITICAL)
        .annotate(since=Coalesce("critical_since", "raised_at"))
        .filter(since__gte=begin, since__lt=stop)
        .values_list("pk", "patient_id", "department_id", "since", "acknowledged_at", "kind", "value_text")
    ):
        if acknowledged is None and now - since <= dt.timedelta(minutes=allowed):
            continue  # still inside the allowed time: not decided yet
        minutes = round((acknowledged - since).total_seconds() / 60, 1) if acknowledged else None
        outcomes.append(
            Outcome(
                key=f"alert-{pk}",
                patient_id=patient_id,
                department_id=department_id,
                passed=minutes is not None and minutes <= allowed,
                occurred_at=since,
                detail={
                    "measurement": kind,
                    "value": value,
                    "minutes_to_acknowledge": minutes,
                    "limit_minutes": allowed,
                },
            )
        )
    if not outcomes:
        return Evaluation([], _("No critical monitoring alert was raised in the period."))
    return Evaluation(outcomes)


def _antibiotic_prophylaxis(start: dt.date, end: dt.date) -> Evaluation:
    return Evaluation(
        [],
        _(
            "The EMR records no incision time for operations, so the timing of antibiotic prophylaxis "
            "cannot be measured."
        ),
    )


MEASURES: tuple[Measure, ...] = (
    Measure(
        "QC-HBA1C",
        _("Diabetic patients with HbA1c in 6 months"),
        _(
            "Patients seen in the period with diabetes (E10, E11, E13, E14) who have an HbA1c result in the 183 days before the period's end."
        ),
        "ADA Standards of Care 2024; 中国2型糖尿病防治指南 2020",
        0.9,
        _care_gap("gap.diabetes_hba1c"),
    ),
    Measure(
        "QC-HTN-LABS",
        _("Hypertension with potassium and creatinine in 12 months"),
        _(
            "Patients seen in the period with hypertension (I10-I15) who have both a potassium and a creatinine result in the 365 days before the period's end."
        ),
        "中国高血压防治指南 2018; ESH 2023",
        0.8,
        _care_gap("gap.hypertension_k_creatinine"),
    ),
    Measure(
        "QC-BP-FOLLOWUP",
        _("Uncontrolled blood pressure followed up within 30 days"),
        _(
            "Patients with hypertension whose blood pressure was 140/90 or more at a reading in the period "
            "and who had another reading within 30 days."
        ),
        "中国高血压防治指南 2018 (未达标者 2-4 周随访)",
        0.8,
        _bp_follow_up,
    ),
    Measure(
        "QC-CRITICAL",
        _("Critical values notified in time"),
        _(
            "Lab reports with a critical value issued in the period whose ordering doctor was told within the required minutes of the report's issue."
        ),
        "国家卫健委 患者安全目标 (危急值报告制度)",
        0.95,
        _critical_values,
    ),
    Measure(
        "QC-ALERT",
        _("Critical monitoring alerts acknowledged before escalation"),
        _(
            "Critical home-monitoring alerts raised in the period that a doctor acknowledged before they escalated."
        ),
        "smartcare monitoring escalation policy",
        0.95,
        _monitoring_alerts,
    ),
    Measure(
        "QC-ABX",
        _("Antibiotic prophylaxis within 60 minutes before incision"),
        _("Operations with antibiotic prophylaxis given within 60 minutes before incision."),
        "WHO Surgical Safety Checklist; 抗菌药物临床应用指导原则 2015",
        0.95,
        _antibiotic_prophylaxis,
    ),
)
BY_CODE = {m.code: m for m in MEASURES}


def measure_by_code(code: str) -> Measure:
    from smartcare.kpi.quality_errors import UnknownMeasure

    found = BY_CODE.get(str(code).upper())
    if found is None:
        raise UnknownMeasure(code=str(code)[:40])
    return found


def _department(department: Department | str | int | None) -> Department | None:
    if department is None or department == "":
        return None
    if isinstance(department, Department):
        return department
    found = Department.objects.filter(Q(national_code_id=str(department))).first()
    if found is None:
        from smartcare.core.errors import NotFound

        raise NotFound()
    return found


def _status(rate: float | None, target: float) -> str:
    if rate is None:
        return STATUS_NONE
    if rate >= target:
        return STATUS_ON
    return STATUS_RISK if rate >= target - AT_RISK_MARGIN else STATUS_OFF


def _check_dates(start: dt.date, end: dt.date) -> None:
    from smartcare.kpi.quality_errors import InvalidQualityPeriod

    if start > end:
        raise InvalidQualityPeriod(problem="the start is after the end")
    if (end - start).days > 3 * 366:
        raise InvalidQualityPeriod(problem="at most three years")


def _evaluate(measure: Measure, start: dt.date, end: dt.date, department: Department | None) -> Evaluation:
    evaluation = measure.evaluate(start, end)
    if department is not None:
        kept = [o for o in evaluation.outcomes if o.department_id == department.pk]
        reason = evaluation.no_data_reason or (
            "" if kept else _("No case of this measure in the department in the period.")
        )
        return Evaluation(kept, reason)
    return evaluation


def summarize(measure: Measure, evaluation: Evaluation) -> dict[str, Any]:
    outcomes = evaluation.outcomes
    names = dict(Department.objects.values_list("pk", "national_code_id"))
    by_department: dict[int | None, list[int]] = {}
    for o in outcomes:
        counts = by_department.setdefault(o.department_id, [0, 0])
        counts[0] += o.passed
        counts[1] += 1
    denominator = len(outcomes)
    numerator = sum(o.passed for o in outcomes)
    rate = numerator / denominator if denominator else None
    return {
        "code": measure.code,
        "title": str(measure.title),
        "definition": str(measure.definition),
        "source": measure.source,
        "target": measure.target,
        "numerator": numerator,
        "denominator": denominator,
        "rate": round(rate, 4) if rate is not None else None,
        "status": _status(rate, measure.target),
        "no_data": not outcomes,
        "no_data_reason": str(evaluation.no_data_reason) if not outcomes else "",
        "failed": denominator - numerator,
        "departments": [
            {
                "department": names.get(dep, "") if dep else "",
                "numerator": n,
                "denominator": d,
                "rate": round(n / d, 4),
            }
            for dep, (n, d) in sorted(by_department.items(), key=lambda item: names.get(item[0] or 0, ""))
        ],
    }


def measures(
    start: dt.date, end: dt.date, department: Department | str | None = None
) -> list[dict[str, Any]]:
    """Every quality measure for the period (and department): numerator, denominator, rate, target,
    status, "no data" with its reason, and the split by department. No patient is named here."""
    _check_dates(start, end)
    chosen = _department(department)
    return [summarize(m, _evaluate(m, start, end, chosen)) for m in MEASURES]


# --- Failed cases for a user ------------------------------------------------------------------------


def department_scope(user: Any) -> Department | None:
    """Department heads see their own department's cases; operations managers every department."""
    if getattr(user, "role", "") == Role.DEPARTMENT_HEAD:
        practitioner = getattr(user, "practitioner", None)
        return practitioner.department if practitioner is not None else Department(pk=0)
    return None


def _scoped_department(user: Any, department: Department | str | None) -> Department | None:
    scope = department_scope(user)
    chosen = _department(department)
    if scope is not None:
        if chosen is not None and chosen.pk != scope.pk:
            from smartcare.core.errors import NotFound

            raise NotFound()
        return scope
    return chosen


def mask(text: str) -> str:
    if len(text) <= 2:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 2) + text[-1]


def _rows(
    user: Any, measure: Measure, outcomes: list[Outcome], start: dt.date, end: dt.date, *, one: bool = False
) -> list[dict[str, Any]]:
    from smartcare.kpi.models import QualityReview
    from smartcare.patients.access import access_patient
    from smartcare.patients.choices import AccessAction

    ids = {o.patient_id for o in outcomes}
    patients = {
        p.pk: p for p in Patient.objects.filter(pk__in=ids).only("pk", "name", "medical_record_number")
    }
    visible = set(Patient.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))
    reviews = {
        r.case_key: r
        for r in QualityReview.objects.filter(
            measure=measure.code, period_start=start, period_end=end, case_key__in=[o.key for o in outcomes]
        ).select_related("reviewer")
    }
    departments = dict(Department.objects.values_list("pk", "national_code_id"))
    rows = []
    for o in outcomes:
        patient = patients.get(o.patient_id)
        shown = o.patient_id in visible and patient is not None
        if shown and one:
            # Opening one case opens the patient: the access helper checks and audits it.
            access_patient(user, patient, AccessAction.VIEW, reason=f"quality review {measure.code} {o.key}")
        elif shown:
            record(
                user,
                AuditAction.READ,
                patient=o.patient_id,
                detail={"event": "quality_case_listed", "measure": measure.code, "case": o.key},
            )
        number = patient.medical_record_number if patient else ""
        rows.append(
            {
                "key": o.key,
                "patient_id": o.patient_id if shown else None,
                "patient_name": patient.name if shown and patient else "",
                "medical_record_number": number if shown else mask(number),
                "identified": shown,
                "department": departments.get(o.department_id or 0, ""),
                "occurred_at": o.occurred_at,
                "detail": o.detail,
                "review": reviews.get(o.key),
            }
        )
    return rows


def failed_cases(
    user: Any, code: str, start: dt.date, end: dt.date, department: Department | str | None = None
) -> dict[str, Any]:
    """The cases that failed ``code``, with their reviews. Patients the user may see are named (and
    the listing audited per patient); the others appear by case number and a masked record number."""
    require_capability(user, "kpi.quality")
    _check_dates(start, end)
    measure = measure_by_code(code)
    chosen = _scoped_department(user, department)
    evaluation = _evaluate(measure, start, end, chosen)
    summary = summarize(measure, evaluation)
    failures = [o for o in evaluation.outcomes if not o.passed][:MAX_CASES]
    return {"measure": summary, "cases": _rows(user, measure, failures, start, end), "department": chosen}


def failed_case(user: Any, code: str, key: str, start: dt.date, end: dt.date) -> Outcome:
    """One failed case in the user's scope (QC-003 when the case did not fail in the period)."""
    from smartcare.kpi.quality_errors import CaseNotFailed

    require_capability(user, "kpi.quality")
    _check_dates(start, end)
    measure = measure_by_code(code)
    chosen = _scoped_department(user, None)
    for outcome in _evaluate(measure, start, end, chosen).outcomes:
        if outcome.key == key and not outcome.passed:
            return outcome
    raise CaseNotFailed()


def case_detail(user: Any, code: str, key: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    """One failed case as shown on its page (the patient opened through the access helper)."""
    outcome = failed_case(user, code, key, start, end)
    measure = measure_by_code(code)
    return {"measure": measure, "case": _rows(user, measure, [outcome], start, end, one=True)[0]}
