"""Rehab: daily targets checked against wearable data, the rules that suggest adjustments, and the
therapist's decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction

from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
from smartcare.monitoring import rehab, services
from smartcare.monitoring.errors import RehabPlanExists, SuggestionAlreadyDecided
from smartcare.monitoring.ingest import Incoming, ReadingInput, store_batch
from smartcare.monitoring.models import RehabPlan, RehabSuggestion, RehabTarget
from smartcare.notifications.models import Notification
from tests.factories import TestHospital
from tests.monitoring.conftest import Monitored


@pytest.fixture()
def today() -> Any:
    # Tomorrow morning, so that what the fixtures set up now (care relationships) is in force.
    moment = (clock.local_now() + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    with clock.frozen_at(moment):
        yield moment.date()


@pytest.fixture()
def plan(h: TestHospital, monitored: Monitored, today: dt.date) -> RehabPlan:
    return services.create_rehab_plan(
        h.user("nurse"),
        monitored.patient.pk,
        targets={"steps": "6000", "exercise_minutes": "30", "rom_sessions": ""},
        goal="walk to the market again",
        starts_on=today - dt.timedelta(days=10),
    )


def walk(m: Monitored, device: Any, day: dt.date, steps: int, minutes: int = 0) -> None:
    """A wearable's hourly reports of one day."""
    items = []
    for hour in range(8, 20):
        moment = dt.datetime.combine(day, dt.time(hour), tzinfo=clock.local_now().tzinfo)
        items.append(
            Incoming(
                patient_id=m.patient.pk,
                reading=ReadingInput(
                    kind="steps", value=steps / 12, measured_at=moment, message_id=f"s{day}{hour}"
                ),
                source="mqtt",
                device_id=device.pk,
            )
        )
        if minutes:
            items.append(
                Incoming(
                    patient_id=m.patient.pk,
                    reading=ReadingInput(
                        kind="exercise_minutes",
                        value=minutes / 12,
                        measured_at=moment,
                        message_id=f"e{day}{hour}",
                    ),
                    source="mqtt",
                    device_id=device.pk,
                )
            )
    with transaction.atomic():
        store_batch(items, actor=None)


@pytest.fixture()
def wearable(monitored: Monitored) -> Any:
    return monitored.pair("wearable", "W-100")[0]


def test_a_plan_gives_care_and_refuses_bad_targets(
    h: TestHospital, monitored: Monitored, plan: RehabPlan
) -> None:
    assert {(t.kind, t.daily_target) for t in plan.targets.all()} == {
        ("steps", 6000),
        ("exercise_minutes", 30),
    }
    assert plan.therapist == h.user("nurse")
    with pytest.raises(RehabPlanExists):
        services.create_rehab_plan(h.user("doctor"), monitored.patient.pk, targets={"steps": 3000})
    with pytest.raises(InvalidInput) as bad:
        services.create_rehab_plan(
            h.user("doctor"), h.patient_in_care.pk, targets={"steps": "lots", "exercise_minutes": "0"}
        )
    assert set(bad.value.errors) == {"steps", "exercise_minutes"}
    with pytest.raises(InvalidInput):
        services.create_rehab_plan(h.user("doctor"), h.patient_in_care.pk, targets={})
    with pytest.raises(NotFound):
        services.create_rehab_plan(h.user("neurologist"), h.patient_in_care.pk, targets={"steps": 3000})
    assert RehabPlan.objects.count() == 1


def test_progress_compares_each_day_with_its_target(
    monitored: Monitored, plan: RehabPlan, wearable: Any, today: dt.date
) -> None:
    walk(monitored, wearable, today - dt.timedelta(days=1), 6600, 36)
    walk(monitored, wearable, today - dt.timedelta(days=2), 2400)
    progress = rehab.plan_progress(plan, days=3)
    steps = progress["steps"]["rows"]
    assert [(r["actual"], r["target"]) for r in steps] == [(2400, 6000), (6600, 6000), (0.0, 6000)]
    assert progress["exercise_minutes"]["rows"][1]["actual"] == pytest.approx(36)


def test_three_days_below_half_notify_the_therapist(
    h: TestHospital, monitored: Monitored, plan: RehabPlan, wearable: Any, today: dt.date
) -> None:
    for back, steps in ((3, 2500), (2, 2000), (1, 2900)):
        walk(monitored, wearable, today - dt.timedelta(days=back), steps, 40)
    assert rehab.evaluate_plans() == 1
    suggestion = RehabSuggestion.objects.get()
    assert (suggestion.kind, suggestion.rule, suggestion.current_target) == ("steps", "below_half", 6000)
    assert suggestion.suggested_target == 2500  # the mean, 2467, rounded up to 500 steps
    assert suggestion.daily_values == [2500, 2000, 2900]
    message = Notification.objects.get(recipient=h.user("nurse"), category="rehab_suggestion")
    assert monitored.patient.name in message.subject
    assert rehab.evaluate_plans() == 0  # one pending suggestion per target


