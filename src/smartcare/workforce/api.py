"""Workforce API: workload history, forecasts, rosters (create, solve, edit, check, publish),
feedback suggestions and the staff's own shifts, requests, leave and ratings. Same services,
permissions and audit as the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.core.permissions import require_capability
from smartcare.workforce import selectors, services
from smartcare.workforce.choices import METRICS
from smartcare.workforce.models import ForecastRun, Roster, Suggestion

router = Router(tags=["workforce"])


# --- Schemas -------------------------------------------------------------------------------------


class DepartmentOut(Schema):
    id: int
    code: str
    name: str


class WorkloadOut(Schema):
    date: dt.date
    half_day: str
    outpatient_visits: int
    admissions: int
    surgeries: int
    exams: int
    inpatients: int
    source: str


class ImportIn(Schema):
    filename: str = Field(default="", max_length=200)
    content: str = Field(description="CSV: department,date,half_day and workload columns")


class ImportOut(Schema):
    rows: int
    departments: list[str]
    first: dt.date | None
    last: dt.date | None


class PeriodIn(Schema):
    date_from: dt.date
    date_to: dt.date


class CountOut(Schema):
    rows: int


class ForecastIn(Schema):
    department: str = Field(description="national department code")
    metric: str = Field(description=" / ".join(METRICS))
    horizon_days: int = 28
    folds: int = 4


class ForecastOut(Schema):
    id: int
    department: str
    metric: str
    created_at: dt.datetime
    history_from: dt.date
    history_to: dt.date
    horizon_days: int
    mape_model: float | None
    mape_baseline: float | None
    method: str
    points: list[dict[str, Any]]


class RosterIn(Schema):
    department: str = Field(description="national department code")
    start_date: dt.date
    end_date: dt.date
    time_limit: int = Field(default=30, description="solver time limit in seconds (1-600)")


class SolveIn(Schema):
    time_limit: int | None = None


class RosterSummaryOut(Schema):
    id: int
    department: str
    start_date: dt.date
    end_date: dt.date
    status: str
    objective: int | None
    solver_status: str
    version: int


class AssignmentOut(Schema):
    id: int
    practitioner_id: int
    person: str
    date: dt.date
    shift: str
    source: str


class RequirementOut(Schema):
    date: dt.date
    shift: str
    group: str
    skill: str | None
    required: int
    demand: float
    band_low: int | None
    band_high: int | None


class RosterOut(RosterSummaryOut):
    best_bound: float | None
    solve_seconds: float | None
    report: dict[str, Any]
    assignments: list[AssignmentOut]
    requirements: list[RequirementOut]


class EditIn(Schema):
    practitioner_id: int
    date: dt.date
    shift_type_id: int | None = Field(default=None, description="empty: a day off")
    reason: str = Field(default="", max_length=300)


class EditOut(Schema):
    version: int
    objective: int
    violations: list[dict[str, Any]]


class CheckOut(Schema):
    feasible: bool
    objective: int
    by_rule: dict[str, int]
    violations: list[dict[str, Any]]


class SuggestionOut(Schema):
    id: int
    department: str
    week_start: dt.date
    kind: str
    setting: str
    shift: str | None
    current_value: float
    proposed_value: float
    reason: dict[str, Any]
    status: str


class DecisionIn(Schema):
    accept: bool


class LeaveDecisionIn(Schema):
    approve: bool


class LeaveOut(Schema):
    id: int
    start_date: dt.date
    end_date: dt.date
    kind: str
    status: str


class SatisfactionOut(Schema):
    first: dt.date
    last: dt.date
    ratings: int
    satisfied: int
    rate: float | None
    target: float


class ShiftOut(Schema):
    id: int
    date: dt.date
    shift: str
    starts: str
    ends: str
    department: str
    rating: int | None
    overload: bool | None


class FeedbackIn(Schema):
    rating: int = Field(ge=1, le=5)
    overload: bool = False
    comment: str = Field(default="", max_length=500)


class FeedbackOut(Schema):
    assignment_id: int
    rating: int
    overload: bool


class RequestIn(Schema):
    date: dt.date
    kind: str = Field(description="on or off")
    shift_type_id: int | None = None
    weight: int = Field(default=1, ge=1, le=3)
    note: str = Field(default="", max_length=200)


class RequestOut(Schema):
    id: int
    date: dt.date
    kind: str
    shift_type_id: int | None
    weight: int


class LeaveIn(Schema):
    start_date: dt.date
    end_date: dt.date
    kind: str = "annual"


# --- Helpers -------------------------------------------------------------------------------------


def _roster_summary(r: Roster) -> dict[str, Any]:
    return {
        "id": r.pk,
        "department": r.department.code,
        "start_date": r.start_date,
        "end_date": r.end_date,
        "status": r.status,
        "objective": r.objective,
        "solver_status": r.solver_status,
        "version": r.version,
    }


def _run(run: ForecastRun, with_points: bool = True) -> dict[str, Any]:
    points = (
        [
            {
                "date": p.date,
                "half_day": p.half_day,
                "value": p.value,
                "model": p.model_value,
                "baseline": p.baseline_value,
            }
            for p in run.points.all()
        ]
        if with_points
        else []
    )
    return {
        "id": run.pk,
        "department": run.department.code,
        "metric": run.metric,
        "created_at": run.created_at,
        "history_from": run.history_from,
        "history_to": run.history_to,
        "horizon_days": run.horizon_days,
        "mape_model": run.mape_model,
        "mape_baseline": run.mape_baseline,
        "method": run.method,
        "points": points,
    }


def _suggestion(s: Suggestion) -> dict[str, Any]:
    return {
        "id": s.pk,
        "department": s.summary.department.code,
        "week_start": s.summary.week_start,
        "kind": s.kind,
        "setting": s.field_name,
        "shift": s.ratio.shift_type.code if s.ratio_id and s.ratio else None,
        "current_value": float(s.current_value),
        "proposed_value": float(s.proposed_value),
        "reason": s.reason,
        "status": s.status,
    }


# --- Planner operations ---------------------------------------------------------------------------


@router.get("/departments", response=list[DepartmentOut], summary="Departments I plan")
def departments(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "workforce.plan")
    return [
        {"id": d.pk, "code": d.code, "name": d.name} for d in selectors.plannable_departments(request.user)
    ]


def _department(request: HttpRequest, department: str | None) -> Any:
    """The named department, or the first one the user plans."""
    if department:
        return selectors.department_for_planner(request.user, department)
    require_capability(request.user, "workforce.plan")
    found = selectors.plannable_departments(request.user).first()
    if found is None:
        raise NotFound()
    return found


@router.get("/workload", response=list[WorkloadOut], summary="Workload history of a department")
def workload(
    request: HttpRequest,
    department: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Any:
    found = _department(request, department)
    last = date_to or clock.today()
    first = date_from or last - dt.timedelta(days=27)
    if (last - first).days > 800:
        first = last - dt.timedelta(days=800)
    return list(selectors.workload(found, first, last))


@router.post("/workload/import", response={201: ImportOut}, summary="Import workload history (CSV)")
def import_workload(request: HttpRequest, payload: ImportIn) -> tuple[int, Any]:
    result = services.import_workload_csv(request.user, payload.content, payload.filename)
    return 201, result


@router.post("/workload/collect", response=CountOut, summary="Count workload from smartcare's records")
def collect_workload(request: HttpRequest, payload: PeriodIn) -> dict[str, int]:
    return {"rows": services.collect_workload(request.user, payload.date_from, payload.date_to)}


@router.get("/forecasts", response=list[ForecastOut], summary="Newest forecast per kind of workload")
def forecasts(request: HttpRequest, department: str | None = None) -> list[dict[str, Any]]:
    found = _department(request, department)
    return [_run(run, with_points=False) for run in selectors.latest_runs(found).values()]


@router.post("/forecasts", response={201: ForecastOut}, summary="Train and backtest a forecast")
def train(request: HttpRequest, payload: ForecastIn) -> tuple[int, dict[str, Any]]:
    found = selectors.department_for_planner(request.user, payload.department)
    run = services.train_forecast(
        request.user, found, payload.metric, horizon_days=payload.horizon_days, folds=payload.folds
    )
    return 201, _run(run)


@router.get("/rosters", response=list[RosterSummaryOut], summary="Rosters of the departments I plan")
def rosters(request: HttpRequest, department: str | None = None) -> list[dict[str, Any]]:
    require_capability(request.user, "workforce.plan")
    found = selectors.department_for_planner(request.user, department) if department else None
    return [_roster_summary(r) for r in selectors.rosters_of(request.user, found)[:100]]


@router.post(
    "/rosters", response={202: RosterSummaryOut}, summary="Create a roster and solve it in the background"
)
def create_roster(request: HttpRequest, payload: RosterIn) -> tuple[int, dict[str, Any]]:
    roster = services.create_roster(
        request.user, payload.department, payload.start_date, payload.end_date, time_limit=payload.time_limit
    )
    roster.refresh_from_db()
    return 202, _roster_summary(roster)


@router.get("/rosters/{roster_id}", response=RosterOut, summary="A roster with its shifts and report")
def roster(request: HttpRequest, roster_id: int) -> dict[str, Any]:
    found = selectors.roster_for_planner(request.user, roster_id)
    assignments = found.assignments.select_related("shift_type", "practitioner__user")
    requirements = found.requirements.select_related("shift_type", "skill")
    return {
        **_roster_summary(found),
        "best_bound": found.best_bound,
        "solve_seconds": found.solve_seconds,
        "report": found.report,
        "assignments": [
            {
                "id": a.pk,
                "practitioner_id": a.practitioner_id,
                "person": str(a.practitioner.user),
                "date": a.date,
                "shift": a.shift_type.code,
                "source": a.source,
            }
            for a in assignments
        ],
        "requirements": [
            {
                "date": r.date,
                "shift": r.shift_type.code,
                "group": r.group,
                "skill": r.skill.code if r.skill else None,
                "required": r.required,
                "demand": r.demand,
                "band_low": r.band_low,
                "band_high": r.band_high,
            }
            for r in requirements
        ],
    }


@router.post("/rosters/{roster_id}/solve", response={202: RosterSummaryOut}, summary="Solve again")
def solve(request: HttpRequest, roster_id: int, payload: SolveIn) -> tuple[int, dict[str, Any]]:
    found = services.request_solve(request.user, roster_id, payload.time_limit)
    found.refresh_from_db()
    return 202, _roster_summary(found)


@router.post(
    "/rosters/{roster_id}/assignments", response=EditOut, summary="Change one cell; the roster is re-checked"
)
def edit(request: HttpRequest, roster_id: int, payload: EditIn) -> dict[str, Any]:
    result = services.edit_assignment(
        request.user, roster_id, payload.practitioner_id, payload.date, payload.shift_type_id, payload.reason
    )
    return {"version": result.roster.version, "objective": result.objective, "violations": result.violations}


@router.get(
    "/rosters/{roster_id}/check", response=CheckOut, summary="Hard rules broken and soft-rule penalties"
)
def check(request: HttpRequest, roster_id: int) -> dict[str, Any]:
    found = selectors.roster_for_planner(request.user, roster_id)
    evaluation = services.evaluate_roster(found)
    return {
        "feasible": evaluation.feasible,
        "objective": evaluation.objective,
        "by_rule": evaluation.by_rule(),
        "violations": [v.as_dict() for v in evaluation.violations],
    }


@router.post(
    "/rosters/{roster_id}/publish", response=RosterSummaryOut, summary="Publish and notify the staff"
)
def publish(request: HttpRequest, roster_id: int) -> dict[str, Any]:
    return _roster_summary(services.publish_roster(request.user, roster_id))


@router.get("/suggestions", response=list[SuggestionOut], summary="Suggestions from staff feedback")
def suggestions(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "workforce.plan")
    return [_suggestion(s) for s in selectors.pending_suggestions(request.user)[:200]]


@router.post("/suggestions/{suggestion_id}/decide", response=SuggestionOut, summary="Accept or reject")
def decide(request: HttpRequest, suggestion_id: int, payload: DecisionIn) -> dict[str, Any]:
    return _suggestion(services.decide_suggestion(request.user, suggestion_id, payload.accept))


@router.post("/leave/{leave_id}/decide", response=LeaveOut, summary="Approve or reject leave")
def decide_leave(request: HttpRequest, leave_id: int, payload: LeaveDecisionIn) -> Any:
    return services.decide_leave(request.user, leave_id, payload.approve)


@router.get(
    "/satisfaction", response=SatisfactionOut, summary="Staff satisfaction rate (shift ratings of 4-5)"
)
def satisfaction(
    request: HttpRequest,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    require_capability(request.user, "workforce.plan")
    found = selectors.department_for_planner(request.user, department) if department else None
    last = date_to or clock.today()
    first = date_from or last - dt.timedelta(days=27)
    if found is None and request.user.role != "operations_manager":  # type: ignore[union-attr]
        found = selectors.plannable_departments(request.user).first()
        if found is None:
            raise NotFound()
    return selectors.staff_satisfaction_rate(first, last, found)


# --- The staff's own ------------------------------------------------------------------------------


@router.get("/my/shifts", response=list[ShiftOut], summary="My published shifts")
def my_shifts(
    request: HttpRequest, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> list[dict[str, Any]]:
    first = date_from or clock.today() - dt.timedelta(days=14)
    last = date_to or first + dt.timedelta(days=42)
    rows = []
    for a in selectors.my_assignments(request.user, first, last):
        feedback = getattr(a, "feedback", None)
        rows.append(
            {
                "id": a.pk,
                "date": a.date,
                "shift": a.shift_type.code,
                "starts": a.shift_type.start_time.strftime("%H:%M"),
                "ends": a.shift_type.end_time.strftime("%H:%M"),
                "department": a.roster.department.code,
                "rating": feedback.rating if feedback else None,
                "overload": feedback.overload if feedback else None,
            }
        )
    return rows


@router.post("/my/shifts/{assignment_id}/feedback", response={201: FeedbackOut}, summary="Rate my shift")
def rate(request: HttpRequest, assignment_id: int, payload: FeedbackIn) -> tuple[int, dict[str, Any]]:
    feedback = services.rate_shift(
        request.user, assignment_id, payload.rating, payload.overload, payload.comment
    )
    return 201, {"assignment_id": assignment_id, "rating": feedback.rating, "overload": feedback.overload}


@router.post("/my/requests", response={201: RequestOut}, summary="Ask to work or to be off on a day")
def add_request(request: HttpRequest, payload: RequestIn) -> tuple[int, Any]:
    wish = services.add_shift_request(
        request.user, payload.date, payload.kind, payload.shift_type_id, payload.weight, payload.note
    )
    return 201, wish


@router.post("/my/leave", response={201: LeaveOut}, summary="Request leave")
def add_leave(request: HttpRequest, payload: LeaveIn) -> tuple[int, Any]:
    return 201, services.request_leave(request.user, payload.start_date, payload.end_date, payload.kind)
