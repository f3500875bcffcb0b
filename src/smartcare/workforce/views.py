"""Workforce pages: the planner's overview, roster calendars (by person and by day) with hand
edits that are re-checked at once, forecast against staffed capacity, load rates, workload import,
feedback suggestions, and each person's own shifts on the phone."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput
from smartcare.core.permissions import require_capability
from smartcare.organization.models import Department
from smartcare.workforce import selectors, services
from smartcare.workforce.choices import (
    LeaveKind,
    LeaveStatus,
    Metric,
    RequestKind,
    RosterStatus,
    StaffGroup,
    SuggestionStatus,
)
from smartcare.workforce.describe import Describer, rule_name
from smartcare.workforce.models import (
    Assignment,
    Leave,
    Roster,
    RosterEdit,
    RosterRequirement,
    ShiftRequest,
    ShiftType,
    WeeklySummary,
)


def _date(value: str | None, default: dt.date | None = None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        return default


def _describer(roster: Roster) -> Describer:
    names = {
        str(m.practitioner_id): str(m.practitioner.user)
        for m in roster.members.select_related("practitioner__user")
    }
    return Describer(roster.start_date, names)


def _department_from(request: HttpRequest) -> Department | None:
    user: Any = request.user
    code = request.GET.get("department") or request.POST.get("department")
    if code:
        return selectors.department_for_planner(user, code)
    return selectors.plannable_departments(user).first()


# --- Planner -------------------------------------------------------------------------------------


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "workforce.plan")
    today = clock.today()
    departments = list(selectors.plannable_departments(user))
    rosters = {
        r.department_id: r
        for r in Roster.objects.filter(department__in=departments, end_date__gte=today).order_by(
            "-start_date"
        )
    }
    leave = (
        Leave.objects.filter(practitioner__department__in=departments, status=LeaveStatus.REQUESTED)
        .select_related("practitioner__user", "practitioner__department")
        .order_by("start_date")[:50]
    )
    satisfaction = selectors.staff_satisfaction_rate(today - dt.timedelta(days=27), today)
    if user.role != "operations_manager" and departments:
        satisfaction = selectors.staff_satisfaction_rate(today - dt.timedelta(days=27), today, departments[0])
    return render(
        request,
        "workforce/overview.html",
        {
            "rows": [{"department": d, "roster": rosters.get(d.pk)} for d in departments],
            "leave": leave,
            "pending": selectors.pending_suggestions(user).filter(status=SuggestionStatus.PENDING).count(),
            "satisfaction": satisfaction,
        },
    )


@login_required
def rosters(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "workforce.plan")
    departments = list(selectors.plannable_departments(user))
    if request.method == "POST":
        start = _date(request.POST.get("start_date"))
        end = _date(request.POST.get("end_date"))
        try:
            if start is None or end is None:
                raise InvalidInput(_("Give the first and the last day."), field="start_date")
            limit = int(request.POST.get("time_limit") or 30)
            roster = services.create_roster(
                user, request.POST.get("department", ""), start, end, time_limit=limit
            )
        except ValueError:
            messages.error(request, _("The time limit is a number of seconds."))
        except CodedError as exc:
            if exc.status in (401, 403, 404):
                raise
            messages.error(request, f"{exc.code}: {exc.detail}")
        else:
            return redirect("workforce:roster", roster_id=roster.pk)
    today = clock.today()
    next_monday = today + dt.timedelta(days=7 - today.weekday())
    return render(
        request,
        "workforce/rosters.html",
        {
            "rosters": selectors.rosters_of(user)[:60],
            "departments": departments,
            "default_start": next_monday,
            "default_end": next_monday + dt.timedelta(days=27),
        },
    )


def _cell_options(roster: Roster) -> list[ShiftType]:
    return list(roster.department.shift_types.filter(is_active=True).order_by("start_time", "code"))


@login_required
def roster(request: HttpRequest, roster_id: int) -> HttpResponse:
    found = selectors.roster_for_planner(request.user, roster_id)
    view = request.GET.get("view", "person")
    grid = selectors.roster_grid(found)
    describer = _describer(found)
    report = found.report or {}
    violations = [
        {"rule": rule_name(v["rule"]), "text": describer.violation(v)} for v in report.get("violations", [])
    ]
    broken = [
        {
            "rule": rule_name(b["rule"]),
            "cost": b.get("cost"),
            "text": describer.penalty(b),
            "why": describer.why(b.get("why")),
        }
        for b in report.get("broken", [])[:60]
    ]
    shortages = [
        {**s, "date": describer.date(s["day"]), "group_label": describer.group(s.get("group"))}
        for s in report.get("shortages", [])
    ]
    edits = RosterEdit.objects.filter(roster=found).select_related("edited_by", "practitioner__user")[:15]
    last_edit = edits[0] if edits else None
    last_edit_violations = (
        [{"rule": rule_name(v["rule"]), "text": describer.violation(v)} for v in last_edit.violations]
        if last_edit
        else []
    )
    return render(
        request,
        "workforce/roster.html",
        {
            "roster": found,
            "grid": grid,
            "view": "day" if view == "day" else "person",
            "violations": violations,
            "broken": broken,
            "by_rule": [(rule_name(k), v) for k, v in sorted((report.get("by_rule") or {}).items())],
            "conflicting": [rule_name(c) for c in report.get("conflicting", [])],
            "shortages": shortages,
            "unforecast": [Metric(m).label for m in report.get("unforecast", []) if m in Metric.values],
            "edits": edits,
            "last_edit_violations": last_edit_violations,
            "shift_types": _cell_options(found),
            "solving": found.status == RosterStatus.SOLVING,
            "editable": found.status != RosterStatus.SOLVING,
            "publishable": found.status in (RosterStatus.SOLVED, RosterStatus.DRAFT),
        },
    )


@login_required
@require_POST
def assign(request: HttpRequest, roster_id: int) -> HttpResponse:
    user: Any = request.user
    found = selectors.roster_for_planner(user, roster_id)
    date = _date(request.POST.get("date"))
    shift = request.POST.get("shift_type", "")
    view = request.POST.get("view", "person")
    try:
        practitioner_id = int(request.POST.get("practitioner", ""))
        if date is None:
            raise InvalidInput(field="date")
        result = services.edit_assignment(
            user,
            found.pk,
            practitioner_id,
            date,
            int(shift) if shift else None,
            request.POST.get("reason", ""),
        )
    except ValueError:
        messages.error(request, _("Choose a person and a shift."))
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        if result.violations:
            messages.warning(
                request,
                _("Saved, but the roster now breaks %(count)s hard rule(s); see below.")
                % {"count": len(result.violations)},
            )
        else:
            messages.success(request, _("Saved. The roster keeps every hard rule."))
    return redirect(f"/workforce/rosters/{found.pk}/?view={'day' if view == 'day' else 'person'}")


@login_required
@require_POST
def publish(request: HttpRequest, roster_id: int) -> HttpResponse:
    found = selectors.roster_for_planner(request.user, roster_id)
    try:
        services.publish_roster(request.user, found.pk)
        messages.success(request, _("Published. Everyone on the roster has been notified."))
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect("workforce:roster", roster_id=found.pk)


@login_required
@require_POST
def solve(request: HttpRequest, roster_id: int) -> HttpResponse:
    found = selectors.roster_for_planner(request.user, roster_id)
    try:
        limit = request.POST.get("time_limit")
        services.request_solve(request.user, found.pk, int(limit) if limit else None)
    except ValueError:
        messages.error(request, _("The time limit is a number of seconds."))
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect("workforce:roster", roster_id=found.pk)


def _chart(spec: dict[str, Any]) -> str:
    return json.dumps(spec, ensure_ascii=False)


@login_required
def forecast(request: HttpRequest) -> HttpResponse:
    """Forecast workload against history, and required people against rostered capacity."""
    user: Any = request.user
    require_capability(user, "workforce.plan")
    department = _department_from(request)
    if request.method == "POST" and department is not None:
        trained, problems = 0, []
        for metric in request.POST.getlist("metric") or list(Metric.values):
            try:
                services.train_forecast(user, department, metric)
                trained += 1
            except CodedError as exc:
                if exc.status in (401, 403, 404):
                    raise
                problems.append(f"{exc.code}: {exc.detail}")
        if trained:
            messages.success(request, _("%(count)s forecast(s) trained and backtested.") % {"count": trained})
        for problem in problems[:2]:
            messages.error(request, problem)
        return redirect(f"/workforce/forecast/?department={department.code}")
    context: dict[str, Any] = {"departments": selectors.plannable_departments(user), "department": department}
    if department is None:
        return render(request, "workforce/forecast.html", context)
    runs = selectors.latest_runs(department)
    today = clock.today()
    first = today - dt.timedelta(days=56)
    history = list(selectors.workload(department, first, today + dt.timedelta(days=60)))
    charts = []
    for metric, run in runs.items():
        points = list(run.points.all())
        labels = sorted(
            {f"{r.date:%m-%d} {r.half_day}" for r in history}
            | {f"{p.date:%m-%d} {p.half_day}" for p in points}
        )
        actual = {f"{r.date:%m-%d} {r.half_day}": r.value(metric) for r in history}
        predicted = {f"{p.date:%m-%d} {p.half_day}": round(p.value, 1) for p in points}
        charts.append(
            {
                "run": run,
                "label": Metric(metric).label,
                "spec": _chart(
                    {
                        "tooltip": {"trigger": "axis"},
                        "legend": {"data": [_("Recorded"), _("Forecast")]},
                        "grid": {"left": 40, "right": 10, "top": 30, "bottom": 30},
                        "xAxis": {"type": "category", "data": labels},
                        "yAxis": {"type": "value"},
                        "series": [
                            {
                                "name": _("Recorded"),
                                "type": "line",
                                "showSymbol": False,
                                "data": [actual.get(x) for x in labels],
                            },
                            {
                                "name": _("Forecast"),
                                "type": "line",
                                "showSymbol": False,
                                "lineStyle": {"type": "dashed"},
                                "data": [predicted.get(x) for x in labels],
                            },
                        ],
                    }
                ),
            }
        )
    # Capacity: required, load band and rostered people per day, for the newest roster.
    roster = (
        Roster.objects.filter(department=department)
        .exclude(status=RosterStatus.SOLVING)
        .order_by("-start_date")
        .first()
    )
    capacity = None
    if roster is not None:
        required: dict[dt.date, dict[str, float]] = defaultdict(
            lambda: {"required": 0, "demand": 0.0, "high": 0}
        )
        for r in RosterRequirement.objects.filter(roster=roster, skill__isnull=True):
            required[r.date]["required"] += r.required
            required[r.date]["demand"] += r.demand
            required[r.date]["high"] += r.band_high or r.required
        staffed: dict[dt.date, int] = defaultdict(int)
        for a in Assignment.objects.filter(roster=roster):
            staffed[a.date] += 1
        dates = roster.dates()
        capacity = {
            "roster": roster,
            "spec": _chart(
                {
                    "tooltip": {"trigger": "axis"},
                    "legend": {"data": [_("Forecast demand (people)"), _("Required"), _("Rostered")]},
                    "grid": {"left": 40, "right": 10, "top": 30, "bottom": 30},
                    "xAxis": {"type": "category", "data": [f"{d:%m-%d}" for d in dates]},
                    "yAxis": {"type": "value", "minInterval": 1},
                    "series": [
                        {
                            "name": _("Forecast demand (people)"),
                            "type": "line",
                            "data": [round(required[d]["demand"], 1) for d in dates],
                        },
                        {
                            "name": _("Required"),
                            "type": "line",
                            "step": "middle",
                            "data": [required[d]["required"] for d in dates],
                        },
                        {
                            "name": _("Rostered"),
                            "type": "bar",
                            "itemStyle": {"color": "#0b6e4f"},
                            "data": [staffed[d] for d in dates],
                        },
                    ],
                }
            ),
        }
    context.update({"runs": runs, "charts": charts, "capacity": capacity, "metrics": Metric.choices})
    return render(request, "workforce/forecast.html", context)


def load_rates(roster: Roster) -> dict[str, Any]:
    """Load per person and for the department: forecast demand (in people) over people rostered,
    per shift; a person's load is the mean over their shifts that have a forecast demand."""
    requirements = {
        (r.date, r.shift_type_id, r.group): r
        for r in RosterRequirement.objects.filter(roster=roster, skill__isnull=True)
    }
    groups = dict(roster.members.values_list("practitioner_id", "group"))
    present: dict[tuple[dt.date, int, str], int] = defaultdict(int)
    assignments = list(roster.assignments.select_related("shift_type", "practitioner__user"))
    for a in assignments:
        present[(a.date, a.shift_type_id, groups.get(a.practitioner_id, ""))] += 1
    per_person: dict[int, list[float]] = defaultdict(list)
    hours: dict[int, float] = defaultdict(float)
    names: dict[int, str] = {}
    for a in assignments:
        names[a.practitioner_id] = str(a.practitioner.user)
        hours[a.practitioner_id] += a.shift_type.minutes / 60
        key = (a.date, a.shift_type_id, groups.get(a.practitioner_id, ""))
        req = requirements.get(key)
        if req is not None and req.demand > 0 and present[key]:
            per_person[a.practitioner_id].append(req.demand / present[key])
    demand = sum(r.demand for r in requirements.values() if r.demand > 0)
    staffed = sum(present[k] for k, r in requirements.items() if r.demand > 0)
    weeks = roster.days / 7
    people: list[dict[str, Any]] = []
    for pid, group in groups.items():
        loads = per_person.get(pid, [])
        people.append(
            {
                "name": names.get(pid) or str(roster.members.get(practitioner_id=pid).practitioner.user),
                "group": StaffGroup(group).label,
                "hours": round(hours.get(pid, 0.0), 1),
                "hours_per_week": round(hours.get(pid, 0.0) / weeks, 1) if weeks else 0,
                "load": round(sum(loads) / len(loads), 3) if loads else None,
            }
        )
    people.sort(key=lambda p: (p["load"] is None, -(p["load"] or 0)))
    return {"department": round(demand / staffed, 3) if staffed else None, "people": people}


