"""The Curtois & Qu shift-scheduling benchmark format (schedulingbenchmarks.org, "Nurse Rostering
Instances"), read into a ``Problem`` that keeps exactly the benchmark's rules and objective.

Sections: ``SECTION_HORIZON`` (days), ``SECTION_SHIFTS`` (id, minutes, shifts that may not follow
it), ``SECTION_STAFF`` (id, MaxShifts per type, MaxTotalMinutes, MinTotalMinutes,
MaxConsecutiveShifts, MinConsecutiveShifts, MinConsecutiveDaysOff, MaxWeekends),
``SECTION_DAYS_OFF``, ``SECTION_SHIFT_ON_REQUESTS`` and ``SECTION_SHIFT_OFF_REQUESTS`` (person,
day, shift, weight), ``SECTION_COVER`` (day, shift, requirement, weight under, weight over).
Lines starting with ``#`` are comments. Every instance starts on a Monday.

Objective: the weights of unmet shift-on requests, of met shift-off requests, and per person
below (above) each cover requirement its under (over) weight. Everything else is hard.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from smartcare.workforce.engine.problem import (
    CoverDef,
    MinuteLimit,
    Problem,
    RequestDef,
    ShiftDef,
    StaffDef,
    weekends_from_monday,
)
from smartcare.workforce.errors import InvalidInstance

SECTIONS = (
    "SECTION_HORIZON",
    "SECTION_SHIFTS",
    "SECTION_STAFF",
    "SECTION_DAYS_OFF",
    "SECTION_SHIFT_ON_REQUESTS",
    "SECTION_SHIFT_OFF_REQUESTS",
    "SECTION_COVER",
)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if line and not line.startswith("#"):
            yield number, line


def _int(value: str, line: int, what: str, minimum: int = 0) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidInstance(line=line, problem=f"{what} is not a whole number: {value!r}") from None
    if number < minimum:
        raise InvalidInstance(line=line, problem=f"{what} must be at least {minimum}: {number}")
    return number


def parse(text: str, name: str = "instance") -> Problem:
    """Read an instance; any malformed line raises ``InvalidInstance`` (WORK-002) with its number."""
    rows: dict[str, list[tuple[int, list[str]]]] = {s: [] for s in SECTIONS}
    section: str | None = None
    for number, line in _lines(text):
        if line.startswith("SECTION_"):
            if line not in rows:
                raise InvalidInstance(line=number, problem=f"unknown section {line}")
            section = line
            continue
        if section is None:
            raise InvalidInstance(line=number, problem="data before the first section")
        rows[section].append((number, [cell.strip() for cell in next(csv.reader([line]))]))

    def require(section: str) -> None:
        if not rows[section]:
            raise InvalidInstance(line=0, problem=f"{section} is missing or empty")

    require("SECTION_HORIZON")
    horizon_line, horizon_cells = rows["SECTION_HORIZON"][0]
    days = _int(horizon_cells[0], horizon_line, "horizon", minimum=1)

    require("SECTION_SHIFTS")
    shifts: list[ShiftDef] = []
    follow: dict[str, tuple[int, list[str]]] = {}
    for number, cells in rows["SECTION_SHIFTS"]:
        if len(cells) < 2 or not cells[0]:
            raise InvalidInstance(line=number, problem="a shift needs an id and a length")
        minutes = _int(cells[1], number, "shift length", minimum=1)
        blocked = [s for s in (cells[2].split("|") if len(cells) > 2 else []) if s.strip()]
        follow[cells[0]] = (number, [s.strip() for s in blocked])
        shifts.append(ShiftDef(cells[0], minutes))
    known = {s.id for s in shifts}
    if len(known) != len(shifts):
        raise InvalidInstance(line=rows["SECTION_SHIFTS"][0][0], problem="shift ids repeat")
    for number, blocked in follow.values():
        for other in blocked:
            if other not in known:
                raise InvalidInstance(line=number, problem=f"unknown shift {other!r}")
    shifts = [ShiftDef(s.id, s.minutes, frozenset(follow[s.id][1])) for s in shifts]

    require("SECTION_STAFF")
    staff: dict[str, StaffDef] = {}
    for number, cells in rows["SECTION_STAFF"]:
        if len(cells) != 8:
            raise InvalidInstance(line=number, problem=f"a staff line has 8 fields, not {len(cells)}")
        person_id = cells[0]
        if not person_id or person_id in staff:
            raise InvalidInstance(line=number, problem=f"missing or repeated staff id {person_id!r}")
        max_shifts: dict[str, int] = {}
        for part in filter(None, cells[1].split("|")):
            shift_id, sep, limit = part.partition("=")
            if not sep or shift_id.strip() not in known:
                raise InvalidInstance(line=number, problem=f"bad MaxShifts entry {part!r}")
            max_shifts[shift_id.strip()] = _int(limit, number, "MaxShifts")
        max_minutes = _int(cells[2], number, "MaxTotalMinutes")
        min_minutes = _int(cells[3], number, "MinTotalMinutes")
        staff[person_id] = StaffDef(
            id=person_id,
            max_shifts=max_shifts,
            minute_limits=[MinuteLimit(0, days - 1, min_minutes, max_minutes)],
            max_consecutive=_int(cells[4], number, "MaxConsecutiveShifts"),
            min_consecutive=_int(cells[5], number, "MinConsecutiveShifts"),
            min_days_off=_int(cells[6], number, "MinConsecutiveDaysOff"),
            max_weekends=_int(cells[7], number, "MaxWeekends"),
            groups=frozenset({"all"}),
        )

    def person(person_id: str, number: int) -> StaffDef:
        if person_id not in staff:
            raise InvalidInstance(line=number, problem=f"unknown staff id {person_id!r}")
        return staff[person_id]

    def day_index(value: str, number: int) -> int:
        day = _int(value, number, "day")
        if day >= days:
            raise InvalidInstance(line=number, problem=f"day {day} is outside the horizon of {days} days")
        return day

    for number, cells in rows["SECTION_DAYS_OFF"]:
        someone = person(cells[0], number)
        someone.days_off = someone.days_off | {day_index(v, number) for v in cells[1:] if v}

    requests: list[RequestDef] = []
    for section, on in (("SECTION_SHIFT_ON_REQUESTS", True), ("SECTION_SHIFT_OFF_REQUESTS", False)):
        for number, cells in rows[section]:
            if len(cells) != 4:
                raise InvalidInstance(line=number, problem="a request has 4 fields")
            if cells[2] not in known:
                raise InvalidInstance(line=number, problem=f"unknown shift {cells[2]!r}")
            requests.append(
                RequestDef(
                    person(cells[0], number).id,
                    day_index(cells[1], number),
                    cells[2],
                    on,
                    _int(cells[3], number, "weight"),
                )
            )

    require("SECTION_COVER")
    covers: list[CoverDef] = []
    for number, cells in rows["SECTION_COVER"]:
        if len(cells) != 5:
            raise InvalidInstance(line=number, problem="a cover line has 5 fields")
        if cells[1] not in known:
            raise InvalidInstance(line=number, problem=f"unknown shift {cells[1]!r}")
        covers.append(
            CoverDef(
                day=day_index(cells[0], number),
                shift=cells[1],
                requirement=_int(cells[2], number, "requirement"),
                under_weight=_int(cells[3], number, "weight for under"),
                over_weight=_int(cells[4], number, "weight for over"),
            )
        )
    return Problem(
        name=name,
        days=days,
        shifts=shifts,
        staff=list(staff.values()),
        covers=covers,
        requests=requests,
        weekends=weekends_from_monday(days),
    )


def read(path: str | Path) -> Problem:
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), name=path.stem)


def best_known(path: str | Path) -> int | None:
    """The best known objective of an instance, from a ``*.csv`` beside it (instance, value)."""
    path = Path(path)
    for candidate in sorted(path.parent.glob("*.csv")):
        with candidate.open(encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) >= 2 and row[0].strip() == path.stem:
                    try:
                        return int(float(row[1]))
                    except ValueError:
                        continue
    return None


def write_solution(problem: Problem, assignments: list[tuple[str, int, str]]) -> str:
    """The roster as text: one line per person, one cell per day (empty for a day off)."""
    grid = {(p, d): s for p, d, s in assignments}
    out = io.StringIO()
    for person in problem.staff:
        out.write(
            person.id + "\t" + "\t".join(grid.get((person.id, d), "") for d in range(problem.days)) + "\n"
        )
    return out.getvalue()
