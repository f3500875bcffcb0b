"""Test data for the workforce module: a ward with shift types, staffing ratios and staff, workload
history with real calendar patterns, and rosters written directly."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from smartcare.accounts.choices import Role
from smartcare.organization.choices import Title
from smartcare.organization.models import Department, Practitioner, Skill
from smartcare.simulation.workload_patterns import generate
from smartcare.workforce.choices import Metric, RosterStatus, StaffGroup, WorkloadSource
from smartcare.workforce.models import (
    Assignment,
    Roster,
    RosterMember,
    RosterPolicy,
    RosterRequirement,
    ShiftType,
    StaffingRatio,
    StaffProfile,
    WorkloadRecord,
)
from tests.factories import TestHospital, staff


@dataclass
class Ward:
    department: Department
    shifts: dict[str, ShiftType]
    nurses: list[Practitioner] = field(default_factory=list)
    doctors: list[Practitioner] = field(default_factory=list)
    icu: Skill | None = None

    @property
    def people(self) -> list[Practitioner]:
        return self.doctors + self.nurses


def make_ward(h: TestHospital, *, extra_nurses: int = 5, extra_doctors: int = 2, prefix: str = "w") -> Ward:
    """Cardiology with early (07-15), late (15-23) and night (23-07) shifts. Nurses: 1 per 8
    occupied beds on the early shift (at least 2), 1 per 12 on the late and night shifts (at
    least 1), one with intensive-care skill every night; doctors: one per 30 outpatient visits on
    the early shift (at least 1) and one every night."""
    department = h.cardiology
    RosterPolicy.objects.get_or_create(department=department)
    shifts = {
        "E": ShiftType.objects.create(
            department=department,
            code="E",
            name_zh="早班",
            name_en="Early",
            start_time=dt.time(7),
            end_time=dt.time(15),
        ),
        "L": ShiftType.objects.create(
            department=department,
            code="L",
            name_zh="中班",
            name_en="Late",
            start_time=dt.time(15),
            end_time=dt.time(23),
        ),
        "N": ShiftType.objects.create(
            department=department,
            code="N",
            name_zh="夜班",
            name_en="Night",
            start_time=dt.time(23),
            end_time=dt.time(7),
            is_night=True,
        ),
    }
    shifts["N"].cannot_follow.add(shifts["E"])  # no early after a night (also too little rest)
    icu, _created = Skill.objects.get_or_create(
        code="icu", defaults={"name_zh": "重症监护", "name_en": "Intensive care"}
    )
    ward = Ward(department=department, shifts=shifts, icu=icu)
    ward.nurses.append(h.user("nurse").practitioner)
    ward.doctors += [h.user("doctor").practitioner, h.user("head").practitioner]
    for n in range(extra_nurses):
        user = staff(f"{prefix}nurse{n}", Role.NURSE, department, Title.NURSE)
        ward.nurses.append(user.practitioner)
    for n in range(extra_doctors):
        user = staff(f"{prefix}doc{n}", Role.DOCTOR, department)
        ward.doctors.append(user.practitioner)
    for nurse in ward.nurses[:3]:
        nurse.skills.add(icu)
    for person in ward.people:
        StaffProfile.objects.get_or_create(practitioner=person)
    beds = Metric.INPATIENTS
    visits = Metric.OUTPATIENT_VISITS
    for code, group, metric, per_staff, minimum, skill in (
        ("E", StaffGroup.NURSE, beds, "8", 2, None),
        ("L", StaffGroup.NURSE, beds, "12", 1, None),
        ("N", StaffGroup.NURSE, beds, "12", 1, None),
        ("N", StaffGroup.NURSE, "", None, 1, icu),
        ("E", StaffGroup.DOCTOR, visits, "30", 1, None),
        ("N", StaffGroup.DOCTOR, "", None, 1, None),
    ):
        StaffingRatio.objects.create(
            shift_type=shifts[code],
            group=group,
            metric=metric,
            per_staff=Decimal(per_staff) if per_staff else None,
            minimum=minimum,
            skill=skill,
        )
    return ward


def add_history(department: Department, last: dt.date, days: int, seed: int = 1) -> int:
    rows = generate(department.code, last - dt.timedelta(days=days - 1), last, random.Random(seed))
    WorkloadRecord.objects.bulk_create(
        [WorkloadRecord(department=department, source=WorkloadSource.IMPORTED, **row) for row in rows],
        batch_size=2000,
    )
    return len(rows)


def written_roster(
    h: TestHospital,
    department: Department,
    start: dt.date,
    days: int,
    cells: dict[tuple[Any, int], ShiftType],
    *,
    status: str = RosterStatus.SOLVED,
    members: list[Practitioner] | None = None,
    requirements: list[tuple[int, ShiftType, str, int]] | None = None,
) -> Roster:
    """A roster written directly (no solver): ``cells`` maps (practitioner, day) to a shift."""
    roster = Roster.objects.create(
        department=department,
        start_date=start,
        end_date=start + dt.timedelta(days=days - 1),
        created_by=h.user("head"),
        status=status,
        report={"violations": [], "broken": []},
    )
    people = members or list({p.pk: p for p, _d in cells}.values())
    for person in people:
        group = StaffGroup.NURSE if person.user.role == Role.NURSE else StaffGroup.DOCTOR
        RosterMember.objects.create(roster=roster, practitioner=person, group=group)
    Assignment.objects.bulk_create(
        [
            Assignment(roster=roster, practitioner=p, date=start + dt.timedelta(days=d), shift_type=s)
            for (p, d), s in cells.items()
        ]
    )
    for day, shift, group, required in requirements or []:
        RosterRequirement.objects.create(
            roster=roster,
            date=start + dt.timedelta(days=day),
            shift_type=shift,
            group=group,
            required=required,
        )
    return roster
