"""The demo year's medical record (simulation.emr_demo) on a few finished visits."""

from __future__ import annotations

import datetime as dt
import random

from smartcare.core import clock
from smartcare.emr.models import Encounter, Note, NoteVersion
from smartcare.simulation.emr_demo import build_emr
from smartcare.simulation.registry import DemoContext
from tests.emr.test_records import _appointment
from tests.factories import PatientFactory, TestHospital


def test_demo_records_for_finished_visits(h: TestHospital) -> None:
    for _ in range(5):
        appointment = _appointment(h, PatientFactory())
        appointment.status = "completed"
        appointment.called_at = clock.now() - dt.timedelta(hours=2)
        appointment.finished_at = clock.now() - dt.timedelta(hours=1, minutes=50)
        appointment.save()
    lines: list[str] = []
    build_emr(DemoContext(seed=1, rng=random.Random(1), patients=5, log=lines.append, state={}))
    assert Encounter.objects.filter(status="finished").count() == 5
    notes = list(Note.objects.all())
    assert len(notes) == 5 and all(n.status == "signed" and n.writing_seconds for n in notes)
    assert all(n.signed_at and n.signed_at >= n.encounter.started_at for n in notes)
    assert NoteVersion.objects.count() == 5
    assert all(e.diagnoses.filter(is_primary=True).count() == 1 for e in Encounter.objects.all())
    assert lines and lines[0].startswith("emr: 5 encounters")
