"""Indicators computed by other apps' selectors, on small hand-counted fixtures: record writing
time (EMR notes), staff load and staff satisfaction (published rosters and shift ratings),
research projects (approved projects, annualised)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.accounts.choices import Role
from smartcare.emr.choices import EncounterKind, EncounterStatus, NoteStatus
from smartcare.emr.models import Encounter, Note
from smartcare.kpi import selectors
from smartcare.organization.choices import Title
from smartcare.research.models.projects import ProjectStatus, ResearchProject
from smartcare.workforce.choices import RosterStatus, StaffGroup
from smartcare.workforce.models import (
    Assignment,
    Roster,
    RosterMember,
    RosterRequirement,
    ShiftFeedback,
    ShiftType,
)
from tests.factories import PatientFactory, build_hospital, staff
from tests.kpi.cockpit_world import MONDAY, WEEK, local

pytestmark = pytest.mark.django_db


def values(period: str, department: Any = None) -> dict[str, selectors.Result]:
    return {r.code: r for r in selectors.evaluate(period, department, use_facts=False).results}


def test_writing_time_is_the_mean_over_signed_notes(db: Any) -> None:
    h = build_hospital()
    doctor = h.users["doctor"]
    for seconds, status in ((300, NoteStatus.SIGNED), (900, NoteStatus.AMENDED), (60, NoteStatus.DRAFT)):
        encounter = Encounter.objects.create(
            patient=PatientFactory(),
            kind=EncounterKind.OUTPATIENT,
            department=h.cardiology,
            status=EncounterStatus.FINISHED,
            started_at=local(MONDAY, 9),
        )
        Note.objects.create(
            encounter=encounter,
            author=doctor,
            status=status,
            opened_at=local(MONDAY, 9),
            signed_at=local(MONDAY, 10) if status != NoteStatus.DRAFT else None,
            writing_seconds=seconds,
        )
    result = values(WEEK)["note_writing_minutes"]
    assert (result.numerator, result.denominator) == (20.0, 2)  # (5 + 15) minutes over 2 notes
    assert result.value == pytest.approx(10.0)
    assert result.status == selectors.ON_TARGET  # at most 10 minutes
    assert values(WEEK, h.neurology)["note_writing_minutes"].status == selectors.NO_DATA


def test_staff_load_and_satisfaction_from_published_rosters(db: Any) -> None:
    h = build_hospital()
    nurses = [
        h.users["nurse"].practitioner,
        staff("nurse2", Role.NURSE, h.cardiology, Title.NURSE).practitioner,
    ]
    day = ShiftType.objects.create(
        department=h.cardiology,
        code="D",
        name_zh="白班",
        name_en="Day",
        start_time=dt.time(8),
        end_time=dt.time(16),
    )
    roster = Roster.objects.create(
        department=h.cardiology,
        start_date=MONDAY,
        end_date=MONDAY + dt.timedelta(days=6),
        created_by=h.users["head"],
        status=RosterStatus.PUBLISHED,
    )
    RosterRequirement.objects.create(
        roster=roster, date=MONDAY, shift_type=day, group=StaffGroup.NURSE, required=2, demand=1.7
    )
    for nurse, rating in zip(nurses, (5, 3), strict=True):
        RosterMember.objects.create(roster=roster, practitioner=nurse, group=StaffGroup.NURSE)
        assignment = Assignment.objects.create(roster=roster, practitioner=nurse, date=MONDAY, shift_type=day)
        ShiftFeedback.objects.create(assignment=assignment, rating=rating)
    r = values(WEEK)
    assert r["staff_load"].value == pytest.approx(0.85)  # 1.7 people of demand over 2 rostered
    assert r["staff_load"].status == selectors.ON_TARGET  # inside 80-90 %
    assert (r["staff_satisfaction"].numerator, r["staff_satisfaction"].denominator) == (1, 2)
    assert r["staff_satisfaction"].status == selectors.OFF_TARGET  # 50 % against 85 %


def test_research_projects_are_annualised(db: Any) -> None:
    h = build_hospital()
    for n, status in enumerate((ProjectStatus.APPROVED, ProjectStatus.CLOSED, ProjectStatus.SUBMITTED)):
        ResearchProject.objects.create(
            title=f"Study {n}",
            aims="aims",
            ethics_number=f"E-{n}",
            ethics_valid_from=dt.date(2026, 1, 1),
            ethics_valid_until=dt.date(2027, 1, 1),
            principal_investigator=h.users["researcher"],
            status=status,
            decided_at=local(dt.date(2026, 3, 10), 10) if status != ProjectStatus.SUBMITTED else None,
        )
    quarter = values("2026-Q1")["research_projects"]
    assert (quarter.numerator, quarter.denominator) == (2, 90)  # approved or closed, 90 days
    assert quarter.value == pytest.approx(2 / 90 * 365)
    assert quarter.status == selectors.OFF_TARGET  # 8.1 a year against at least 10
    assert values("2026")["research_projects"].value == pytest.approx(2.0)
    assert values("2026-03", h.cardiology)["research_projects"].status == selectors.NO_DATA  # hospital only


def test_patient_satisfaction_reads_the_follow_up_surveys(db: Any) -> None:
    from smartcare.core import clock
    from smartcare.emr.icd10 import ensure_icd10
    from smartcare.followup.seed import ensure_followup_content
    from smartcare.knowledge.seed import ensure_seed
    from tests.followup.test_satisfaction import ALL_SATISFIED, UNHAPPY, _answer

    ensure_seed()
    ensure_icd10()
    ensure_followup_content()
    h = build_hospital()
    now = clock.now()
    for answers in (ALL_SATISFIED, ALL_SATISFIED, ALL_SATISFIED, UNHAPPY):
        _answer(h, answers, h.cardiology, now)
    today = clock.today().isoformat()
    result = values(today)["patient_satisfaction"]
    assert (result.numerator, result.denominator) == (3, 4)
    assert result.status == selectors.OFF_TARGET  # 75 % against at least 90 %
    assert values(today, h.neurology)["patient_satisfaction"].status == selectors.NO_DATA
