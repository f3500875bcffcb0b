"""Permission rules for the workforce pages under /workforce/ and the API under /api/workforce/.

``workforce.plan`` (department heads for their own department, operations managers for all)
opens the planner's pages and operations; ``workforce.own_shifts`` (doctors, nurses, department
heads) opens one's own shifts, wishes, leave and ratings. Among the test callers only the
cardiology head plans; the cardiology doctor (CARE) owns the rated shift, so the other clinicians
get 404 CORE-404 for it, as for a shift that does not exist. Everyone else gets 403 CORE-403.

``setup`` gives cardiology a day shift with a staffing ratio, 200 days of workload history, a
solved roster for a future week, a published roster of last week with the doctor's shift, a
requested leave and a pending suggestion (written directly: the callers must not change the world).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from smartcare.core import clock
from smartcare.notifications.models import Notification
from smartcare.simulation.workload_patterns import generate
from smartcare.workforce.choices import (
    LeaveStatus,
    RosterStatus,
    StaffGroup,
    SuggestionKind,
    SuggestionStatus,
    WorkloadSource,
)
from smartcare.workforce.models import (
    Assignment,
    Leave,
    Roster,
    RosterMember,
    RosterPolicy,
    RosterRequirement,
    ShiftFeedback,
    ShiftRequest,
    ShiftType,
    StaffingRatio,
    StaffProfile,
    Suggestion,
    WeeklySummary,
    WorkloadRecord,
)
from tests.test_permissions import BREAK_GLASS, CARE, HEAD, NO_CARE, Rule, World

PLANNER = frozenset({HEAD})
OWN = frozenset({CARE, NO_CARE, BREAK_GLASS, HEAD})
NOT_MINE = {NO_CARE: 404, BREAK_GLASS: 404, HEAD: 404}


def setup(world: World) -> None:
    h = world.h
    cardiology = h.cardiology
    RosterPolicy.objects.create(department=cardiology)
    day = ShiftType.objects.create(
        department=cardiology,
        code="D",
        name_zh="白班",
        name_en="Day",
        start_time=dt.time(8),
        end_time=dt.time(16),
    )
    StaffingRatio.objects.create(shift_type=day, group=StaffGroup.NURSE, minimum=1)
    doctor, nurse, head = (h.user(n).practitioner for n in ("doctor", "nurse", "head"))
    for person in (doctor, nurse, head):
        StaffProfile.objects.create(practitioner=person, min_hours_per_week=Decimal(0))
    today = clock.today()
    rows = generate(
        cardiology.code, today - dt.timedelta(days=200), today - dt.timedelta(days=1), random.Random(3)
    )
    WorkloadRecord.objects.bulk_create(
        [WorkloadRecord(department=cardiology, source=WorkloadSource.IMPORTED, **row) for row in rows]
    )
    start = today + dt.timedelta(days=7 - today.weekday())
    future = Roster.objects.create(
        department=cardiology,
        start_date=start,
        end_date=start + dt.timedelta(days=4),
        created_by=h.user("head"),
        status=RosterStatus.SOLVED,
        report={"violations": [], "broken": []},
    )
    for person, group in ((doctor, StaffGroup.DOCTOR), (nurse, StaffGroup.NURSE), (head, StaffGroup.DOCTOR)):
        RosterMember.objects.create(roster=future, practitioner=person, group=group)
    for n in range(5):
        date = start + dt.timedelta(days=n)
        Assignment.objects.create(roster=future, practitioner=nurse, date=date, shift_type=day)
        RosterRequirement.objects.create(
            roster=future, date=date, shift_type=day, group=StaffGroup.NURSE, required=1
        )
    last_week = start - dt.timedelta(days=14)
    past = Roster.objects.create(
        department=cardiology,
        start_date=last_week,
        end_date=last_week + dt.timedelta(days=6),
        created_by=h.user("head"),
        status=RosterStatus.PUBLISHED,
    )
    RosterMember.objects.create(roster=past, practitioner=doctor, group=StaffGroup.DOCTOR)
    worked = Assignment.objects.create(roster=past, practitioner=doctor, date=last_week, shift_type=day)
    leave = Leave.objects.create(
        practitioner=nurse, start_date=start + dt.timedelta(days=20), end_date=start + dt.timedelta(days=22)
    )
    summary = WeeklySummary.objects.create(
        department=cardiology, week_start=last_week, ratings=4, satisfied=1
    )
    suggestion = Suggestion.objects.create(
        summary=summary,
        kind=SuggestionKind.WEIGHT,
        field_name="weight_night_fairness",
        current_value=Decimal(6),
        proposed_value=Decimal(9),
    )
    world.extra.update(
        wf_roster=future,
        wf_worked=worked,
        wf_leave=leave,
        wf_suggestion=suggestion,
        wf_shift=day,
        wf_start=start,
    )


def _roster(world: World, missing: bool) -> dict[str, Any]:
    return {"roster_id": world.extra["wf_roster"].pk}


def _assignment(world: World, missing: bool) -> dict[str, Any]:
    return {"assignment_id": world.extra["wf_worked"].pk}


def _suggestion(world: World, missing: bool) -> dict[str, Any]:
    return {"suggestion_id": world.extra["wf_suggestion"].pk}


def _leave(world: World, missing: bool) -> dict[str, Any]:
    return {"leave_id": world.extra["wf_leave"].pk}


def _edit(world: World, missing: bool) -> dict[str, Any]:
    return {
        "practitioner_id": world.h.user("doctor").practitioner.pk,
        "date": (world.extra["wf_start"] + dt.timedelta(days=1)).isoformat(),
        "shift_type_id": world.extra["wf_shift"].pk,
    }


def _new_roster(world: World, missing: bool) -> dict[str, Any]:
    start = world.extra["wf_start"] + dt.timedelta(days=14)
    return {
        "department": "03.04",
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=2)).isoformat(),
        "time_limit": 2,
    }


CSV = "department,date,half_day,inpatients,admissions\n03.04,2025-01-06,am,40,3\n03.04,2025-01-06,pm,41,2\n"


def _published(world: World, kind: str, response: Any) -> None:
    roster = Roster.objects.get(pk=world.extra["wf_roster"].pk)
    assert roster.status == RosterStatus.PUBLISHED
    assert Notification.objects.filter(recipient=world.h.user("nurse"), category="roster").exists()


def _edited(world: World, kind: str, response: Any) -> None:
    assert Assignment.objects.filter(
        roster=world.extra["wf_roster"], practitioner=world.h.user("doctor").practitioner, source="manual"
    ).exists()


def _rated(world: World, kind: str, response: Any) -> None:
    assert ShiftFeedback.objects.get(assignment=world.extra["wf_worked"]).rating == 4


def _suggestion_accepted(world: World, kind: str, response: Any) -> None:
    assert Suggestion.objects.get(pk=world.extra["wf_suggestion"].pk).status == SuggestionStatus.ACCEPTED
    assert RosterPolicy.objects.get(department=world.h.cardiology).weight_night_fairness == 9


def _leave_approved(world: World, kind: str, response: Any) -> None:
    assert Leave.objects.get(pk=world.extra["wf_leave"].pk).status == LeaveStatus.APPROVED


def _imported(world: World, kind: str, response: Any) -> None:
    assert (
        WorkloadRecord.objects.get(department=world.h.cardiology, date="2025-01-06", half_day="am").inpatients
        == 40
    )


def _requested(world: World, kind: str, response: Any) -> None:
    assert ShiftRequest.objects.filter(practitioner__user=world.user).exists()


RULES: list[Rule] = [
    # --- pages: planner ---
    Rule("GET", "/workforce/", PLANNER),
    Rule("GET", "/workforce/rosters/", PLANNER),
    Rule(
        "POST",
        "/workforce/rosters/",
        PLANNER,
        ok=302,
        payload=lambda w, m: {**_new_roster(w, m), "time_limit": "2"},
        effect=lambda w, k, r: Roster.objects.get(start_date=w.extra["wf_start"] + dt.timedelta(days=14)),
    ),
    Rule("GET", "/workforce/rosters/{roster_id}/", PLANNER, params=_roster),
    Rule(
        "POST",
        "/workforce/rosters/{roster_id}/assign/",
        PLANNER,
        ok=302,
        params=_roster,
        payload=lambda w, m: {
            "practitioner": _edit(w, m)["practitioner_id"],
            "date": _edit(w, m)["date"],
            "shift_type": _edit(w, m)["shift_type_id"],
        },
        effect=_edited,
    ),
    Rule(
        "POST", "/workforce/rosters/{roster_id}/publish/", PLANNER, ok=302, params=_roster, effect=_published
    ),
    Rule("POST", "/workforce/rosters/{roster_id}/solve/", PLANNER, ok=302, params=_roster),
    Rule("GET", "/workforce/forecast/", PLANNER),
    Rule(
        "POST",
        "/workforce/forecast/",
        PLANNER,
        ok=302,
        payload=lambda w, m: {"department": "03.04", "metric": "inpatients"},
    ),
    Rule("GET", "/workforce/load/", PLANNER),
    Rule("GET", "/workforce/workload/import/", PLANNER),
    Rule(
        "POST",
        "/workforce/workload/import/",
        PLANNER,
        payload=lambda w, m: {"file": SimpleUploadedFile("history.csv", CSV.encode(), "text/csv")},
        effect=_imported,
    ),
    Rule("GET", "/workforce/feedback/", PLANNER),
    Rule(
        "POST",
        "/workforce/suggestions/{suggestion_id}/decide/",
        PLANNER,
        ok=302,
        params=_suggestion,
        payload=lambda w, m: {"decision": "accept"},
        effect=_suggestion_accepted,
    ),
    Rule(
        "POST",
        "/workforce/leave/{leave_id}/decide/",
        PLANNER,
        ok=302,
        params=_leave,
        payload=lambda w, m: {"decision": "approve"},
        effect=_leave_approved,
    ),
    # --- pages: one's own shifts ---
    Rule("GET", "/workforce/my-shifts/", OWN),
    Rule(
        "POST",
        "/workforce/my-shifts/{assignment_id}/rate/",
        frozenset({CARE}),
        ok=302,
        special=NOT_MINE,
        params=_assignment,
        payload=lambda w, m: {"rating": "4"},
        effect=_rated,
    ),
    Rule(
        "POST",
        "/workforce/my-shifts/request/",
        OWN,
        ok=302,
        payload=lambda w, m: {
            "what": "request",
            "date": (w.extra["wf_start"] + dt.timedelta(days=30)).isoformat(),
            "kind": "off",
        },
        effect=_requested,
    ),
    # --- API: planner ---
    Rule("GET", "/api/workforce/departments", PLANNER),
    Rule("GET", "/api/workforce/workload", PLANNER),
    Rule(
        "POST",
        "/api/workforce/workload/import",
        PLANNER,
        ok=201,
        payload=lambda w, m: {"content": CSV},
        effect=_imported,
    ),
    Rule(
        "POST",
        "/api/workforce/workload/collect",
        PLANNER,
        payload=lambda w, m: {"date_from": "2025-01-06", "date_to": "2025-01-07"},
    ),
    Rule("GET", "/api/workforce/forecasts", PLANNER),
    Rule(
        "POST",
        "/api/workforce/forecasts",
        PLANNER,
        ok=201,
        payload=lambda w, m: {"department": "03.04", "metric": "inpatients", "horizon_days": 7, "folds": 2},
    ),
    Rule("GET", "/api/workforce/rosters", PLANNER),
    Rule("POST", "/api/workforce/rosters", PLANNER, ok=202, payload=_new_roster),
    Rule("GET", "/api/workforce/rosters/{roster_id}", PLANNER, params=_roster),
    Rule(
        "POST",
        "/api/workforce/rosters/{roster_id}/solve",
        PLANNER,
        ok=202,
        params=_roster,
        payload=lambda w, m: {},
    ),
    Rule(
        "POST",
        "/api/workforce/rosters/{roster_id}/assignments",
        PLANNER,
        params=_roster,
        payload=_edit,
        effect=_edited,
    ),
    Rule("GET", "/api/workforce/rosters/{roster_id}/check", PLANNER, params=_roster),
    Rule("POST", "/api/workforce/rosters/{roster_id}/publish", PLANNER, params=_roster, effect=_published),
    Rule("GET", "/api/workforce/suggestions", PLANNER),
    Rule(
        "POST",
        "/api/workforce/suggestions/{suggestion_id}/decide",
        PLANNER,
        params=_suggestion,
        payload=lambda w, m: {"accept": True},
        effect=_suggestion_accepted,
    ),
    Rule(
        "POST",
        "/api/workforce/leave/{leave_id}/decide",
        PLANNER,
        params=_leave,
        payload=lambda w, m: {"approve": True},
        effect=_leave_approved,
    ),
    Rule("GET", "/api/workforce/satisfaction", PLANNER),
    # --- API: one's own ---
    Rule("GET", "/api/workforce/my/shifts", OWN),
    Rule(
        "POST",
        "/api/workforce/my/shifts/{assignment_id}/feedback",
        frozenset({CARE}),
        ok=201,
        special=NOT_MINE,
        params=_assignment,
        payload=lambda w, m: {"rating": 4},
        effect=_rated,
    ),
    Rule(
        "POST",
        "/api/workforce/my/requests",
        OWN,
        ok=201,
        payload=lambda w, m: {
            "date": (w.extra["wf_start"] + dt.timedelta(days=30)).isoformat(),
            "kind": "off",
        },
        effect=_requested,
    ),
    Rule(
        "POST",
        "/api/workforce/my/leave",
        OWN,
        ok=201,
        payload=lambda w, m: {
            "start_date": (w.extra["wf_start"] + dt.timedelta(days=40)).isoformat(),
            "end_date": (w.extra["wf_start"] + dt.timedelta(days=41)).isoformat(),
        },
    ),
]
