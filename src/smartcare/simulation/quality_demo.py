"""Demo quality control and what-if simulation.

* Critical lab values: a few potassium reports a year, most told to the ordering doctor within
  minutes, some late and some never (so ``QC-CRITICAL`` has failures to review).
* Failed cases of this and last quarter assigned for review by the operations manager, in every
  review state, so the quality pages show real work.
* The shipped what-if scenario (``docs/whatif/extra-monday-doctor.yaml``) saved, and one finished
  comparison for the busiest clinic department, so the what-if page shows a result.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count

from smartcare.accounts.choices import CLINICAL_ROLES, Role
from smartcare.accounts.models import User
from smartcare.core import clock
from smartcare.emr.choices import EncounterStatus, ObservationFlag
from smartcare.emr.models import Encounter, Observation
from smartcare.interop.models import DiagnosticReport, ReportDelivery
from smartcare.kpi import quality
from smartcare.kpi.models import QualityReview, ReviewState
from smartcare.kpi.periods import period_containing
from smartcare.scheduling.models import Appointment
from smartcare.simulation.choices import RunStatus
from smartcare.simulation.models import SavedScenario, WhatIfRun
from smartcare.simulation.registry import DemoContext, register_generator

CRITICAL_REPORTS = 24
# Minutes from the report's issue to the doctor being told; None: never told.
NOTICE_DELAYS: list[float | None] = [2, 3, 4, 5, 6, 8, 9, 11, 12, 14, 3, 5, 7, 10, 26, 41, 75, None]
REVIEW_STATES = [
    ReviewState.ASSIGNED,
    ReviewState.IN_REVIEW,
    ReviewState.ACTION_NEEDED,
    ReviewState.JUSTIFIED,
]
COMMENTS = {
    ReviewState.IN_REVIEW: "正在核查病历 / checking the record",
    ReviewState.ACTION_NEEDED: "流程缺口：已提交科室质控会讨论 / process gap, to the department's quality meeting",
    ReviewState.JUSTIFIED: "患者在外院复查，资料已补录 / tested elsewhere, result added",
}
ASSIGNED_PER_MEASURE = 4
SCENARIO_FILE = Path(settings.PROJECT_DIR) / "docs" / "whatif" / "extra-monday-doctor.yaml"


def _critical_reports(ctx: DemoContext) -> int:
    now = clock.now()
    encounters = list(
        Encounter.objects.filter(
            status=EncounterStatus.FINISHED,
            attending__isnull=False,
            started_at__gte=now - dt.timedelta(days=300),
            started_at__lte=now - dt.timedelta(days=1),
        )
        .select_related("attending__user")
        .order_by("pk")[:5000]
    )
    if not encounters:
        return 0
    made = 0
    for encounter in ctx.rng.sample(encounters, min(CRITICAL_REPORTS, len(encounters))):
        assert encounter.started_at is not None and encounter.attending is not None
        issued = encounter.started_at + dt.timedelta(hours=ctx.rng.uniform(2, 6))
        value = round(ctx.rng.uniform(6.3, 7.4), 1)
        observation = Observation.objects.create(
            patient_id=encounter.patient_id,
            encounter=encounter,
            code="2823-3",
            name="血钾 Potassium",
            value=value,
            unit="mmol/L",
            reference_low=3.5,
            reference_high=5.3,
            flag=ObservationFlag.CRITICAL_HIGH,
            observed_at=issued - dt.timedelta(minutes=40),
        )
        report = DiagnosticReport.objects.create(
            patient_id=encounter.patient_id,
            encounter=encounter,
            status="final",
            code="2823-3",
            name="电解质 Electrolytes",
            effective_at=issued - dt.timedelta(minutes=40),
            issued_at=issued,
            performer="检验科 Laboratory",
        )
        report.results.add(observation)
        delay = ctx.rng.choice(NOTICE_DELAYS)
        doctor = encounter.attending.user
        ReportDelivery.objects.create(
            report=report,
            kind="lab",
            source="hl7",
            ordering_user=doctor,
            abnormal_count=1,
            critical_count=1,
            critical_notified_at=issued + dt.timedelta(minutes=delay) if delay is not None else None,
            critical_notified_to=doctor if delay is not None else None,
            created_at=issued,
        )
        made += 1
    return made


def _reviewer_for(department_id: int | None, fallback: User) -> User:
    if department_id is None:
        return fallback
    user = (
        User.objects.filter(
            is_active=True, role__in=CLINICAL_ROLES, practitioner__department_id=department_id
        )
        .order_by("-role", "pk")
        .first()
    )
    return user or fallback


def _assign(ctx: DemoContext, manager: User) -> int:
    fallback = User.objects.filter(is_active=True, role=Role.DEPARTMENT_HEAD).order_by("pk").first()
    if fallback is None:
        return 0
    today = clock.today()
    this_quarter = period_containing("quarter", today)
    periods = [this_quarter, this_quarter.previous()]
    made = 0
    for period in periods:
        for measure in quality.MEASURES:
            evaluation = measure.evaluate(period.start, period.end)
            failed = [o for o in evaluation.outcomes if not o.passed]
            for n, outcome in enumerate(failed[:ASSIGNED_PER_MEASURE]):
                state = REVIEW_STATES[n % len(REVIEW_STATES)]
                _review, created = QualityReview.objects.get_or_create(
                    measure=measure.code,
                    case_key=outcome.key,
                    period_start=period.start,
                    period_end=period.end,
                    defaults={
                        "patient_id": outcome.patient_id,
                        "department_id": outcome.department_id,
                        "occurred_at": outcome.occurred_at,
                        "detail": outcome.detail,
                        "reviewer": _reviewer_for(outcome.department_id, fallback),
                        "assigned_by": manager,
                        "state": state,
                        "comment": COMMENTS.get(state, ""),
                    },
                )
                made += created
    return made


def build_quality(ctx: DemoContext) -> None:
    reports = _critical_reports(ctx)
    manager = User.objects.filter(role=Role.OPERATIONS_MANAGER, is_active=True).order_by("pk").first()
    reviews = _assign(ctx, manager) if manager is not None else 0
    ctx.log(f"quality: {reports} critical-value reports, {reviews} failed cases assigned for review")


def build_whatif(ctx: DemoContext) -> None:
    from smartcare.simulation.whatif import compare
    from smartcare.simulation.whatif.scenario import parse

    manager = User.objects.filter(role=Role.OPERATIONS_MANAGER, is_active=True).order_by("pk").first()
    scenario = parse(SCENARIO_FILE.read_bytes())
    busiest: Any = (
        Appointment.objects.filter(date__gte=clock.today() - dt.timedelta(days=91), date__lt=clock.today())
        .values("department_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    )
    if busiest is None:
        ctx.log("whatif: no clinic activity, nothing simulated")
        return
    from smartcare.organization.models import Department

    department = Department.objects.get(pk=busiest["department_id"])
    SavedScenario.objects.get_or_create(
        name=scenario.name,
        defaults={"department": department, "body": scenario.as_dict(), "created_by": manager},
    )
    result = compare.compare_department(department, scenario, runs=5, weeks=2, seed=ctx.seed)
    WhatIfRun.objects.create(
        department=department,
        scenario=scenario.as_dict(),
        runs=5,
        weeks=2,
        seed=ctx.seed,
        status=RunStatus.DONE,
        result=result,
        created_by=manager,
        finished_at=clock.now(),
    )
    wait = result["metrics"]["wait_mean"]
    ctx.log(
        f"whatif: {department.code} mean wait {wait['current']['mean']:.1f} -> {wait['scenario']['mean']:.1f} min"
    )


register_generator("quality", build_quality, order=96)
register_generator("whatif", build_whatif, order=97)
