"""The cockpit demo generator on the test hospital: settings with history, a year of daily facts,
management actions and the report of the last finished quarter."""

from __future__ import annotations

import random
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.kpi.models import FactDay, IndicatorSetting, ManagementAction, QuarterlyReport, SettingChange
from smartcare.kpi.periods import period_containing
from smartcare.simulation.kpi_demo import HISTORY_DAYS, build_kpi
from smartcare.simulation.registry import DemoContext
from tests.kpi.cockpit_world import build_week

pytestmark = pytest.mark.django_db


def test_demo_generator(db: Any) -> None:
    build_week()
    lines: list[str] = []
    build_kpi(DemoContext(seed=7, rng=random.Random(7), patients=0, log=lines.append, state={}))
    assert FactDay.objects.count() == HISTORY_DAYS  # every finished day of the year
    assert IndicatorSetting.objects.get(code="tele_volume").target == 45
    assert SettingChange.objects.filter(code="tele_volume").count() == 2
    assert ManagementAction.objects.count() == 4
    report = QuarterlyReport.objects.get()
    assert report.period == period_containing("quarter", clock.today()).previous().label
    assert bytes(report.pdf).startswith(b"%PDF")
    assert ManagementAction.objects.filter(report=report).count() == 4
    assert lines[-1].startswith("kpi:")
