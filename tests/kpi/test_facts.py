"""Daily facts: the backfill gives the same figures as the source data, marks the days it
completed, is idempotent, and the periodic task is registered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command

from smartcare.core.periodic import jobs
from smartcare.kpi import facts, selectors
from smartcare.kpi.errors import InvalidDateRange
from smartcare.kpi.models import BreakdownFact, DailyFact, FactDay
from tests.kpi.cockpit_world import WEEK, build_week

pytestmark = pytest.mark.django_db


def test_backfill_matches_the_source_data(db: Any) -> None:
    week = build_week()
    start, end = dt.date(2026, 2, 23), dt.date(2026, 3, 8)
    written = facts.build_facts(start, end)
    assert written == DailyFact.objects.count() > 0
    assert FactDay.objects.count() == 14
    assert facts.covered(dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    assert not facts.covered(dt.date(2026, 3, 2), dt.date(2026, 3, 9))
    from_facts = selectors.evaluate(WEEK, use_facts=True)
    live = selectors.evaluate(WEEK, use_facts=False)
    assert from_facts.source == "facts"
    for a, b in zip(from_facts.results, live.results, strict=True):
        if a.code in ("research_projects", "tele_volume"):
            continue  # counts per day: the live count covers the same days
        assert a.value == pytest.approx(b.value) if b.value is not None else a.value is None, a.code
    # department facts and the breakdowns
    cardiology = selectors.evaluate(WEEK, week.h.cardiology, use_facts=True)
    assert {r.code: r.value for r in cardiology.results}["arrival_wait"] == pytest.approx(30.0)
    hours = facts.breakdown_sums("arrival_wait", "hour", dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    assert hours == {"08": (20.0, 1.0), "09": (40.0, 1.0), "10": (30.0, 1.0)}
    channels = facts.breakdown_sums("booking_success", "channel", dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    assert channels["phone"] == (1.0, 1.0)
    assert channels["portal"] == (0.0, 2.0)
    # recomputing replaces, never adds
    facts.build_facts(start, end)
    assert DailyFact.objects.count() == written
    assert BreakdownFact.objects.filter(code="arrival_wait", dimension="hour").count() == 3


def test_trend_points(db: Any) -> None:
    build_week()
    facts.build_facts(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    evaluation = selectors.evaluate("2026-03", with_trend=True)
    wait = next(r for r in evaluation.results if r.code == "arrival_wait")
    assert len(wait.trend) == 31
    assert dict(wait.trend)["2026-03-02"] == pytest.approx(30.0)
    assert dict(wait.trend)["2026-03-03"] is None


def test_bad_ranges(db: Any) -> None:
    with pytest.raises(InvalidDateRange):
        facts.build_facts(dt.date(2026, 3, 2), dt.date(2026, 3, 1))
    with pytest.raises(InvalidDateRange):
        facts.build_facts(dt.date(2020, 1, 1), dt.date(2026, 1, 1))
    assert not FactDay.objects.exists()


def test_backfill_command_and_periodic_job(db: Any, capsys: Any) -> None:
    build_week()
    call_command("kpi", "backfill", "--start", "2026-03-01", "--end", "2026-03-03")
    assert '"facts"' in capsys.readouterr().out
    assert FactDay.objects.count() == 3
    assert "kpi.compute_recent_facts" in {j.name for j in jobs()}
