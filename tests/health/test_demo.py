"""The demo year's health management (simulation.health_demo) on a small hospital."""

from __future__ import annotations

import random

from smartcare.health import effect as fx
from smartcare.health import selectors
from smartcare.health.models import AdherenceReport, Advice, Enrolment, Programme, RiskAssessment
from smartcare.simulation.health_demo import build_health
from smartcare.simulation.registry import DemoContext
from tests.factories import PatientFactory, TestHospital


def test_demo_health_year(h: TestHospital) -> None:
    import datetime as dt

    from smartcare.core import clock

    rng = random.Random(3)
    for i in range(80):
        PatientFactory(
            sex="male" if i % 2 else "female",
            birth_date=clock.today() - dt.timedelta(days=365 * rng.randint(45, 75) + 40),
        )
    demo = PatientFactory(name="张秀英", birth_date=clock.today() - dt.timedelta(days=365 * 66), user=None)
    logs: list[str] = []
    build_health(DemoContext(seed=3, rng=rng, patients=80, log=logs.append, state={"demo_patient": demo}))
    assert logs and logs[0].startswith("health:")
    assert RiskAssessment.objects.filter(model="pce").count() >= 80
    assert set(RiskAssessment.objects.values_list("model", flat=True)) >= {"pce", "framingham", "findrisc"}
    enrolled = Enrolment.objects.count()
    assert enrolled >= 5
    assert Enrolment.objects.filter(patient=demo, programme__key="cardiovascular-risk").exists()
    assert Advice.objects.filter(patient=demo, is_current=True).exists()
    assert not AdherenceReport.objects.filter(patient=demo, reported_on=clock.today()).exists()
    assert AdherenceReport.objects.count() > enrolled
    effect = fx.programme_effect(Programme.objects.get(key="cardiovascular-risk"))
    assert effect.enrolled >= 3 and effect.compared >= 1
    assert effect.risk_enrolled.estimate is not None and effect.risk_enrolled.estimate < 0
    indicator = selectors.risk_reduction_indicator(clock.today() - dt.timedelta(days=365), clock.today())
    assert indicator.evaluated >= 3 and indicator.share is not None
    # Diagnoses of type 2 diabetes during the year, after the first assessment, for the models.
    from smartcare.emr.models import Problem

    new = Problem.objects.filter(icd10_id="E11.9", comment="demo")
    assert new.exists()
    first = {
        r.patient_id: r.computed_at
        for r in RiskAssessment.objects.filter(model="findrisc").order_by("-computed_at")
    }
    assert all(p.created_at > first[p.patient_id] for p in new)
    assert "new diabetes diagnoses" in logs[0]
