"""The demo year's remote consultations (simulation.telemedicine_demo) on a small hospital."""

from __future__ import annotations

import datetime as dt
import random

from smartcare.core import clock
from smartcare.emr.models import Diagnosis, Encounter
from smartcare.simulation.registry import DemoContext
from smartcare.simulation.telemedicine_demo import build_telemedicine
from smartcare.telemedicine import selectors
from smartcare.telemedicine.models import Consultation, Opinion
from tests.factories import PatientFactory, TestHospital


def test_demo_consultations(h: TestHospital) -> None:
    h.user("doctor").username = "doctor"
    now = clock.now()
    encounters = []
    for i in range(30):
        started = now - dt.timedelta(days=3 + i * 10)
        encounters.append(
            Encounter(
                patient=PatientFactory(),
                kind="outpatient",
                department=h.neurology if i % 2 else h.cardiology,
                status="finished",
                started_at=started,
                ended_at=started + dt.timedelta(minutes=15),
            )
        )
    Encounter.objects.bulk_create(encounters)
    codes = ["I63.9", "G45.9", "I10", "I21.9"]
    Diagnosis.objects.bulk_create(
        Diagnosis(encounter=e, icd10_id=codes[i % 4], is_primary=True, recorded_by=h.user("doctor"))
        for i, e in enumerate(encounters)
    )
    ctx = DemoContext(seed=7, rng=random.Random(7), patients=300, log=lambda m: None, state={})
    build_telemedicine(ctx)
    answered = Consultation.objects.filter(status="answered")
    assert answered.count() >= 60
    assert Opinion.objects.count() == answered.count()
    assert answered.exclude(external_hospital="").exists()
    data = selectors.indicators(clock.today() - dt.timedelta(days=400), clock.today())
    assert 0.8 <= data["concordance_rate"] <= 0.97
    assert 0.75 <= data["answered_within_24h"] < 1
    assert len(data["per_month"]) >= 6
    # The demo doctor's queue has open requests, most urgent first.
    queue = selectors.expert_queue(h.user("doctor"))
    assert len(queue) == 4 and queue[0].urgency == "emergency"
