"""The rostering engine without the database: the checker scores by hand-computed examples, every
hard rule holds in solved rosters (checked directly, not only through the checker), the checker
catches each broken rule, infeasible problems name the conflicting rules, and the explanations."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from smartcare.workforce.engine import checker, explain, solver
from smartcare.workforce.engine.problem import (
    CoverDef,
    MinuteLimit,
    Problem,
    RequestDef,
    ShiftDef,
    StaffDef,
    Weights,
    weekends_from_monday,
)

EARLY = ShiftDef("E", 480)
LATE = ShiftDef("L", 480, frozenset({"E"}))  # no early the day after a late
NIGHT = ShiftDef("N", 600, frozenset({"E", "L"}), is_night=True)


def ward(days: int = 14, people: int = 8, **person: object) -> Problem:
    """A small ward: early, late and night shifts, hard cover of 2/2/1 nurses."""
    staff = [
        StaffDef(
            id=f"n{i}",
            minute_limits=[MinuteLimit(s, min(s + 6, days - 1), None, 48 * 60) for s in range(0, days, 7)],
            max_consecutive=5,
            groups=frozenset({"nurse"} | ({"nurse+icu"} if i < 3 else set())),
            **person,  # type: ignore[arg-type]
        )
        for i in range(people)
    ]
    covers = []
    for day in range(days):
        covers += [
            CoverDef(day, "E", 2, "nurse", hard_min=True, over_weight=1),
            CoverDef(day, "L", 2, "nurse", hard_min=True, over_weight=1),
            CoverDef(day, "N", 1, "nurse", hard_min=True, over_weight=1),
            CoverDef(day, "N", 1, "nurse+icu", hard_min=True),
        ]
    return Problem("ward", days, [EARLY, LATE, NIGHT], staff, covers, weekends=weekends_from_monday(days))


# --- The score, computed by hand -------------------------------------------------------------


def test_objective_matches_a_hand_computed_score() -> None:
    d = ShiftDef("D", 480)
    problem = Problem(
        "hand",
        days=3,
        shifts=[d],
        staff=[StaffDef("A"), StaffDef("B"), StaffDef("C")],
        covers=[
            CoverDef(0, "D", 2, under_weight=100, over_weight=1),
            CoverDef(1, "D", 1, under_weight=100, over_weight=1),
            CoverDef(2, "D", 3, under_weight=100, over_weight=1),
        ],
        requests=[
            RequestDef("A", 0, "D", on=True, weight=2),  # met: 0
            RequestDef("B", 1, "D", on=True, weight=3),  # unmet: 3
            RequestDef("C", 2, "D", on=False, weight=1),  # C works day 2 anyway: 1
            RequestDef("A", 1, "D", on=False, weight=5),  # A is off on day 1: 0
        ],
    )
    roster = [("A", 0, "D"), ("B", 0, "D"), ("C", 0, "D"), ("C", 1, "D"), ("A", 2, "D"), ("C", 2, "D")]
    # Day 0: 3 on, 2 required -> 1 over x 1 = 1. Day 1: 1 on, 1 required -> 0.
    # Day 2: 2 on, 3 required -> 1 under x 100 = 100. Requests: 3 + 1 = 4.  Total 105.
    evaluation = checker.evaluate(problem, roster)
    assert evaluation.feasible
    assert evaluation.by_rule() == {
        "cover_over": 1,
        "cover_under": 100,
        "shift_on_request": 3,
        "shift_off_request": 1,
    }
    assert evaluation.objective == 105


def test_hospital_soft_rules_match_a_hand_computed_score() -> None:
    d = ShiftDef("D", 480)
    n = ShiftDef("N", 600, is_night=True)
    problem = Problem(
        "hospital",
        days=7,
        shifts=[d, n],
        staff=[StaffDef("A", preferred_shifts=frozenset({"D"})), StaffDef("B"), StaffDef("C")],
        covers=[CoverDef(0, "D", 1, hard_min=True, band_low=2, band_high=2)],
        weights=Weights(preferred_shift=2, night_fairness=3, weekend_fairness=5, load_band=4),
        weekends=weekends_from_monday(7),  # days 5 and 6
    )
    roster = [
        ("A", 0, "D"),
        ("A", 1, "N"),  # not preferred: 2
        ("A", 2, "N"),  # not preferred: 2
        ("B", 3, "N"),
        ("B", 5, "D"),
        ("B", 6, "D"),
    ]
    # Nights: A 2, B 1, C 0 -> spread 2 x 3 = 6. Weekend days: A 0, B 2, C 0 -> 2 x 5 = 10.
    # Load band on day 0: 1 present, band 2-2 -> 1 x 4 = 4.  Total 2 + 2 + 6 + 10 + 4 = 24.
    evaluation = checker.evaluate(problem, roster)
    assert evaluation.feasible
    assert evaluation.by_rule() == {
        "preferred_shift": 4,
        "night_fairness": 6,
        "weekend_fairness": 10,
        "load_band": 4,
    }
    assert evaluation.objective == 24


def test_solver_objective_is_the_checker_score() -> None:
    problem = ward(days=14, people=9)
    problem.requests = [
        RequestDef("n1", 3, None, on=False, weight=20),
        RequestDef("n2", 4, "N", on=True, weight=7),
    ]
    problem.weights = Weights(night_fairness=5, weekend_fairness=3)
    result = solver.solve(problem, time_limit=3, workers=1)  # the best found, optimal or not
    assert result.found
    evaluation = checker.evaluate(problem, result.assignments)
    assert evaluation.feasible, evaluation.violations
    assert result.objective == evaluation.objective


# --- Hard rules hold in solutions --------------------------------------------------------------


def test_each_hard_rule_holds_in_a_solved_roster() -> None:
    problem = ward(days=14, people=9)
    problem.staff[4].days_off = frozenset({2, 3, 4})  # approved leave
    problem.staff[5].max_shifts = {"N": 0}  # does not work nights
    problem.staff[6].minute_limits.append(MinuteLimit(0, 13, 60 * 60, None))  # at least 60 hours
    result = solver.solve(problem, time_limit=20, workers=1)
    assert result.found
    grid = {(p, d): s for p, d, s in result.assignments}
    shifts = problem.shift_index
    # One shift per day: the roster has one entry per person and day.
    assert len(grid) == len(result.assignments)
    for person in problem.staff:
        days = [grid.get((person.id, d)) for d in range(problem.days)]
        # Approved leave: no shift on those days.
        assert all(days[d] is None for d in person.days_off)
        # Forbidden sequences (no early after a late or a night).
        for today, tomorrow in itertools.pairwise(days):
            if today and tomorrow:
                assert tomorrow not in shifts[today].cannot_follow, (person.id, today, tomorrow)
        # Maximum consecutive working days.
        run = longest = 0
        for shift in days:
            run = run + 1 if shift else 0
            longest = max(longest, run)
        assert longest <= person.max_consecutive  # type: ignore[operator]
        # Hours per week and per period.
        for limit in person.minute_limits:
            minutes = sum(shifts[s].minutes for s in days[limit.first_day : limit.last_day + 1] if s)
            if limit.max_minutes is not None:
                assert minutes <= limit.max_minutes
            if limit.min_minutes is not None:
                assert minutes >= limit.min_minutes
        # Shift types the person may not work.
        assert all(person.may_work(s) for s in days if s)
    # Coverage per shift and skill.
    for cover in problem.covers:
        present = sum(
            1
            for person in problem.staff
            if grid.get((person.id, cover.day)) == cover.shift and (cover.group in person.groups)
        )
        assert present >= cover.requirement, cover
    assert checker.evaluate(problem, result.assignments).feasible


def test_minimum_rest_comes_from_cannot_follow_and_the_roster_before() -> None:
    problem = ward(days=7, people=9)
    problem.staff[0].shift_before = "N"  # worked a night the day before the period
    problem.staff[1].worked_before = 5  # already five days in a row: day 0 must be off
    problem.covers = []
    problem.requests = [
        RequestDef("n0", 0, "E", on=True, weight=50),
        RequestDef("n1", 0, None, on=True, weight=50),
    ]
    result = solver.solve(problem, time_limit=10, workers=1)
    grid = {(p, d): s for p, d, s in result.assignments}
    assert grid.get(("n0", 0)) not in ("E", "L")
    assert ("n1", 0) not in grid
    assert checker.evaluate(problem, result.assignments).feasible


def test_min_consecutive_and_days_off_allow_short_stretches_at_the_edges() -> None:
    d = ShiftDef("D", 480)
    person = StaffDef("A", min_consecutive=2, min_days_off=2)
    problem = Problem("edges", 7, [d], [person])
    # A one-day stretch at the start and at the end is fine (the benchmark's convention) ...
    assert checker.evaluate(
        problem, [("A", 0, "D"), ("A", 3, "D"), ("A", 4, "D"), ("A", 6, "D")]
    ).violations == [checker.Violation("min_days_off", "A", 5)]
    # ... but a lone working day inside the period is not.
    rules = [v.rule for v in checker.evaluate(problem, [("A", 3, "D")]).violations]
    assert rules == ["min_consecutive"]


# --- The checker catches every broken hard rule ------------------------------------------------


@pytest.mark.parametrize(
    ("roster", "rule"),
    [
        ([("n0", 0, "E"), ("n0", 0, "L")], "one_shift_per_day"),
        ([("n4", 2, "E")], "unavailable"),
        ([("n5", 1, "N")], "shift_not_allowed"),
        ([("n0", 0, "N"), ("n0", 1, "E")], "forbidden_sequence"),
        ([("n0", d, "E") for d in range(6)], "max_consecutive"),
        ([("n0", d, "N") for d in (0, 2, 4, 6)] + [("n0", 1, "E")], "max_minutes"),
        ([("n0", 0, "X")], "unknown"),
    ],
)
def test_checker_reports_each_hard_rule(roster: list[tuple[str, int, str]], rule: str) -> None:
    problem = ward(days=7, people=6)
    problem.covers = []
    problem.staff[4].days_off = frozenset({2})
    problem.staff[5].max_shifts = {"N": 0}
    problem.staff[0].minute_limits = [MinuteLimit(0, 6, None, 40 * 60)]
    assert rule in {v.rule for v in checker.evaluate(problem, roster).violations}


def test_checker_reports_coverage_min_hours_and_weekends() -> None:
    problem = ward(days=7, people=3)
    problem.staff[0].minute_limits = [MinuteLimit(0, 6, 16 * 60, None)]
    problem.staff[1].max_weekends = 0
    problem.staff[2].max_shifts = {"E": 1}
    roster = [("n1", 5, "E"), ("n2", 0, "E"), ("n2", 1, "E")]
    rules = Counter(v.rule for v in checker.evaluate(problem, roster).violations)
    assert rules["min_minutes"] == 1
    assert rules["max_weekends"] == 1
    assert rules["max_shifts"] == 1
    assert rules["coverage"] >= 7


# --- When no roster exists -------------------------------------------------------------------


def test_infeasible_problem_names_the_conflicting_rules() -> None:
    problem = ward(days=7, people=3)  # five people a day needed, three exist
    result = solver.solve(problem, time_limit=10, workers=1)
    assert result.status == "INFEASIBLE"
    assert not result.assignments
    assert "coverage" in result.conflicting


def test_fixed_cells_are_kept() -> None:
    problem = ward(days=7, people=9)
    result = solver.solve(problem, time_limit=10, workers=1, fixed={("n3", 2): "N", ("n4", 3): None})
    grid = {(p, d): s for p, d, s in result.assignments}
    assert grid[("n3", 2)] == "N"
    assert ("n4", 3) not in grid


# --- Why a soft rule was broken ------------------------------------------------------------------


def test_an_unmet_day_off_request_is_explained_by_the_cover_it_keeps() -> None:
    problem = ward(days=7, people=5)  # exactly five people for five places a day: nobody can leave
    problem.staff = problem.staff[:5]
    for person in problem.staff:
        person.max_consecutive = 7
        person.minute_limits = []
    problem.covers = [c for c in problem.covers if c.group == "nurse"]
    problem.requests = [RequestDef("n3", 2, None, on=False, weight=10)]
    result = solver.solve(problem, time_limit=10, workers=1)
    assert result.found
    report = explain.report(problem, result.assignments)
    broken = [b for b in report["broken"] if b["rule"] == "shift_off_request"]
    assert broken and broken[0]["why"]["kind"] == "breaks"
    assert broken[0]["why"]["rules"][0]["rule"] == "coverage"


def test_fairness_explanation_names_most_and_fewest() -> None:
    problem = ward(days=7, people=3)
    problem.covers = []
    problem.weights = Weights(night_fairness=2)
    roster = [("n0", 0, "N"), ("n0", 2, "N"), ("n1", 4, "N")]
    penalty = next(p for p in checker.evaluate(problem, roster).penalties if p.rule == "night_fairness")
    why = explain.explain(problem, roster, penalty)
    assert why == {"kind": "spread", "most": "n0", "most_count": 2, "fewest": "n2", "fewest_count": 0}
