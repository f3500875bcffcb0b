"""The demo year's research projects (simulation.research_projects_demo) on a small hospital."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.research import lake
from smartcare.research.consent import withdrawn_patient_ids
from smartcare.research.models import PrivacyBudget, ProjectStatus, ResearchExport, ResearchProject
from smartcare.research.selectors import projects_registered
from smartcare.simulation.registry import DemoContext
from smartcare.simulation.research_projects_demo import build_research_projects
from tests.factories import PatientFactory, build_hospital


@pytest.fixture()
def h(db: Any) -> Any:
    return build_hospital()


def test_demo_research_projects(h: Any, tmp_path: Path, monkeypatch: Any, settings: Any) -> None:
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setenv("SMARTCARE_LAKE_DIR", str(tmp_path / "lake"))
    for _ in range(20):
        PatientFactory()
    lake.build(user=h.user("steward"))
    lines: list[str] = []
    ctx = DemoContext(
        seed=3, rng=random.Random(3), patients=24, log=lines.append, state={"demo_patient": h.own_patient}
    )
    build_research_projects(ctx)

    today = clock.today()
    assert ResearchProject.objects.count() == 13
    assert projects_registered(today - dt.timedelta(days=365), today) >= 10
    statuses = set(ResearchProject.objects.values_list("status", flat=True))
    assert statuses == {ProjectStatus.APPROVED, ProjectStatus.REJECTED, ProjectStatus.SUBMITTED}
    assert ResearchProject.objects.filter(status="approved", ethics_valid_until__lt=today).exists()
    assert ResearchProject.objects.get(status="rejected").decision_reason
    assert len(withdrawn_patient_ids()) == 6
    assert PrivacyBudget.objects.filter(user=h.user("researcher"), epsilon_spent__gt=0).exists()
    export = ResearchExport.objects.get()
    assert export.downloads == 1 and export.project.principal_investigator == h.user("researcher")
    assert any(line.startswith("research projects: ") for line in lines)