@login_required
def load(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "workforce.plan")
    departments = list(selectors.plannable_departments(user))
    rows: list[dict[str, Any]] = []
    today = clock.today()
    for department in departments:
        roster = (
            Roster.objects.filter(department=department, status=RosterStatus.PUBLISHED, start_date__lte=today)
            .order_by("-start_date")
            .first()
        ) or Roster.objects.filter(department=department, status=RosterStatus.PUBLISHED).order_by(
            "start_date"
        ).first()
        if roster is not None:
            rows.append({"department": department, "roster": roster, "rates": load_rates(roster)})
    selected = _department_from(request) if request.GET.get("department") else None
    chosen = next(
        (r for r in rows if selected and r["department"].pk == selected.pk), rows[0] if rows else None
    )
    return render(request, "workforce/load.html", {"rows": rows, "chosen": chosen, "low": 0.8, "high": 0.9})


@login_required
def import_workload(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "workforce.plan")
    result = None
    errors: list[str] = []
    error_code = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise InvalidInput(_("Choose a CSV file."), field="file")
            if upload.size and upload.size > 20 * 1024 * 1024:
                raise InvalidInput(_("The file is larger than 20 MB."), field="file")
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise InvalidInput(_("The file is not UTF-8 text."), field="file") from None
            result = services.import_workload_csv(user, text, upload.name or "")
            messages.success(request, _("%(rows)s rows imported.") % {"rows": result.rows})
        except CodedError as exc:
            error_code = exc.code
            errors = [f"{exc.code}: {exc.detail}"]
            for name, texts in getattr(exc, "errors", {}).items():
                errors.extend(f"{name}: {t}" for t in texts)
    return render(
        request,
        "workforce/import.html",
        {
            "result": result,
            "errors": errors,
            "error_code": error_code,
            "departments": selectors.plannable_departments(user),
        },
        status=400 if errors else 200,
    )


