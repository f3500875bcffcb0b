"""From the database to the engine and back: a roster's rules, people, requirements and wishes as
an ``engine.Problem``, and the staffing requirements computed from forecasts and ratios.

Ids in the problem: people are practitioner ids (as text), shifts are shift-type codes, cover
groups are "doctor" / "nurse" and "doctor+<skill>" / "nurse+<skill>" for skill requirements.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from smartcare.workforce import selectors
from smartcare.workforce.choices import LeaveStatus, RequestKind, RosterStatus
from smartcare.workforce.engine.problem import (
    CoverDef,
    MinuteLimit,
    Problem,
    RequestDef,
    ShiftDef,
    StaffDef,
    Weights,
)
from smartcare.workforce.models import (
    Assignment,
    Leave,
    Roster,
    RosterRequirement,
    ShiftRequest,
    ShiftType,
    StaffingRatio,
    StaffProfile,
    WorkloadRecord,
)

LOAD_LOW = 0.80
LOAD_HIGH = 0.90


def group_key(group: str, skill_code: str | None) -> str:
    return f"{group}+{skill_code}" if skill_code else group


def forbidden_followers(shift_types: list[ShiftType], min_rest_hours: int) -> dict[str, set[str]]:
    """For each shift, the shifts that may not be worked the next day: the planner's explicit
    sequences (no early after a night) and every pair with less than the minimum rest between
    the end of one and the start of the next."""
    followers: dict[str, set[str]] = {st.code: set() for st in shift_types}
    for st in shift_types:
        for other in st.cannot_follow.all():
            followers[st.code].add(other.code)
        for nxt in shift_types:
            rest = 1440 + nxt.start_minute - st.end_minute
            if rest < min_rest_hours * 60:
                followers[st.code].add(nxt.code)
    return followers


def half_days_of(shift: ShiftType, date: dt.date) -> list[tuple[dt.date, str]]:
    """The half-days (AM 0-12 h, PM 12-24 h) a shift on ``date`` overlaps."""
    start, end = shift.start_minute, shift.end_minute
    covered = []
    for offset in range(3):
        for half, (lo, hi) in (("am", (0, 720)), ("pm", (720, 1440))):
            lo_abs, hi_abs = lo + offset * 1440, hi + offset * 1440
            if start < hi_abs and end > lo_abs:
                covered.append((date + dt.timedelta(days=offset), half))
    return covered


@dataclass
class Demand:
    required: int
    demand: float
    band_low: int | None
    band_high: int | None
    basis: str


def _history_fallback(department: Any, metric: str, first: dt.date) -> dict[tuple[int, str], float]:
    """Mean of the last four weeks of history per weekday and half-day (when there is no forecast)."""
    since = first - dt.timedelta(days=35)
    rows = WorkloadRecord.objects.filter(department=department, date__gte=since, date__lt=first).values_list(
        "date", "half_day", metric
    )
    sums: dict[tuple[int, str], list[float]] = defaultdict(list)
    for date, half, value in rows:
        sums[(date.weekday(), half)].append(float(value))
    return {key: sum(v) / len(v) for key, v in sums.items()}


def compute_requirements(roster: Roster) -> list[RosterRequirement]:
    """Required people per date, shift and group (with skill) from the department's ratios and
    the forecast workload; rows are not saved."""
    department = roster.department
    ratios = list(
        StaffingRatio.objects.filter(shift_type__department=department, shift_type__is_active=True)
        .select_related("shift_type", "skill")
        .order_by("pk")
    )
    first, last = roster.start_date, roster.end_date + dt.timedelta(days=2)
    forecasts: dict[str, dict[tuple[dt.date, str], float]] = {}
    fallbacks: dict[str, dict[tuple[int, str], float]] = {}
    for metric in {r.metric for r in ratios if r.metric}:
        forecasts[metric] = selectors.forecast_values(department, metric, first, last)
        fallbacks[metric] = _history_fallback(department, metric, roster.start_date)
    best: dict[tuple[dt.date, int, str, int | None], Demand] = {}
    shift_of: dict[int, ShiftType] = {}
    skill_of: dict[int | None, Any] = {None: None}
    for date in roster.dates():
        for ratio in ratios:
            shift = ratio.shift_type
            shift_of[shift.pk] = shift
            skill_of[ratio.skill_id] = ratio.skill
            demand, basis, band_low, band_high = 0.0, "minimum", None, None
            required = ratio.minimum
            if ratio.metric and ratio.per_staff:
                values = []
                source = "forecast"
                for key in half_days_of(shift, date):
                    value = forecasts[ratio.metric].get(key)
                    if value is None:
                        value = fallbacks[ratio.metric].get((key[0].weekday(), key[1]))
                        source = "history"
                    if value is not None:
                        values.append(value)
                workload = max(values) if values else 0.0
                demand = workload / float(ratio.per_staff)
                required = max(ratio.minimum, math.ceil(demand - 1e-9))
                if demand > 0:
                    band_low = max(required, math.ceil(demand / LOAD_HIGH - 1e-9))
                    band_high = max(band_low, math.floor(demand / LOAD_LOW + 1e-9))
                basis = f"{ratio.metric} {workload:.1f} ({source}) / {ratio.per_staff}"
            slot = (date, shift.pk, ratio.group, ratio.skill_id)
            found = Demand(required, round(demand, 3), band_low, band_high, basis)
            if slot not in best or found.required > best[slot].required:
                best[slot] = found
    rows = []
    for (date, shift_id, group, skill_id), d in sorted(
        best.items(), key=lambda i: (i[0][0], i[0][1], i[0][2])
    ):
        rows.append(
            RosterRequirement(
                roster=roster,
                date=date,
                shift_type=shift_of[shift_id],
                group=group,
                skill=skill_of[skill_id],
                required=d.required,
                demand=d.demand,
                band_low=d.band_low,
                band_high=d.band_high,
                basis=d.basis[:200],
            )
        )
    return rows


def _approved_leave_days(
    practitioner_ids: list[int], first: dt.date, last: dt.date
) -> dict[int, set[dt.date]]:
    days: dict[int, set[dt.date]] = defaultdict(set)
    leaves = Leave.objects.filter(
        practitioner_id__in=practitioner_ids,
        status=LeaveStatus.APPROVED,
        start_date__lte=last,
        end_date__gte=first,
    )
    for leave in leaves:
        day = max(leave.start_date, first)
        while day <= min(leave.end_date, last):
            days[leave.practitioner_id].add(day)
            day += dt.timedelta(days=1)
    return days


def _before_period(roster: Roster, practitioner_ids: list[int]) -> dict[int, tuple[str | None, int]]:
    """Per person: the shift code worked the day before the period and the run of worked days
    ending that day, from other published rosters."""
    first = roster.start_date - dt.timedelta(days=14)
    rows = (
        Assignment.objects.filter(
            practitioner_id__in=practitioner_ids,
            roster__status=RosterStatus.PUBLISHED,
            date__gte=first,
            date__lt=roster.start_date,
        )
        .exclude(roster=roster)
        .values_list("practitioner_id", "date", "shift_type__code")
    )
    worked: dict[int, dict[dt.date, str]] = defaultdict(dict)
    for pid, date, code in rows:
        worked[pid][date] = code
    result = {}
    for pid, days in worked.items():
        day = roster.start_date - dt.timedelta(days=1)
        run = 0
        while day in days:
            run += 1
            day -= dt.timedelta(days=1)
        result[pid] = (days.get(roster.start_date - dt.timedelta(days=1)), run)
    return result


def build_problem(roster: Roster, requirements: list[RosterRequirement] | None = None) -> Problem:
    department = roster.department
    policy = selectors.policy_for(department)
    dates = roster.dates()
    index = {d: n for n, d in enumerate(dates)}
    shift_types = list(
        ShiftType.objects.filter(department=department, is_active=True).prefetch_related("cannot_follow")
    )
    followers = forbidden_followers(shift_types, policy.min_rest_hours)
    nights = {st.code for st in shift_types if st.is_night}
    shifts = [ShiftDef(st.code, st.minutes, frozenset(followers[st.code]), st.is_night) for st in shift_types]
    members = list(
        roster.members.select_related("practitioner__user").prefetch_related("practitioner__skills")
    )
    ids = [m.practitioner_id for m in members]
    profiles = {
        p.practitioner_id: p
        for p in StaffProfile.objects.filter(practitioner_id__in=ids).prefetch_related(
            "preferred_shift_types"
        )
    }
    leave = _approved_leave_days(ids, roster.start_date, roster.end_date)
    before = _before_period(roster, ids)
    staff = []
    for member in members:
        profile = profiles.get(member.practitioner_id) or StaffProfile(practitioner=member.practitioner)
        skills = {s.code for s in member.practitioner.skills.all()}
        days_off = frozenset(index[d] for d in leave.get(member.practitioner_id, set()))
        available = roster.days - len(days_off)
        limits = []
        for start in range(0, roster.days, 7):
            limits.append(
                MinuteLimit(
                    start, min(start + 6, roster.days - 1), None, int(profile.max_hours_per_week * 60)
                )
            )
        minimum = int(profile.min_hours_per_week * 60 * available / 7)
        if minimum:
            limits.append(MinuteLimit(0, roster.days - 1, minimum, None))
        preferred = frozenset(
            st.code for st in profile.preferred_shift_types.all() if st.department_id == department.pk
        )
        shift_before, worked_before = before.get(member.practitioner_id, (None, 0))
        barred = {st.code for st in shift_types if st.group and st.group != member.group}
        if not profile.works_nights:
            barred |= nights
        staff.append(
            StaffDef(
                id=str(member.practitioner_id),
                max_shifts=dict.fromkeys(barred, 0),
                minute_limits=limits,
                max_consecutive=profile.max_consecutive_days or policy.max_consecutive_days,
                days_off=days_off,
                groups=frozenset({member.group} | {group_key(member.group, s) for s in skills}),
                preferred_shifts=preferred,
                shift_before=shift_before,
                worked_before=worked_before,
                name=str(member.practitioner.user),
            )
        )
    if requirements is None:
        requirements = list(roster.requirements.select_related("shift_type", "skill"))
    covers = []
    for r in requirements:
        skill_code = r.skill.code if r.skill_id and r.skill else None
        covers.append(
            CoverDef(
                day=index[r.date],
                shift=r.shift_type.code,
                requirement=r.required,
                group=group_key(r.group, skill_code),
                over_weight=0 if skill_code else policy.weight_overstaffing,
                hard_min=True,
                band_low=r.band_low if not skill_code else None,
                band_high=r.band_high if not skill_code else None,
            )
        )
    # A shift with no requirement for a group still counts its people as more than required.
    covered = {(c.day, c.shift, c.group) for c in covers}
    for group in {m.group for m in members}:
        for day in range(roster.days):
            for st in shift_types:
                if (day, st.code, group) not in covered and st.group in ("", group):
                    covers.append(
                        CoverDef(
                            day=day,
                            shift=st.code,
                            requirement=0,
                            group=group,
                            over_weight=policy.weight_overstaffing,
                        )
                    )
    codes = {st.pk: st.code for st in shift_types}
    requests = []
    for wish in ShiftRequest.objects.filter(
        practitioner_id__in=ids, date__gte=roster.start_date, date__lte=roster.end_date
    ):
        if wish.shift_type_id is not None and wish.shift_type_id not in codes:
            continue
        requests.append(
            RequestDef(
                staff=str(wish.practitioner_id),
                day=index[wish.date],
                shift=codes.get(wish.shift_type_id) if wish.shift_type_id else None,
                on=wish.kind == RequestKind.ON,
                weight=policy.weight_request * wish.weight,
            )
        )
    weekends: dict[int, list[int]] = defaultdict(list)
    for n, d in enumerate(dates):
        if d.weekday() >= 5:
            weekends[(d - dt.timedelta(days=d.weekday())).toordinal()].append(n)
    return Problem(
        name=f"roster-{roster.pk}",
        days=roster.days,
        shifts=shifts,
        staff=staff,
        covers=covers,
        requests=requests,
        weights=Weights(
            preferred_shift=policy.weight_preferred_shift,
            night_fairness=policy.weight_night_fairness,
            weekend_fairness=policy.weight_weekend_fairness,
            load_band=policy.weight_load_band,
        ),
        weekends=[tuple(v) for _k, v in sorted(weekends.items())],
    )


def assignments_of(roster: Roster) -> list[tuple[str, int, str]]:
    start = roster.start_date
    return [
        (str(pid), (date - start).days, code)
        for pid, date, code in roster.assignments.values_list("practitioner_id", "date", "shift_type__code")
    ]