def test_a_day_at_half_the_target_breaks_the_rule(
    monitored: Monitored, plan: RehabPlan, wearable: Any, today: dt.date
) -> None:
    for back, steps in ((3, 2500), (2, 3000), (1, 2900)):
        walk(monitored, wearable, today - dt.timedelta(days=back), steps, 40)
    assert rehab.evaluate_plans() == 0


def test_a_week_at_the_target_suggests_progression(
    h: TestHospital, monitored: Monitored, plan: RehabPlan, wearable: Any, today: dt.date
) -> None:
    for back in range(1, 8):
        walk(monitored, wearable, today - dt.timedelta(days=back), 6100 + back * 10, 20)
    assert rehab.evaluate_plans() == 1
    suggestion = RehabSuggestion.objects.get()
    assert (suggestion.kind, suggestion.rule, suggestion.suggested_target) == ("steps", "progression", 7000)


def test_six_days_are_not_a_week(
    monitored: Monitored, plan: RehabPlan, wearable: Any, today: dt.date
) -> None:
    for back in range(1, 8):
        walk(monitored, wearable, today - dt.timedelta(days=back), 6500 if back != 4 else 5900, 20)
    assert rehab.evaluate_plans() == 0


def test_the_therapist_accepts_edits_or_dismisses(
    h: TestHospital, monitored: Monitored, plan: RehabPlan, wearable: Any, today: dt.date
) -> None:
    for back in range(1, 8):
        walk(monitored, wearable, today - dt.timedelta(days=back), 6500, 35)
    rehab.evaluate_plans()
    steps, minutes = (RehabSuggestion.objects.get(kind=k) for k in ("steps", "exercise_minutes"))
    with pytest.raises(PermissionDenied):
        services.decide_suggestion(h.user("patient"), steps.pk, decision="accept")
    with pytest.raises(NotFound):
        services.decide_suggestion(h.user("neurologist"), steps.pk, decision="accept")
    with pytest.raises(InvalidInput):
        services.decide_suggestion(h.user("nurse"), steps.pk, decision="edit", target="-5")
    services.decide_suggestion(
        h.user("nurse"), steps.pk, decision="edit", target="6800", note="knee still swollen"
    )
    services.decide_suggestion(h.user("nurse"), minutes.pk, decision="accept")
    with pytest.raises(SuggestionAlreadyDecided):
        services.decide_suggestion(h.user("nurse"), steps.pk, decision="dismiss")
    targets = {(t.kind, t.effective_from): t.daily_target for t in RehabTarget.objects.filter(plan=plan)}
    assert targets[("steps", today)] == 6800
    assert targets[("exercise_minutes", today)] == 35
    assert Notification.objects.filter(recipient=h.user("patient"), category="rehab_target").count() == 2
    # The next morning the week is not judged again against the new target.
    with clock.frozen_at(clock.now() + dt.timedelta(days=1)):
        walk(monitored, wearable, today, 7000, 40)
        assert rehab.evaluate_plans() == 0


def test_a_dismissed_suggestion_is_not_repeated_the_next_day(
    h: TestHospital, monitored: Monitored, plan: RehabPlan, wearable: Any, today: dt.date
) -> None:
    for back in (3, 2, 1):
        walk(monitored, wearable, today - dt.timedelta(days=back), 1000, 20)
    rehab.evaluate_plans()
    services.decide_suggestion(h.user("nurse"), RehabSuggestion.objects.get().pk, decision="dismiss")
    with clock.frozen_at(clock.now() + dt.timedelta(days=1)):
        walk(monitored, wearable, today, 1000, 20)
        assert rehab.evaluate_plans() == 0
    with clock.frozen_at(clock.now() + dt.timedelta(days=4)):
        for back in (3, 2, 1):
            walk(monitored, wearable, today + dt.timedelta(days=4 - back), 1000, 20)
        assert rehab.evaluate_plans() == 1  # three new days below half


def test_range_of_motion_sessions_are_logged_by_the_patient(
    h: TestHospital, monitored: Monitored, today: dt.date
) -> None:
    plan = services.create_rehab_plan(h.user("nurse"), monitored.patient.pk, targets={"rom_sessions": "3"})
    for _ in range(2):
        services.record_own_reading(h.user("patient"), kind="rom_sessions", value="1")
    progress = rehab.plan_progress(plan, days=1)
    assert progress["rom_sessions"]["today"] == 2
    assert progress["rom_sessions"]["percent"] == 67