@login_required
def feedback(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, "workforce.plan")
    departments = selectors.plannable_departments(user)
    summaries = WeeklySummary.objects.filter(department__in=departments).select_related("department")[:40]
    suggestions = selectors.pending_suggestions(user)[:60]
    return render(request, "workforce/feedback.html", {"summaries": summaries, "suggestions": suggestions})


@login_required
@require_POST
def decide_suggestion(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    try:
        services.decide_suggestion(request.user, suggestion_id, request.POST.get("decision") == "accept")
        messages.success(request, _("Decision saved."))
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect("workforce:feedback")


@login_required
@require_POST
def decide_leave(request: HttpRequest, leave_id: int) -> HttpResponse:
    try:
        services.decide_leave(request.user, leave_id, request.POST.get("decision") == "approve")
        messages.success(request, _("Decision saved."))
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect("workforce:overview")


# --- The staff's own ----------------------------------------------------------------------------


@login_required
def my_shifts(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    practitioner = selectors.own_practitioner(user)
    today = clock.today()
    shifts = list(
        selectors.my_assignments(user, today - dt.timedelta(days=14), today + dt.timedelta(days=42))
    )
    now = clock.now()
    rows = []
    for a in shifts:
        starts = timezone.make_aware(a.shift_type.starts_on(a.date))
        rows.append(
            {
                "a": a,
                "feedback": getattr(a, "feedback", None),
                "rateable": starts <= now,
                "past": a.date < today,
            }
        )
    return render(
        request,
        "workforce/my_shifts.html",
        {
            "upcoming": [r for r in rows if not r["past"]],
            "past": [r for r in reversed(rows) if r["past"]],
            "shift_types": ShiftType.objects.filter(department=practitioner.department, is_active=True),
            "requests": ShiftRequest.objects.filter(
                practitioner=practitioner, date__gte=today
            ).select_related("shift_type"),
            "leaves": Leave.objects.filter(practitioner=practitioner, end_date__gte=today),
            "leave_kinds": LeaveKind.choices,
            "request_kinds": RequestKind.choices,
            "today": today,
        },
    )


@login_required
@require_POST
def rate(request: HttpRequest, assignment_id: int) -> HttpResponse:
    try:
        rating = int(request.POST.get("rating", ""))
    except ValueError:
        rating = 0
    try:
        services.rate_shift(
            request.user,
            assignment_id,
            rating,
            request.POST.get("overload") in ("1", "on", "true"),
            request.POST.get("comment", ""),
        )
        messages.success(request, _("Thank you for the rating."))
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect("workforce:my_shifts")


@login_required
@require_POST
def my_request(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    try:
        if request.POST.get("what") == "leave":
            start = _date(request.POST.get("start_date"))
            end = _date(request.POST.get("end_date"), start)
            if start is None or end is None:
                raise InvalidInput(_("Give the first and the last day."), field="start_date")
            services.request_leave(user, start, end, request.POST.get("kind") or LeaveKind.ANNUAL)
            messages.success(request, _("Leave requested."))
        else:
            date = _date(request.POST.get("date"))
            if date is None:
                raise InvalidInput(_("Give the day."), field="date")
            shift = request.POST.get("shift_type")
            services.add_shift_request(
                user,
                date,
                request.POST.get("kind", ""),
                int(shift) if shift and shift.isdigit() else None,
                int(request.POST.get("weight") or 1) if (request.POST.get("weight") or "1").isdigit() else 0,
                request.POST.get("note", ""),
            )
            messages.success(request, _("Request saved; the next roster will take it into account."))
    except CodedError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, f"{exc.code}: {exc.detail}")
    return redirect("workforce:my_shifts")
