"""The quality-control demo generator on the test hospital: critical-value reports, some told late
or never, and failed cases of this quarter assigned for review in several states."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from smartcare.core import clock
from smartcare.emr.choices import EncounterKind, EncounterStatus
from smartcare.emr.models import Encounter
from smartcare.interop.models import ReportDelivery
from smartcare.kpi import quality
from smartcare.kpi.models import QualityReview
from smartcare.kpi.periods import period_containing
from smartcare.simulation.quality_demo import ASSIGNED_PER_MEASURE, CRITICAL_REPORTS, build_quality
from smartcare.simulation.registry import DemoContext
from tests.factories import PatientFactory


def test_demo_generator_assigns_failed_cases(hospital: Any) -> None:
    now = clock.now()
    for n in range(40):
        started = now - dt.timedelta(days=1 + n * 2, hours=3)
        Encounter.objects.create(
            patient=PatientFactory(),
            kind=EncounterKind.OUTPATIENT,
            department=hospital.cardiology if n % 2 else hospital.neurology,
            attending=hospital.user("doctor" if n % 2 else "neurologist").practitioner,
            status=EncounterStatus.FINISHED,
            started_at=started,
            ended_at=started + dt.timedelta(minutes=20),
        )
    lines: list[str] = []
    build_quality(DemoContext(seed=7, rng=random.Random(7), patients=0, log=lines.append, state={}))

    deliveries = ReportDelivery.objects.filter(critical_count=1)
    assert deliveries.count() == CRITICAL_REPORTS
    assert deliveries.filter(critical_notified_at__isnull=True).exists() or any(
        (d.critical_notified_at - d.report.issued_at).total_seconds() > 15 * 60 for d in deliveries
    )
    reviews = QualityReview.objects.filter(measure="QC-CRITICAL")
    assert 0 < reviews.count() <= 2 * ASSIGNED_PER_MEASURE
    assert len(set(reviews.values_list("state", flat=True))) > 1
    assert all(r.assigned_by == hospital.user("manager") for r in reviews)
    # Every assigned case is one that failed in its period.
    for review in reviews:
        evaluation = quality.BY_CODE[review.measure].evaluate(review.period_start, review.period_end)
        assert review.case_key in {o.key for o in evaluation.outcomes if not o.passed}
    quarter = period_containing("quarter", clock.today())
    rows = {r["code"]: r for r in quality.measures(quarter.start, quarter.end)}
    assert rows["QC-ABX"]["no_data"]
    assert "quality:" in lines[-1]
