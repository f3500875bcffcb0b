"""The Curtois & Qu instance format: the parser on the three reference instances (skipped on a
machine without ../shared/data), a small embedded instance scored by hand, malformed files, and
the ``smartcare roster-bench`` command."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from smartcare.workforce.engine import checker, curtois, solver
from smartcare.workforce.errors import InvalidInstance

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "rostering"
needs_data = pytest.mark.skipif(not (DATA / "Instance1.txt").exists(), reason=f"reference data not at {DATA}")

SMALL = """# A small instance in the benchmark's format
SECTION_HORIZON
# days
7

SECTION_SHIFTS
E,480,
L,480,E

SECTION_STAFF
A,E=7|L=7,2400,960,5,2,2,1
B,E=7|L=0,2400,960,5,1,1,1

SECTION_DAYS_OFF
A,6
B,0,1

SECTION_SHIFT_ON_REQUESTS
A,0,E,2
B,3,E,3

SECTION_SHIFT_OFF_REQUESTS
A,2,L,1

SECTION_COVER
0,E,1,100,1
1,E,1,100,1
2,L,1,100,1
3,E,2,100,1
4,E,1,100,1
"""


@needs_data
@pytest.mark.parametrize(
    ("name", "staff", "shifts", "requests", "covers", "best"),
    [
        ("Instance1", 8, 1, 26, 14, 607),
        ("Instance2", 14, 2, 62, 28, 828),
        ("Instance3", 20, 3, 64, 42, 1001),
    ],
)
def test_parser_reads_the_reference_instances(
    name: str, staff: int, shifts: int, requests: int, covers: int, best: int
) -> None:
    problem = curtois.read(DATA / f"{name}.txt")
    assert problem.days == 14
    assert len(problem.staff) == staff
    assert len(problem.shifts) == shifts
    assert len(problem.requests) == requests
    assert len(problem.covers) == covers
    assert problem.weekends == [(5, 6), (12, 13)]
    assert all(len(p.minute_limits) == 1 for p in problem.staff)
    assert all(len(p.days_off) >= 1 for p in problem.staff)
    assert curtois.best_known(DATA / f"{name}.txt") == best


@needs_data
def test_instance3_details() -> None:
    problem = curtois.read(DATA / "Instance3.txt")
    shifts = problem.shift_index
    assert shifts["L"].cannot_follow == frozenset({"E", "D"})
    assert shifts["D"].cannot_follow == frozenset({"E"})
    k = problem.staff_index["K"]
    assert (k.max_consecutive, k.min_consecutive, k.min_days_off, k.max_weekends) == (6, 2, 3, 1)
    p = problem.staff_index["P"]
    assert p.max_shifts == {"E": 14, "D": 14, "L": 2}
    assert (p.minute_limits[0].min_minutes, p.minute_limits[0].max_minutes) == (1200, 2160)
    assert not problem.staff_index["A"].may_work("L")


@needs_data
def test_solving_instance1_gives_a_feasible_roster_scored_by_the_benchmark() -> None:
    problem = curtois.read(DATA / "Instance1.txt")
    result = solver.solve(problem, time_limit=20, workers=1)
    evaluation = checker.evaluate(problem, result.assignments)
    assert result.found and evaluation.feasible
    assert result.objective == evaluation.objective
    assert evaluation.objective >= 607  # nothing beats the proven optimum


def test_small_instance_is_parsed_and_scored_by_hand() -> None:
    problem = curtois.parse(SMALL, "small")
    assert problem.days == 7
    assert problem.staff_index["B"].days_off == frozenset({0, 1})
    assert not problem.staff_index["B"].may_work("L")
    roster = [("A", 0, "E"), ("A", 1, "E"), ("A", 2, "L"), ("B", 3, "E"), ("B", 4, "E")]
    evaluation = checker.evaluate(problem, roster)
    # Cover: day 3 needs 2 E, has 1 -> 100. Requests: A's day-0 E met (0); B's day-3 E met (0);
    # A asked not to work L on day 2 and does -> 1. Total 101.
    assert evaluation.feasible, evaluation.violations
    assert evaluation.by_rule() == {"cover_under": 100, "shift_off_request": 1}
    assert evaluation.objective == 101
    # A late followed by an early breaks the rotation.
    rules = {v.rule for v in checker.evaluate(problem, [*roster, ("A", 3, "E")]).violations}
    assert "forbidden_sequence" in rules


def test_small_instance_solves_to_its_optimum() -> None:
    problem = curtois.parse(SMALL, "small")
    result = solver.solve(problem, time_limit=10, workers=1)
    assert result.status == "OPTIMAL"
    assert checker.evaluate(problem, result.assignments).objective == result.objective


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("SECTION_HORIZON\nseven\n", 2, "horizon"),
        ("SECTION_HORIZON\n7\nSECTION_SHIFTS\nE,480,X\n", 0, "unknown shift"),
        ("SECTION_HORIZON\n7\nSECTION_SHIFTS\nE,480,\nSECTION_STAFF\nA,E=7,1,1,1,1\n", 6, "8 fields"),
        ("SECTION_HORIZON\n7\nSECTION_WHATEVER\n", 3, "unknown section"),
        ("7\n", 1, "before the first section"),
        (SMALL.replace("4,E,1,100,1", "9,E,1,100,1"), 0, "outside the horizon"),
        (SMALL.replace("A,2,L,1", "Z,2,L,1"), 0, "unknown staff"),
        (SMALL.replace("SECTION_COVER", "SECTION_NOTHING"), 0, "unknown section"),
    ],
)
def test_malformed_instances_are_refused_with_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(InvalidInstance) as caught:
        curtois.parse(text)
    assert caught.value.code == "WORK-002"
    assert words in caught.value.detail
    if line:
        assert caught.value.params["line"] == line


def test_missing_sections_are_named() -> None:
    with pytest.raises(InvalidInstance, match="SECTION_COVER"):
        curtois.parse("SECTION_HORIZON\n7\nSECTION_SHIFTS\nE,480,\nSECTION_STAFF\nA,E=7,1,1,1,1,1,1\n")


def test_roster_bench_prints_the_result_as_the_last_line(tmp_path: Path) -> None:
    instance = tmp_path / "Small.txt"
    instance.write_text(SMALL)
    (tmp_path / "best.csv").write_text("instance,best_known_objective\nSmall,100\n")
    out = StringIO()
    call_command("roster_bench", str(instance), "--time-limit", "5", "--workers", "1", stdout=out)
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(result) == {"instance", "objective", "best_known", "gap", "seconds", "feasible"}
    assert result["instance"] == "Small"
    assert result["feasible"] is True
    assert result["best_known"] == 100
    assert result["gap"] == pytest.approx((result["objective"] - 100) / 100)


def test_roster_bench_refuses_a_missing_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="WORK-002"):
        call_command("roster_bench", str(tmp_path / "nothing.txt"))
    bad = tmp_path / "Bad.txt"
    bad.write_text("SECTION_HORIZON\nx\n")
    with pytest.raises(CommandError, match="WORK-002"):
        call_command("roster_bench", str(bad))
