"""The research demo generator (lake and cohorts) on the small test hospital."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.emr.icd10 import ensure_icd10
from smartcare.emr.models import Diagnosis, Encounter
from smartcare.research import lake
from smartcare.research.models import Cohort, CohortRun
from smartcare.simulation.registry import DemoContext
from smartcare.simulation.research_demo import COHORTS, build_research
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_demo_builds_the_lake_and_saved_cohorts(hospital: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("SMARTCARE_LAKE_DIR", str(tmp_path))
    ensure_icd10()
    for n in range(3):
        patient = PatientFactory(birth_date=dt.date(1950 + n, 1, 1))
        visit = Encounter.objects.create(
            patient=patient,
            kind="outpatient",
            department=hospital.cardiology,
            status="finished",
            started_at=clock.now(),
        )
        Diagnosis.objects.create(encounter=visit, icd10_id="E11.9", recorded_by=hospital.user("doctor"))
    lines: list[str] = []
    build_research(DemoContext(seed=7, rng=random.Random(7), patients=0, log=lines.append, state={}))

    assert lake.is_built()
    assert lake.table_counts()["diagnoses"] == 3
    cohorts = Cohort.objects.filter(owner=hospital.user("researcher"))
    assert cohorts.count() == len(COHORTS)
    assert cohorts.get(name="未用降压药的高血压患者").versions.count() == 2
    runs = CohortRun.objects.all()
    assert runs.count() == 3 and all(run.noisy for run in runs)
    assert runs.get(version__cohort__name="2型糖尿病").true_count == 3
    assert "research:" in lines[-1]
