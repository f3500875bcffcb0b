"""Checking a roster against the rules: which hard rules it breaks and what its soft rules cost.

This is the one definition of the score. The solver's model encodes the same rules; the benchmark
command, the tests and the planner's hand edits are all scored here, so a solver bug cannot make
a roster look better than it is.

Benchmark semantics (Curtois & Qu): the day before and after the period count as days off for
the maximum of consecutive shifts and the shift rotation, and as an unbroken stretch for the
minimum of consecutive shifts and days off, so a short stretch touching either end of the period
is allowed. A weekend counts as worked when any of its days is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from smartcare.workforce.engine.problem import Problem, StaffDef

# Stable rule names: the pages translate them, the API returns them.
HARD_RULES = (
    "unknown",
    "one_shift_per_day",
    "unavailable",
    "shift_not_allowed",
    "max_shifts",
    "forbidden_sequence",
    "max_minutes",
    "min_minutes",
    "max_consecutive",
    "min_consecutive",
    "min_days_off",
    "max_weekends",
    "coverage",
)
SOFT_RULES = (
    "shift_on_request",
    "shift_off_request",
    "cover_under",
    "cover_over",
    "preferred_shift",
    "night_fairness",
    "weekend_fairness",
    "load_band",
)


@dataclass(frozen=True)
class Violation:
    """A broken hard rule."""

    rule: str
    staff: str | None = None
    day: int | None = None
    shift: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "staff": self.staff, "day": self.day, "shift": self.shift, **self.detail}


@dataclass(frozen=True)
class Penalty:
    """A broken soft rule and what it costs."""

    rule: str
    cost: int
    staff: str | None = None
    day: int | None = None
    shift: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "cost": self.cost,
            "staff": self.staff,
            "day": self.day,
            "shift": self.shift,
            **self.detail,
        }


@dataclass
class Evaluation:
    violations: list[Violation]
    penalties: list[Penalty]

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def objective(self) -> int:
        return sum(p.cost for p in self.penalties)

    def by_rule(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for p in self.penalties:
            totals[p.rule] += p.cost
        return dict(totals)


Assignments = Iterable[tuple[str, int, str]]


def _runs(flags: list[bool], value: bool) -> list[tuple[int, int]]:
    """Maximal runs of ``value`` as (first, last) day indexes."""
    runs, start = [], None
    for day, flag in enumerate(flags):
        if flag == value and start is None:
            start = day
        elif flag != value and start is not None:
            runs.append((start, day - 1))
            start = None
    if start is not None:
        runs.append((start, len(flags) - 1))
    return runs


def fairness_pool(problem: Problem, night: bool) -> list[StaffDef]:
    """Who the fairness of nights (or weekends) is measured among: people who may work them and
    are available for at least three quarters of the period (long leave is not unfairness)."""
    nights = problem.night_shifts
    weekend = problem.weekend_days()
    pool = []
    for person in problem.staff:
        if len(person.days_off) > problem.days // 4:
            continue
        if night:
            if nights and any(person.may_work(s) for s in nights):
                pool.append(person)
        elif weekend - person.days_off and any(person.may_work(s.id) for s in problem.shifts):
            pool.append(person)
    return pool


def evaluate(problem: Problem, assignments: Assignments) -> Evaluation:
    """Every broken hard rule and every soft-rule penalty of a roster."""
    violations: list[Violation] = []
    penalties: list[Penalty] = []
    shifts = problem.shift_index
    staff = problem.staff_index

    roster: dict[tuple[str, int], str] = {}
    for person_id, day, shift_id in assignments:
        if person_id not in staff or shift_id not in shifts or not 0 <= day < problem.days:
            violations.append(Violation("unknown", person_id, day, shift_id))
            continue
        if (person_id, day) in roster:
            violations.append(Violation("one_shift_per_day", person_id, day, shift_id))
            continue
        roster[(person_id, day)] = shift_id

    weekends = problem.weekends
    for person in problem.staff:
        works = [(person.id, d) in roster for d in range(problem.days)]
        counts = Counter(roster[(person.id, d)] for d in range(problem.days) if works[d])
        for day in range(problem.days):
            if not works[day]:
                continue
            shift_id = roster[(person.id, day)]
            if day in person.days_off:
                violations.append(Violation("unavailable", person.id, day, shift_id))
            if not person.may_work(shift_id):
                violations.append(Violation("shift_not_allowed", person.id, day, shift_id))
            previous = shifts.get(person.shift_before or "")
            if day == 0 and previous is not None and shift_id in previous.cannot_follow:
                violations.append(
                    Violation("forbidden_sequence", person.id, 0, shift_id, {"previous": previous.id})
                )
            if day + 1 < problem.days and works[day + 1]:
                following = roster[(person.id, day + 1)]
                if following in shifts[shift_id].cannot_follow:
                    violations.append(
                        Violation(
                            "forbidden_sequence",
                            person.id,
                            day + 1,
                            following,
                            {"previous": shift_id},
                        )
                    )
        for shift_id, count in counts.items():
            most = person.max_shifts.get(shift_id)
            if most is not None and 0 < most < count:
                violations.append(
                    Violation("max_shifts", person.id, None, shift_id, {"count": count, "limit": most})
                )
        for limit in person.minute_limits:
            minutes = sum(
                shifts[roster[(person.id, d)]].minutes
                for d in range(limit.first_day, limit.last_day + 1)
                if works[d]
            )
            window = {"first_day": limit.first_day, "last_day": limit.last_day, "minutes": minutes}
            if limit.max_minutes is not None and minutes > limit.max_minutes:
                violations.append(
                    Violation("max_minutes", person.id, None, None, {**window, "limit": limit.max_minutes})
                )
            if limit.min_minutes is not None and minutes < limit.min_minutes:
                violations.append(
                    Violation("min_minutes", person.id, None, None, {**window, "limit": limit.min_minutes})
                )
        for first, last in _runs(works, True):
            length = last - first + 1 + (person.worked_before if first == 0 else 0)
            if person.max_consecutive is not None and length > person.max_consecutive:
                violations.append(
                    Violation(
                        "max_consecutive",
                        person.id,
                        first,
                        None,
                        {"length": length, "limit": person.max_consecutive},
                    )
                )
            inner = first > 0 and last < problem.days - 1
            if person.min_consecutive is not None and inner and length < person.min_consecutive:
                violations.append(
                    Violation(
                        "min_consecutive",
                        person.id,
                        first,
                        None,
                        {"length": length, "limit": person.min_consecutive},
                    )
                )
        for first, last in _runs(works, False):
            length = last - first + 1
            inner = first > 0 and last < problem.days - 1
            if person.min_days_off is not None and inner and length < person.min_days_off:
                violations.append(
                    Violation(
                        "min_days_off",
                        person.id,
                        first,
                        None,
                        {"length": length, "limit": person.min_days_off},
                    )
                )
        if person.max_weekends is not None:
            worked = sum(1 for weekend in weekends if any(works[d] for d in weekend))
            if worked > person.max_weekends:
                violations.append(
                    Violation(
                        "max_weekends", person.id, None, None, {"count": worked, "limit": person.max_weekends}
                    )
                )

    # Cover.
    on_shift: dict[tuple[int, str], list[StaffDef]] = defaultdict(list)
    for (person_id, day), shift_id in roster.items():
        on_shift[(day, shift_id)].append(staff[person_id])
    for cover in problem.covers:
        present = sum(
            1
            for p in on_shift.get((cover.day, cover.shift), [])
            if cover.group is None or cover.group in p.groups
        )
        detail = {"group": cover.group, "required": cover.requirement, "present": present}
        if present < cover.requirement:
            if cover.hard_min:
                violations.append(Violation("coverage", None, cover.day, cover.shift, detail))
            elif cover.under_weight:
                penalties.append(
                    Penalty(
                        "cover_under",
                        (cover.requirement - present) * cover.under_weight,
                        None,
                        cover.day,
                        cover.shift,
                        detail,
                    )
                )
        if problem.weights.load_band and cover.band_low is not None and cover.band_high is not None:
            outside = max(0, cover.band_low - present) + max(0, present - cover.band_high)
            if outside:
                penalties.append(
                    Penalty(
                        "load_band",
                        outside * problem.weights.load_band,
                        None,
                        cover.day,
                        cover.shift,
                        {**detail, "band_low": cover.band_low, "band_high": cover.band_high},
                    )
                )
        if present > cover.requirement and cover.over_weight:
            penalties.append(
                Penalty(
                    "cover_over",
                    (present - cover.requirement) * cover.over_weight,
                    None,
                    cover.day,
                    cover.shift,
                    detail,
                )
            )

    # Requests.
    for request in problem.requests:
        assigned = roster.get((request.staff, request.day))
        matches = assigned is not None and (request.shift is None or assigned == request.shift)
        if request.on and not matches:
            penalties.append(
                Penalty(
                    "shift_on_request",
                    request.weight,
                    request.staff,
                    request.day,
                    request.shift,
                    {"assigned": assigned},
                )
            )
        if not request.on and matches:
            penalties.append(
                Penalty("shift_off_request", request.weight, request.staff, request.day, request.shift, {})
            )

    weights = problem.weights
    if weights.preferred_shift:
        for (person_id, day), shift_id in sorted(roster.items(), key=lambda item: (item[0][1], item[0][0])):
            preferred = staff[person_id].preferred_shifts
            if preferred and shift_id not in preferred:
                penalties.append(
                    Penalty("preferred_shift", weights.preferred_shift, person_id, day, shift_id)
                )
    if weights.night_fairness:
        pool = fairness_pool(problem, night=True)
        nights = problem.night_shifts
        if len(pool) > 1:
            nights_of = {
                p.id: sum(1 for d in range(problem.days) if roster.get((p.id, d)) in nights) for p in pool
            }
            spread = max(nights_of.values()) - min(nights_of.values())
            if spread:
                penalties.append(
                    Penalty(
                        "night_fairness",
                        spread * weights.night_fairness,
                        detail={"most": max(nights_of.values()), "fewest": min(nights_of.values())},
                    )
                )
    if weights.weekend_fairness:
        pool = fairness_pool(problem, night=False)
        weekend_days = problem.weekend_days()
        if len(pool) > 1:
            weekend_of = {p.id: sum(1 for d in weekend_days if (p.id, d) in roster) for p in pool}
            spread = max(weekend_of.values()) - min(weekend_of.values())
            if spread:
                penalties.append(
                    Penalty(
                        "weekend_fairness",
                        spread * weights.weekend_fairness,
                        detail={"most": max(weekend_of.values()), "fewest": min(weekend_of.values())},
                    )
                )
    return Evaluation(violations, penalties)
