"""The workforce demo generator on the test hospital (cardiology staffed like the demo's): history,
forecasts, rosters that keep every hard rule and are published, ratings and weekly summaries."""

from __future__ import annotations

import random
from typing import Any

from smartcare.accounts.choices import Role
from smartcare.organization.choices import Title
from smartcare.simulation.registry import DemoContext
from smartcare.simulation.workforce_demo import HISTORY_DAYS, build_workforce
from smartcare.workforce import services
from smartcare.workforce.choices import RosterStatus
from smartcare.workforce.models import ForecastRun, Roster, ShiftFeedback, WeeklySummary, WorkloadRecord
from tests.factories import staff


def test_demo_generator_builds_published_rosters(hospital: Any) -> None:
    for n in range(8):
        staff(f"demonurse{n}", Role.NURSE, hospital.cardiology, Title.NURSE)
    for n in range(6):
        staff(f"demodoc{n}", Role.DOCTOR, hospital.cardiology)
    lines: list[str] = []
    ctx = DemoContext(seed=7, rng=random.Random(7), patients=0, log=lines.append, state={})
    build_workforce(ctx)

    assert WorkloadRecord.objects.count() == 2 * 2 * HISTORY_DAYS  # cardiology and neurology
    runs = ForecastRun.objects.filter(department=hospital.cardiology)
    assert {r.metric for r in runs} == {"inpatients", "outpatient_visits"}
    assert all(r.mape_model is not None and r.mape_baseline is not None for r in runs)
    rosters = list(Roster.objects.filter(department=hospital.cardiology).order_by("start_date"))
    assert len(rosters) == 3
    for roster in rosters:
        assert roster.status == RosterStatus.PUBLISHED, roster.report.get("conflicting")
        assert services.evaluate_roster(roster).feasible
    assert ShiftFeedback.objects.exists()
    assert WeeklySummary.objects.filter(department=hospital.cardiology).count() == 4
    assert "workforce:" in lines[-1]
