"""Rosters through the services: generated in the background with CP-SAT, every hard rule holding
in the stored roster, requirements from forecasts and ratios, hand edits re-checked, publishing
(refused while a hard rule is broken) with notifications, and the coded errors."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.notifications.models import Notification
from smartcare.workforce import planning, selectors, services
from smartcare.workforce.choices import LeaveStatus, RosterStatus, StaffGroup
from smartcare.workforce.errors import (
    AlreadyDecided,
    InvalidPeriod,
    InvalidStaffRequest,
    NothingToRoster,
    NotInRoster,
    RosterBreaksRules,
    RosterNotEditable,
    RosterOverlaps,
)
from smartcare.workforce.models import (
    Assignment,
    ForecastPoint,
    Leave,
    Roster,
    RosterEdit,
    ShiftRequest,
    StaffingRatio,
)
from tests.workforce.world import Ward, add_history, make_ward


@pytest.fixture()
def ward(hospital: Any) -> Ward:
    return make_ward(hospital)


def next_monday() -> dt.date:
    today = clock.today()
    return today + dt.timedelta(days=7 - today.weekday())


def generate_roster(h: Any, start: dt.date, days: int = 14, capture: Any = None, limit: int = 5) -> Roster:
    with capture(execute=True):
        roster = services.create_roster(
            h.user("head"), "03.04", start, start + dt.timedelta(days=days - 1), time_limit=limit
        )
    roster.refresh_from_db()
    return roster


def test_a_generated_roster_keeps_every_hard_rule(
    hospital: Any, ward: Ward, django_capture_on_commit_callbacks: Any
) -> None:
    start = next_monday()
    away = ward.nurses[2]
    Leave.objects.create(
        practitioner=away,
        start_date=start + dt.timedelta(days=2),
        end_date=start + dt.timedelta(days=3),
        status=LeaveStatus.APPROVED,
    )
    wish = services.add_shift_request(away.user, start + dt.timedelta(days=8), "off", weight=3)
    roster = generate_roster(hospital, start, capture=django_capture_on_commit_callbacks)
    assert roster.status == RosterStatus.SOLVED, roster.report
    assert roster.objective is not None and roster.solver_status in ("OPTIMAL", "FEASIBLE")
    cells = {
        (a.practitioner_id, a.date): a.shift_type for a in roster.assignments.select_related("shift_type")
    }
    assert cells

    # Approved leave and the day-off wish (nothing prevents honouring it here).
    assert not [
        d
        for (p, d) in cells
        if p == away.pk and d in (start + dt.timedelta(days=2), start + dt.timedelta(days=3))
    ]
    assert (away.pk, wish.date) not in cells
    # Coverage per shift and skill.
    icu_nurses = {n.pk for n in ward.nurses[:3]}
    nurses = {n.pk for n in ward.nurses}
    for requirement in roster.requirements.select_related("shift_type"):
        present = [
            p
            for (p, d), st in cells.items()
            if d == requirement.date
            and st == requirement.shift_type
            and (p in nurses) == (requirement.group == StaffGroup.NURSE)
        ]
        if requirement.skill_id:
            present = [p for p in present if p in icu_nurses]
        assert len(present) >= requirement.required, requirement
    by_person: dict[int, dict[dt.date, Any]] = defaultdict(dict)
    for (p, d), st in cells.items():
        by_person[p][d] = st
    for person, days in by_person.items():
        run = 0
        for n in range(roster.days):
            day = start + dt.timedelta(days=n)
            shift = days.get(day)
            run = run + 1 if shift else 0
            # At most six working days in a row (the policy's default).
            assert run <= 6
            # Minimum rest (11 hours) and no early after a night.
            following = days.get(day + dt.timedelta(days=1))
            if shift and following:
                rest = 1440 + following.start_minute - shift.end_minute
                assert rest >= 11 * 60, (person, day, shift.code, following.code)
        # At most 48 hours in each week of the period.
        for week in range(0, roster.days, 7):
            minutes = sum(st.minutes for d, st in days.items() if week <= (d - start).days < week + 7)
            assert minutes <= 48 * 60
    # The report: the objective is the checker's score of the stored roster.
    evaluation = services.evaluate_roster(roster)
    assert evaluation.feasible
    assert evaluation.objective == roster.objective == roster.report["objective"]


def test_requirements_come_from_the_forecast_and_the_ratios(hospital: Any, ward: Ward) -> None:
    last_history = clock.today() - dt.timedelta(days=1)
    add_history(hospital.cardiology, last_history, 400)
    roster = services.create_roster(
        hospital.user("head"), "03.04", next_monday(), next_monday() + dt.timedelta(days=6), solve=False
    )
    assert services.ensure_forecasts(roster) == []
    requirements = planning.compute_requirements(roster)
    ratio = StaffingRatio.objects.get(shift_type=ward.shifts["E"], group=StaffGroup.NURSE)
    day = roster.start_date + dt.timedelta(days=2)
    early = next(
        r for r in requirements if r.date == day and r.shift_type == ward.shifts["E"] and r.group == "nurse"
    )
    values = {
        (p.date, p.half_day): p.value
        for p in ForecastPoint.objects.filter(
            run__department=hospital.cardiology, run__metric="inpatients", date=day
        )
    }
    workload = max(values[(day, "am")], values[(day, "pm")])  # the early shift (07-15) spans both
    demand = workload / float(ratio.per_staff)
    assert early.demand == pytest.approx(round(demand, 3))
    assert early.required == max(2, math.ceil(demand))
    assert early.band_low == max(early.required, math.ceil(demand / 0.9))
    assert early.band_high == max(early.band_low, math.floor(demand / 0.8))
    icu = next(r for r in requirements if r.date == day and r.skill_id == ward.icu.pk)  # type: ignore[union-attr]
    assert (icu.required, icu.demand, icu.band_low) == (1, 0, None)


def test_an_edit_is_checked_and_a_broken_rule_stops_publishing(
    hospital: Any, ward: Ward, django_capture_on_commit_callbacks: Any
) -> None:
    start = next_monday()
    roster = generate_roster(hospital, start, days=7, capture=django_capture_on_commit_callbacks)
    night = Assignment.objects.filter(
        roster=roster, shift_type=ward.shifts["N"], date=start + dt.timedelta(days=2)
    ).first()
    assert night is not None
    person, next_day = night.practitioner, night.date + dt.timedelta(days=1)
    head = hospital.user("head")
    # What the solver gave the person that day (usually a day off after a night; a feasible but
    # not optimal solution, on a busy machine, may give another night).
    before = Assignment.objects.filter(roster=roster, practitioner=person, date=next_day).first()
    original_shift = before.shift_type_id if before is not None else None

    result = services.edit_assignment(head, roster.pk, person.pk, next_day, ward.shifts["E"].pk, "swap asked")
    rules = {v["rule"] for v in result.violations}
    assert "forbidden_sequence" in rules
    edit = RosterEdit.objects.get(roster=roster)
    assert (edit.current, edit.reason) == ("E", "swap asked") and edit.violations == result.violations
    assert Assignment.objects.get(roster=roster, practitioner=person, date=next_day).source == "manual"
    with pytest.raises(RosterBreaksRules) as caught:
        services.publish_roster(head, roster.pk)
    assert caught.value.code == "WORK-005"
    assert Roster.objects.get(pk=roster.pk).status == RosterStatus.SOLVED

    # Back to what the solver gave: every hard rule holds again, and the roster is published and sent.
    services.edit_assignment(head, roster.pk, person.pk, next_day, original_shift)
    published = services.publish_roster(head, roster.pk)
    assert published.status == RosterStatus.PUBLISHED and published.published_by == head
    members = list(roster.members.select_related("practitioner__user"))
    for member in members:
        assert Notification.objects.filter(recipient=member.practitioner.user, category="roster").exists()
    # A change after publishing is sent to the person concerned.
    before = Notification.objects.filter(recipient=person.user).count()
    services.edit_assignment(head, roster.pk, person.pk, start + dt.timedelta(days=6), None)
    services.edit_assignment(head, roster.pk, person.pk, start + dt.timedelta(days=6), ward.shifts["L"].pk)
    assert Notification.objects.filter(recipient=person.user).count() >= before + 1


def test_solving_again_keeps_hand_edits(
    hospital: Any, ward: Ward, django_capture_on_commit_callbacks: Any
) -> None:
    start = next_monday()
    roster = generate_roster(hospital, start, days=7, capture=django_capture_on_commit_callbacks)
    nurse = ward.nurses[4]
    services.edit_assignment(hospital.user("head"), roster.pk, nurse.pk, start, ward.shifts["L"].pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_solve(hospital.user("head"), roster.pk, time_limit=3)
    roster.refresh_from_db()
    assert roster.status == RosterStatus.SOLVED
    kept = Assignment.objects.get(roster=roster, practitioner=nurse, date=start)
    assert (kept.shift_type.code, kept.source) == ("L", "manual")


def test_no_roster_without_enough_people_and_the_report_says_why(
    hospital: Any, ward: Ward, django_capture_on_commit_callbacks: Any
) -> None:
    StaffingRatio.objects.filter(shift_type=ward.shifts["E"], group=StaffGroup.NURSE).update(minimum=7)
    roster = generate_roster(hospital, next_monday(), days=7, capture=django_capture_on_commit_callbacks)
    assert roster.status == RosterStatus.FAILED
    assert roster.solver_status == "INFEASIBLE"
    assert not roster.assignments.exists()
    assert "coverage" in roster.report["conflicting"]
    shortage = roster.report["shortages"][0]
    assert (shortage["shift"], shortage["required"], shortage["available"]) == ("E", 7, 6)


def test_publishing_refuses_an_overlap(
    hospital: Any, ward: Ward, django_capture_on_commit_callbacks: Any
) -> None:
    start = next_monday()
    first = generate_roster(hospital, start, days=7, capture=django_capture_on_commit_callbacks)
    services.publish_roster(hospital.user("head"), first.pk)
    second = generate_roster(
        hospital, start + dt.timedelta(days=3), days=7, capture=django_capture_on_commit_callbacks
    )
    with pytest.raises(RosterOverlaps):
        services.publish_roster(hospital.user("head"), second.pk)
    assert Roster.objects.get(pk=second.pk).status == RosterStatus.SOLVED


def test_coded_errors_of_rosters(hospital: Any, ward: Ward) -> None:
    head, manager = hospital.user("head"), hospital.user("manager")
    start = next_monday()
    with pytest.raises(InvalidPeriod):
        services.create_roster(head, "03.04", start, start - dt.timedelta(days=1))
    with pytest.raises(InvalidPeriod):
        services.create_roster(head, "03.04", start, start + dt.timedelta(days=90))
    with pytest.raises(NotFound):  # the cardiology head does not plan neurology
        services.create_roster(head, "03.03", start, start + dt.timedelta(days=6))
    with pytest.raises(NothingToRoster):  # the manager plans neurology, which has no shift types
        services.create_roster(manager, "03.03", start, start + dt.timedelta(days=6))
    roster = services.create_roster(head, "03.04", start, start + dt.timedelta(days=6))
    assert roster.status == RosterStatus.SOLVING  # the solve waits for the commit
    with pytest.raises(RosterNotEditable):
        services.edit_assignment(head, roster.pk, ward.nurses[0].pk, start, ward.shifts["E"].pk)
    Roster.objects.filter(pk=roster.pk).update(status=RosterStatus.DRAFT)
    with pytest.raises(NotInRoster):
        services.edit_assignment(head, roster.pk, hospital.user("neurologist").practitioner.pk, start, None)
    with pytest.raises(InvalidPeriod):
        services.edit_assignment(head, roster.pk, ward.nurses[0].pk, start - dt.timedelta(days=1), None)
    with pytest.raises(NotFound):
        selectors.roster_for_planner(hospital.user("manager"), 10**9)
    assert not roster.assignments.exists()
    assert Roster.objects.count() == 1


def test_wishes_and_leave(hospital: Any, ward: Ward) -> None:
    nurse = hospital.user("nurse")
    day = next_monday()
    wish = services.add_shift_request(nurse, day, "on", ward.shifts["L"].pk, weight=2, note="school run")
    again = services.add_shift_request(nurse, day, "off")
    assert again.pk == wish.pk and ShiftRequest.objects.get(pk=wish.pk).kind == "off"
    with pytest.raises(InvalidStaffRequest):
        services.add_shift_request(nurse, clock.today() - dt.timedelta(days=1), "off")
    with pytest.raises(InvalidStaffRequest):
        services.add_shift_request(nurse, day, "maybe")
    leave = services.request_leave(nurse, day, day + dt.timedelta(days=2), "annual")
    with pytest.raises(InvalidStaffRequest):
        services.request_leave(nurse, day, day - dt.timedelta(days=2))
    with pytest.raises(NotFound):
        services.decide_leave(hospital.user("manager"), 10**9, True)
    decided = services.decide_leave(hospital.user("head"), leave.pk, approve=True)
    assert decided.status == LeaveStatus.APPROVED
    assert Notification.objects.filter(recipient=nurse, category="roster").exists()
    with pytest.raises(AlreadyDecided):
        services.decide_leave(hospital.user("head"), leave.pk, approve=False)
