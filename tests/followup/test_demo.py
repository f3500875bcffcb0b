"""The demo year's follow-up (simulation.followup_demo) on a small hospital."""

from __future__ import annotations

import datetime as dt
import random

from smartcare.accounts.models import CareRelationship
from smartcare.core import clock
from smartcare.emr.models import Diagnosis, Encounter
from smartcare.followup import selectors
from smartcare.followup.models import (
    CarePlan,
    CareTask,
    EducationDelivery,
    PhoneFollowUp,
    QuestionnaireResponse,
    SurveyInvitation,
    TaskEscalation,
)
from smartcare.simulation.followup_demo import build_followup
from smartcare.simulation.registry import DemoContext
from tests.factories import PatientFactory, TestHospital, department, staff


def test_demo_follow_up(h: TestHospital) -> None:
    surgery = department(h.hospital, "04.01")
    staff("surgeon", "doctor", surgery)
    staff("surgery-nurse", "nurse", surgery)
    now = clock.now()
    encounters = []
    for i in range(24):
        patient = PatientFactory()
        ended = now - dt.timedelta(days=5 + i * 6, hours=2)
        encounters.append(
            Encounter(
                patient=patient,
                kind="outpatient",
                department=h.cardiology,
                attending=h.user("doctor").practitioner,
                status="finished",
                started_at=ended - dt.timedelta(minutes=12),
                ended_at=ended,
            )
        )
        CareRelationship.objects.create(
            patient=patient, department=surgery, kind="encounter", source=f"demo:{i}"
        )
    Encounter.objects.bulk_create(encounters)
    codes = ["I10", "E11.9", "I50.9", "J06.9"]
    Diagnosis.objects.bulk_create(
        Diagnosis(
            encounter=e,
            icd10_id=codes[i % 4],
            is_primary=True,
            recorded_by=h.user("doctor"),
            created_at=e.ended_at,
        )
        for i, e in enumerate(encounters)
    )
    lines: list[str] = []
    ctx = DemoContext(
        seed=7, rng=random.Random(7), patients=24, log=lines.append, state={"demo_patient": h.own_patient}
    )
    build_followup(ctx)

    assert lines and lines[0].startswith("followup: ")
    plans = CarePlan.objects.all()
    assert plans.filter(template__key="hypertension").count() >= 6
    assert (
        plans.filter(template__key="diabetes").exists()
        and plans.filter(template__key="heart-failure").exists()
    )
    assert plans.filter(template__category="post_operative", department=surgery).exists()
    assert set(CareTask.objects.values_list("status", flat=True)) == {"due", "done", "missed", "cancelled"}
    assert PhoneFollowUp.objects.filter(outcome="reached").exists()
    assert TaskEscalation.objects.filter(level=2).exists()
    pro = QuestionnaireResponse.objects.filter(questionnaire__kind="pro")
    assert pro.exists() and all(r.score_percent is not None for r in pro)
    surveys = QuestionnaireResponse.objects.filter(questionnaire__kind="satisfaction")
    assert surveys.exists() and SurveyInvitation.objects.filter(status="answered").count() == surveys.count()
    indicator = selectors.satisfaction_indicator(clock.today() - dt.timedelta(days=365), clock.today())
    assert indicator.responses == surveys.count() and indicator.rate is not None
    assert EducationDelivery.objects.filter(read_at__isnull=False).exists()
    assert EducationDelivery.objects.filter(read_at__isnull=True).exists()
    active = plans.filter(status="active")
    assert CareRelationship.objects.filter(source__startswith="followup.plan:").count() >= active.count()
    # The demo patient: a completed plan, the current one with a questionnaire to do today and an
    # escalated missed call, an open survey, and scores to draw.
    mine = CarePlan.objects.filter(patient=h.own_patient)
    assert sorted(mine.values_list("status", flat=True)) == ["active", "completed"]
    assert selectors.due_questionnaires(h.own_patient).exists()
    assert CareTask.objects.filter(patient=h.own_patient, status="missed", escalation_level=2).exists()
    assert selectors.open_surveys(h.own_patient).exists()
    assert len(selectors.score_trends(h.own_patient)[0].points) >= 3
