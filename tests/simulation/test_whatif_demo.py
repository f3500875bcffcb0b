"""The what-if demo generator: the shipped scenario saved and one finished comparison for the
busiest clinic department."""

from __future__ import annotations

import random
from typing import Any

from smartcare.simulation.choices import RunStatus
from smartcare.simulation.models import SavedScenario, WhatIfRun
from smartcare.simulation.quality_demo import build_whatif
from smartcare.simulation.registry import DemoContext
from tests.simulation.whatif_world import build_clinic


def test_demo_generator_saves_the_scenario_and_a_result(hospital: Any) -> None:
    build_clinic(hospital, days=60)
    lines: list[str] = []
    build_whatif(DemoContext(seed=3, rng=random.Random(3), patients=0, log=lines.append, state={}))
    saved = SavedScenario.objects.get()
    assert saved.department == hospital.cardiology and saved.body["slot_minutes"] == 20
    run = WhatIfRun.objects.get()
    assert run.status == RunStatus.DONE and run.result["department"] == "03.04"
    assert run.result["metrics"]["wait_mean"]["current"]["mean"] > 0
    assert "whatif: 03.04" in lines[-1]
