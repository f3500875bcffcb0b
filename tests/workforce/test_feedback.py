"""The feedback loop: staff rate their shifts and flag overload, the weekly summary suggests
coverage and weight changes, the planner accepts (the change is applied) or rejects them, and
the satisfaction rate for the indicators."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
from smartcare.workforce import selectors, services
from smartcare.workforce.choices import RosterStatus, StaffGroup, SuggestionKind, SuggestionStatus
from smartcare.workforce.errors import AlreadyDecided, FeedbackTooEarly
from smartcare.workforce.models import RosterPolicy, ShiftFeedback, StaffingRatio, Suggestion, WeeklySummary
from tests.workforce.world import Ward, make_ward, written_roster


@pytest.fixture()
def ward(hospital: Any) -> Ward:
    return make_ward(hospital)


def last_monday() -> dt.date:
    today = clock.today()
    return today - dt.timedelta(days=today.weekday() + 7)


@pytest.fixture()
def worked(hospital: Any, ward: Ward) -> Any:
    """Last week's published roster: every nurse on nights, the doctors on earlies."""
    start = last_monday()
    cells = {}
    for day in range(7):
        for nurse in ward.nurses:
            cells[(nurse, day)] = ward.shifts["N"]
        for doctor in ward.doctors:
            cells[(doctor, day)] = ward.shifts["E"]
    return written_roster(hospital, hospital.cardiology, start, 7, cells, status=RosterStatus.PUBLISHED)


def test_staff_rate_their_own_past_shifts(hospital: Any, ward: Ward, worked: Any) -> None:
    nurse = hospital.user("nurse")
    shift = worked.assignments.filter(practitioner=nurse.practitioner).first()
    feedback = services.rate_shift(nurse, shift.pk, 2, overload=True, comment="三个新入院")
    assert (feedback.rating, feedback.overload, feedback.satisfied) == (2, True, False)
    again = services.rate_shift(nurse, shift.pk, 4)
    assert again.pk == feedback.pk and ShiftFeedback.objects.get(pk=feedback.pk).rating == 4
    other = worked.assignments.filter(practitioner=hospital.user("doctor").practitioner).first()
    with pytest.raises(NotFound):
        services.rate_shift(nurse, other.pk, 5)
    with pytest.raises(InvalidInput):
        services.rate_shift(nurse, shift.pk, 6)
    with pytest.raises(PermissionDenied):
        services.rate_shift(hospital.user("frontdesk"), shift.pk, 5)
    assert ShiftFeedback.objects.count() == 1


def test_a_shift_is_rated_only_once_it_has_started(hospital: Any, ward: Ward) -> None:
    tomorrow = clock.today() + dt.timedelta(days=1)
    roster = written_roster(
        hospital,
        hospital.cardiology,
        tomorrow,
        1,
        {(ward.nurses[0], 0): ward.shifts["E"]},
        status=RosterStatus.PUBLISHED,
    )
    with pytest.raises(FeedbackTooEarly):
        services.rate_shift(hospital.user("nurse"), roster.assignments.get().pk, 5)
    assert not ShiftFeedback.objects.exists()


def _rate_all(worked: Any, shift_code: str, ratings: list[int], overload_every: int = 0) -> None:
    rows = worked.assignments.filter(shift_type__code=shift_code).select_related("practitioner__user")
    for n, assignment in enumerate(rows):
        services.rate_shift(
            assignment.practitioner.user,
            assignment.pk,
            ratings[n % len(ratings)],
            overload=bool(overload_every and n % overload_every == 0),
        )


