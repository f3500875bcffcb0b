"""Solving a rostering problem with OR-Tools CP-SAT.

One Boolean ``x[person, day, shift]`` per possible assignment (none where the person may not
work: leave, days off, a shift type they never work). Hard rules are constraints; soft rules add
weighted terms to one minimised objective, the same terms ``checker.evaluate`` scores. When the
hard rules cannot all hold, a second, objective-free solve with one switch per rule family asks
CP-SAT which families conflict (its "sufficient assumptions for infeasibility").
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ortools.sat.python import cp_model

from smartcare.workforce.engine.checker import evaluate, fairness_pool
from smartcare.workforce.engine.problem import Problem

# Rule families that can be switched off one by one to explain an infeasible problem.
FAMILIES = (
    "coverage",
    "forbidden_sequence",
    "max_shifts",
    "max_minutes",
    "min_minutes",
    "max_consecutive",
    "min_consecutive",
    "min_days_off",
    "max_weekends",
    "fixed",
)

Fixed = dict[tuple[str, int], str | None]  # (person, day) -> shift, or None for a forced day off


@dataclass
class SolveResult:
    status: str  # OPTIMAL, FEASIBLE, INFEASIBLE, UNKNOWN, MODEL_INVALID
    assignments: list[tuple[str, int, str]] = field(default_factory=list)
    objective: int | None = None
    bound: float | None = None
    seconds: float = 0.0
    conflicting: list[str] = field(default_factory=list)  # rule families, when infeasible

    @property
    def found(self) -> bool:
        return self.status in ("OPTIMAL", "FEASIBLE")


class _Builder:
    def __init__(self, problem: Problem, *, with_objective: bool, switches: bool) -> None:
        self.problem = problem
        self.model = cp_model.CpModel()
        self.x: dict[tuple[str, int, str], Any] = {}
        self.terms: list[Any] = []
        self.constant_cost = 0
        self.with_objective = with_objective
        self.switch: dict[str, Any] = {}
        if switches:
            self.switch = {name: self.model.new_bool_var(f"on_{name}") for name in FAMILIES}

    def enforce(self, constraint: Any, family: str) -> None:
        if family in self.switch:
            constraint.only_enforce_if(self.switch[family])

    def work(self, person_id: str, day: int) -> list[Any]:
        return [var for (p, d, _s), var in self._by_day.get((person_id, day), [])]

    def build(self, fixed: Fixed | None = None) -> None:
        problem, model = self.problem, self.model
        self._by_day: dict[tuple[str, int], list[tuple[tuple[str, int, str], Any]]] = defaultdict(list)
        for person in problem.staff:
            for day in range(problem.days):
                if day in person.days_off:
                    continue
                for shift in problem.shifts:
                    if person.may_work(shift.id):
                        key = (person.id, day, shift.id)
                        var = model.new_bool_var(f"x_{person.id}_{day}_{shift.id}")
                        self.x[key] = var
                        self._by_day[(person.id, day)].append((key, var))

        # Worked-day indicator: one shift a day at most.
        w: dict[tuple[str, int], Any] = {}
        for person in problem.staff:
            for day in range(problem.days):
                options = self.work(person.id, day)
                if not options:
                    w[(person.id, day)] = 0
                elif len(options) == 1:
                    w[(person.id, day)] = options[0]
                else:
                    var = model.new_bool_var(f"w_{person.id}_{day}")
                    model.add(sum(options) == var)
                    w[(person.id, day)] = var
        self.w = w

        for (person_id, day), shift_id in (fixed or {}).items():
            if shift_id is None:
                for var in self.work(person_id, day):
                    self.enforce(model.add(var == 0), "fixed")
            else:
                chosen = self.x.get((person_id, day, shift_id))
                if chosen is None:
                    # Fixed to an assignment the person may not have: unsatisfiable on purpose.
                    self.enforce(model.add_bool_or([]), "fixed")
                else:
                    self.enforce(model.add(chosen == 1), "fixed")

        for person in problem.staff:
            self._person_rules(person, w)
        self._cover()
        if self.with_objective:
            self._requests()
            self._extras(w)
            model.minimize(sum(self.terms) + self.constant_cost)

    def _clause(self, positives: list[Any], negatives: list[Any], family: str) -> None:
        """OR(positives, NOT negatives), with constants folded in."""
        literals = []
        for lit in positives:
            if isinstance(lit, int):
                if lit:
                    return
                continue
            literals.append(lit)
        for lit in negatives:
            if isinstance(lit, int):
                if not lit:
                    return
                continue
            literals.append(lit.Not())
        self.enforce(self.model.add_bool_or(literals), family)

    def _person_rules(self, person: Any, w: dict[tuple[str, int], Any]) -> None:
        problem, model, x = self.problem, self.model, self.x
        days = problem.days
        works = [w[(person.id, d)] for d in range(days)]
        for shift in problem.shifts:
            for day in range(days - 1):
                first = x.get((person.id, day, shift.id))
                if first is None:
                    continue
                for following in shift.cannot_follow:
                    second = x.get((person.id, day + 1, following))
                    if second is not None:
                        self.enforce(model.add_bool_or([first.Not(), second.Not()]), "forbidden_sequence")
        previous = problem.shift_index.get(person.shift_before or "")
        if previous is not None:
            for following in previous.cannot_follow:
                first_day = x.get((person.id, 0, following))
                if first_day is not None:
                    self.enforce(model.add(first_day == 0), "forbidden_sequence")
        for shift_id, limit in person.max_shifts.items():
            chosen = [x[(person.id, d, shift_id)] for d in range(days) if (person.id, d, shift_id) in x]
            if limit > 0 and len(chosen) > limit:
                self.enforce(model.add(sum(chosen) <= limit), "max_shifts")
        for limit in person.minute_limits:
            minutes = [
                problem.shift(s).minutes * var
                for (p, d, s), var in x.items()
                if p == person.id and limit.first_day <= d <= limit.last_day
            ]
            total = sum(minutes) if minutes else 0
            if limit.max_minutes is not None:
                self.enforce(model.add(total <= limit.max_minutes), "max_minutes")
            if limit.min_minutes is not None:
                self.enforce(model.add(total >= limit.min_minutes), "min_minutes")
        cmax = person.max_consecutive
        if cmax is not None and cmax < days + person.worked_before:
            for start in range(days - cmax):
                window = [v for v in works[start : start + cmax + 1] if not isinstance(v, int)]
                if len(window) > cmax:
                    self.enforce(model.add(sum(window) <= cmax), "max_consecutive")
            if person.worked_before:
                # The run that began before the period: at most cmax days in all.
                allowed = max(0, cmax - person.worked_before)
                head = [v for v in works[: allowed + 1] if not isinstance(v, int)]
                if len(head) > allowed:
                    self.enforce(model.add(sum(head) <= allowed), "max_consecutive")
        cmin = person.min_consecutive or 0
        for length in range(1, cmin):
            # Forbidden: off, `length` days on, off, all inside the period.
            for start in range(days - length - 1):
                self._clause(
                    [works[start], works[start + length + 1]],
                    works[start + 1 : start + length + 1],
                    "min_consecutive",
                )
        bmin = person.min_days_off or 0
        for length in range(1, bmin):
            for start in range(days - length - 1):
                self._clause(
                    works[start + 1 : start + length + 1],
                    [works[start], works[start + length + 1]],
                    "min_days_off",
                )
        if person.max_weekends is not None and len(problem.weekends) > person.max_weekends:
            worked = []
            for n, weekend in enumerate(problem.weekends):
                parts = [works[d] for d in weekend if not isinstance(works[d], int)]
                if not parts:
                    continue
                k = model.new_bool_var(f"wk_{person.id}_{n}")
                for part in parts:
                    model.add_implication(part, k)
                worked.append(k)
            if len(worked) > person.max_weekends:
                self.enforce(model.add(sum(worked) <= person.max_weekends), "max_weekends")

    def _cover(self) -> None:
        problem, model = self.problem, self.model
        staff = problem.staff_index
        for n, cover in enumerate(problem.covers):
            present = [
                var
                for (p, d, s), var in self.x.items()
                if d == cover.day
                and s == cover.shift
                and (cover.group is None or cover.group in staff[p].groups)
            ]
            count = sum(present) if present else 0
            if cover.hard_min:
                if len(present) < cover.requirement:
                    self.enforce(model.add_bool_or([]), "coverage")
                elif present:
                    self.enforce(model.add(count >= cover.requirement), "coverage")
            if not self.with_objective:
                continue
            if cover.under_weight and not cover.hard_min:
                under = model.new_int_var(0, cover.requirement, f"under_{n}")
                model.add(under >= cover.requirement - count)
                self.terms.append(cover.under_weight * under)
            band = self.problem.weights.load_band
            if band and cover.band_low is not None and cover.band_high is not None:
                below = model.new_int_var(0, max(cover.band_low, 0), f"bl_{n}")
                above = model.new_int_var(0, max(len(present), 1), f"ba_{n}")
                model.add(below >= cover.band_low - count)
                model.add(above >= count - cover.band_high)
                self.terms.append(band * (below + above))
            if cover.over_weight and len(present) > cover.requirement:
                over = model.new_int_var(0, len(present) - cover.requirement, f"over_{n}")
                model.add(over >= count - cover.requirement)
                self.terms.append(cover.over_weight * over)

    def _requests(self) -> None:
        for request in self.problem.requests:
            if request.shift is None:
                options = self.work(request.staff, request.day)
            else:
                var = self.x.get((request.staff, request.day, request.shift))
                options = [var] if var is not None else []
            chosen = sum(options) if options else 0
            if request.on:
                if options:
                    self.constant_cost += request.weight
                    self.terms.append(-request.weight * chosen)
                else:
                    self.constant_cost += request.weight
            elif options:
                self.terms.append(request.weight * chosen)

    def _extras(self, w: dict[tuple[str, int], Any]) -> None:
        problem, weights = self.problem, self.problem.weights
        if weights.preferred_shift:
            staff = problem.staff_index
            for (person_id, _d, shift_id), var in self.x.items():
                preferred = staff[person_id].preferred_shifts
                if preferred and shift_id not in preferred:
                    self.terms.append(weights.preferred_shift * var)
        nights = problem.night_shifts
        if weights.night_fairness and nights:
            self._spread(
                fairness_pool(problem, night=True),
                lambda pid: [var for (p, _d, s), var in self.x.items() if p == pid and s in nights],
                weights.night_fairness,
                "nights",
            )
        weekend_days = problem.weekend_days()
        if weights.weekend_fairness and weekend_days:
            self._spread(
                fairness_pool(problem, night=False),
                lambda pid: [w[(pid, d)] for d in weekend_days if not isinstance(w[(pid, d)], int)],
                weights.weekend_fairness,
                "weekends",
            )

    def _spread(self, pool: list[Any], counted: Any, weight: int, name: str) -> None:
        if len(pool) < 2:
            return
        model = self.model
        upper = self.problem.days
        most = model.new_int_var(0, upper, f"most_{name}")
        fewest = model.new_int_var(0, upper, f"fewest_{name}")
        for person in pool:
            items = counted(person.id)
            count = sum(items) if items else 0
            model.add(most >= count)
            model.add(fewest <= count)
        self.terms.append(weight * (most - fewest))


def _configured(time_limit: float, workers: int, seed: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = max(1, int(workers))
    solver.parameters.random_seed = seed
    return solver


def _add_hint(builder: _Builder, hint: list[tuple[str, int, str]] | None) -> None:
    if not hint:
        return
    hinted = set(hint)
    for key, var in builder.x.items():
        builder.model.add_hint(var, 1 if key in hinted else 0)


def solve(
    problem: Problem,
    *,
    time_limit: float = 30.0,
    workers: int = 2,
    seed: int = 0,
    hint: list[tuple[str, int, str]] | None = None,
    fixed: Fixed | None = None,
    explain_infeasible: bool = True,
    first_feasible: bool = False,
) -> SolveResult:
    """Best roster found within ``time_limit`` seconds on ``workers`` threads.

    With ``first_feasible`` a first, objective-free solve looks for any roster that keeps the hard
    rules (much faster than optimising when the hard rules are tight: minimum hours, hard cover);
    the optimisation then starts from it, and that roster is kept if optimising finds nothing
    better in the time left."""
    started = time.monotonic()
    deadline = started + max(0.1, float(time_limit))
    first: list[tuple[str, int, str]] | None = None
    if first_feasible:
        probe = _Builder(problem, with_objective=False, switches=False)
        probe.build(fixed)
        _add_hint(probe, hint)
        probe_solver = _configured(max(0.1, float(time_limit)), workers, seed)
        probe_solver.parameters.stop_after_first_solution = True
        probe_status = probe_solver.solve(probe.model)
        if probe_status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            first = sorted((p, d, s) for (p, d, s), var in probe.x.items() if probe_solver.boolean_value(var))
            hint = first
        elif probe_status == cp_model.INFEASIBLE:
            result = SolveResult(status="INFEASIBLE")
            if explain_infeasible:
                remaining = max(1.0, deadline - time.monotonic())
                result.conflicting = conflicting_families(
                    problem, fixed=fixed, time_limit=min(remaining, 20.0)
                )
            result.seconds = round(time.monotonic() - started, 3)
            return result
    builder = _Builder(problem, with_objective=True, switches=False)
    builder.build(fixed)
    _add_hint(builder, hint)
    solver = _configured(max(0.1, deadline - time.monotonic()), workers, seed)
    status = solver.solve(builder.model)
    name = solver.status_name(status)
    result = SolveResult(status=name, seconds=0.0)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        result.assignments = sorted(
            (p, d, s) for (p, d, s), var in builder.x.items() if solver.boolean_value(var)
        )
        result.objective = round(solver.objective_value)
        result.bound = solver.best_objective_bound
    elif first is not None:
        result = SolveResult(
            status="FEASIBLE", assignments=first, objective=evaluate(problem, first).objective
        )
    elif explain_infeasible and status == cp_model.INFEASIBLE:
        remaining = max(1.0, deadline - time.monotonic())
        result.conflicting = conflicting_families(problem, fixed=fixed, time_limit=min(remaining, 20.0))
    result.seconds = round(time.monotonic() - started, 3)
    return result


def conflicting_families(
    problem: Problem, *, fixed: Fixed | None = None, time_limit: float = 10.0
) -> list[str]:
    """Rule families that together make the problem infeasible (not necessarily minimal)."""
    builder = _Builder(problem, with_objective=False, switches=True)
    builder.build(fixed)
    builder.model.add_assumptions(list(builder.switch.values()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = 1
    status = solver.solve(builder.model)
    if status != cp_model.INFEASIBLE:
        return []
    core = set(solver.sufficient_assumptions_for_infeasibility())
    return [name for name, var in builder.switch.items() if var.Index() in core]