def test_weekly_summary_suggests_coverage_and_weights(hospital: Any, ward: Ward, worked: Any) -> None:
    _rate_all(worked, "N", [2, 3, 5, 1], overload_every=2)  # nights: unhappy and too heavy
    _rate_all(worked, "E", [5, 4])
    summary = services.summarize_week(hospital.cardiology, last_monday() + dt.timedelta(days=3))
    assert summary.week_start == last_monday()
    nights = 7 * len(ward.nurses)
    assert summary.ratings == nights + 7 * len(ward.doctors)
    assert summary.satisfied == nights // 4 + (1 if nights % 4 >= 3 else 0) + 7 * len(ward.doctors)
    assert summary.overload_flags == (nights + 1) // 2
    suggestions = {s.field_name: s for s in summary.suggestions.all()}
    # Nights, and the weekends they weigh on, are rated badly; the nurses' nights are too heavy.
    assert set(suggestions) == {"per_staff", "weight_night_fairness", "weight_weekend_fairness"}
    coverage = suggestions["per_staff"]
    ratio = StaffingRatio.objects.get(shift_type=ward.shifts["N"], group=StaffGroup.NURSE, skill=None)
    assert coverage.ratio == ratio
    assert (coverage.field_name, coverage.current_value, coverage.proposed_value) == (
        "per_staff",
        Decimal("12.00"),
        Decimal("10.80"),
    )
    weight = suggestions["weight_night_fairness"]
    assert weight.kind == SuggestionKind.WEIGHT
    assert (weight.field_name, weight.current_value, weight.proposed_value) == (
        "weight_night_fairness",
        Decimal(6),
        Decimal(9),
    )
    # Summarising again replaces the pending suggestions instead of piling them up.
    services.summarize_week(hospital.cardiology, last_monday())
    assert Suggestion.objects.filter(status=SuggestionStatus.PENDING).count() == 3
    assert WeeklySummary.objects.count() == 1


def test_the_planner_accepts_or_rejects(hospital: Any, ward: Ward, worked: Any) -> None:
    _rate_all(worked, "N", [1, 2], overload_every=1)
    summary = services.summarize_week(hospital.cardiology, last_monday())
    coverage = summary.suggestions.get(kind=SuggestionKind.COVERAGE)
    weight = summary.suggestions.get(field_name="weight_night_fairness")
    head = hospital.user("head")
    with pytest.raises(PermissionDenied):
        services.decide_suggestion(hospital.user("nurse"), coverage.pk, True)
    with pytest.raises(PermissionDenied):
        services.decide_suggestion(hospital.user("neurologist"), coverage.pk, True)
    with pytest.raises(NotFound):
        services.decide_suggestion(head, 10**9, True)

    services.decide_suggestion(head, coverage.pk, accept=True)
    ratio = StaffingRatio.objects.get(pk=coverage.ratio_id)
    assert ratio.per_staff == Decimal("10.80")
    services.decide_suggestion(head, weight.pk, accept=False)
    assert RosterPolicy.objects.get(department=hospital.cardiology).weight_night_fairness == 6
    with pytest.raises(AlreadyDecided):
        services.decide_suggestion(head, weight.pk, accept=True)
    decided = {s.field_name: s.status for s in Suggestion.objects.all()}
    assert decided == {
        "per_staff": SuggestionStatus.ACCEPTED,
        "weight_night_fairness": SuggestionStatus.REJECTED,
        "weight_weekend_fairness": SuggestionStatus.PENDING,  # nights fell on the weekend too
    }


def test_accepting_a_weight_changes_the_policy(hospital: Any, ward: Ward, worked: Any) -> None:
    _rate_all(worked, "N", [1, 2])
    summary = services.summarize_week(hospital.cardiology, last_monday())
    weight = summary.suggestions.get(field_name="weight_night_fairness")
    services.decide_suggestion(hospital.user("head"), weight.pk, accept=True)
    assert RosterPolicy.objects.get(department=hospital.cardiology).weight_night_fairness == 9


def test_satisfaction_rate_for_the_indicators(hospital: Any, ward: Ward, worked: Any) -> None:
    empty = selectors.staff_satisfaction_rate(last_monday(), last_monday() + dt.timedelta(days=6))
    assert (empty["ratings"], empty["rate"], empty["target"]) == (0, None, 0.85)
    _rate_all(worked, "E", [5, 4, 3, 2])  # 28 doctor shifts: half satisfied
    rate = selectors.staff_satisfaction_rate(
        last_monday(), last_monday() + dt.timedelta(days=6), hospital.cardiology
    )
    assert (rate["ratings"], rate["satisfied"], rate["rate"]) == (28, 14, 0.5)
    other = selectors.staff_satisfaction_rate(
        last_monday(), last_monday() + dt.timedelta(days=6), hospital.neurology
    )
    assert other["ratings"] == 0
