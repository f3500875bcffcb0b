"""The demo year's inpatient stays (simulation.emr_demo) and the cockpit demo reading them, on a
small hospital: a cardiology ward and a general-surgery ward."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

import pytest

from smartcare.accounts.choices import Role
from smartcare.core import clock
from smartcare.emr.choices import (
    EncounterKind,
    EncounterStatus,
    MovementKind,
    NoteKind,
    NoteStatus,
    OrderKind,
)
from smartcare.emr.models import Encounter, EncounterMovement, Note, NoteVersion, Observation, Order
from smartcare.kpi import indicators
from smartcare.organization.choices import BedStatus, RoomKind
from smartcare.organization.models import Bed, Room
from smartcare.simulation.emr_demo import RECORD_DAYS, build_emr
from smartcare.simulation.kpi_demo import build_kpi
from smartcare.simulation.registry import DemoContext
from tests.factories import PatientFactory, TestHospital, build_hospital, department, staff

pytestmark = pytest.mark.django_db


@pytest.fixture()
def wards(db: Any) -> tuple[TestHospital, list[str]]:
    h = build_hospital()
    surgery = department(h.hospital, "04.01")
    staff("surgeon", Role.DOCTOR, surgery)
    for dept, prefix in ((h.cardiology, "03.04"), (surgery, "04.01")):
        room = Room.objects.create(
            campus=h.hospital.campuses.first(), department=dept, code=f"{prefix}-W01", kind=RoomKind.WARD
        )
        for n in range(1, 7):
            Bed.objects.create(room=room, code=str(n), status=BedStatus.OCCUPIED)  # as foundation leaves them
    for _ in range(40):
        PatientFactory()
    lines: list[str] = []
    build_emr(DemoContext(seed=5, rng=random.Random(5), patients=5000, log=lines.append, state={}))
    return h, lines


def test_a_year_of_stays_with_their_record(wards: tuple[TestHospital, list[str]]) -> None:
    _h, lines = wards
    stays = Encounter.objects.filter(kind=EncounterKind.INPATIENT)
    finished = stays.filter(status=EncounterStatus.FINISHED)
    assert finished.count() >= 200
    assert len({e.admitted_at.date() for e in finished if e.admitted_at}) > 200  # spread over the year
    # Every stay has its admission, beds, discharge and diagnosis (what the indicators read)...
    assert not finished.filter(bed=None).exists() and not finished.filter(attending=None).exists()
    assert not finished.filter(diagnoses=None).exists()
    # ...and those of the last RECORD_DAYS their whole record.
    recent = finished.filter(discharged_at__gte=clock.now() - RECORD_DAYS)
    assert recent.count() >= 20
    for stay in recent:
        assert stay.bed_id and stay.attending_id and stay.discharged_at and stay.admitted_at
        assert stay.discharged_at > stay.admitted_at
        kinds = list(stay.movements.values_list("kind", flat=True))
        assert kinds[0] == MovementKind.ADMISSION and kinds[-1] == MovementKind.DISCHARGE
        notes = list(stay.notes.all())
        assert all(n.status == NoteStatus.SIGNED and n.writing_seconds and n.signed_at for n in notes)
        assert sum(1 for n in notes if n.kind == NoteKind.ADMISSION) == 1
        days = (stay.discharged_at - stay.admitted_at).days
        assert sum(1 for n in notes if n.kind == NoteKind.PROGRESS) >= days - 1  # one a day
        assert all(stay.admitted_at <= n.opened_at <= n.signed_at <= stay.discharged_at for n in notes)
        summary = next(n for n in notes if n.kind == NoteKind.DISCHARGE_SUMMARY)
        # Drafted by the EMR's summary generator from the record: dates, diagnoses, results.
        assert "入院" in summary.history and "出院" in summary.history
        assert stay.diagnoses.get(is_primary=True).icd10_id in summary.assessment
        assert summary.examination and summary.drafted_from == ["record"]
        assert NoteVersion.objects.filter(note__encounter=stay).count() == len(notes)
        labs = stay.orders.filter(kind=OrderKind.LAB)
        assert labs.count() >= 4
        assert all(o.results.exists() for o in labs)
        assert stay.orders.filter(kind=OrderKind.MEDICATION).exists()
    assert EncounterMovement.objects.filter(kind=MovementKind.TRANSFER).exists()
    # Surgical stays have their operation, with the words follow-up's post-operative plans look for.
    operations = Order.objects.filter(kind=OrderKind.PROCEDURE, encounter__department__national_code="04.01")
    assert operations.exists()
    assert {o.encounter.kind for o in operations} == {EncounterKind.INPATIENT}
    # Admission notes are long, progress notes short; both in the record-writing-time field.
    admission = sorted(Note.objects.filter(kind=NoteKind.ADMISSION).values_list("writing_seconds", flat=True))
    progress = sorted(
        Note.objects.filter(kind=NoteKind.PROGRESS, encounter__kind="inpatient").values_list(
            "writing_seconds", flat=True
        )
    )
    assert admission[len(admission) // 2] > progress[len(progress) // 2]
    assert any(line.startswith("emr:") and "inpatient stays" in line for line in lines)


def test_todays_inpatients_occupy_their_beds(wards: tuple[TestHospital, list[str]]) -> None:
    now = clock.now()
    current = list(Encounter.objects.filter(kind=EncounterKind.INPATIENT, status=EncounterStatus.IN_PROGRESS))
    assert len(current) >= 4
    beds = [e.bed_id for e in current]
    assert None not in beds and len(set(beds)) == len(beds)
    assert len({e.patient_id for e in current}) == len(current)
    assert set(Bed.objects.filter(status=BedStatus.OCCUPIED).values_list("pk", flat=True)) == set(beds)
    for stay in current:
        assert stay.discharged_at is None and stay.admitted_at and stay.admitted_at <= now
        assert not stay.notes.filter(kind=NoteKind.DISCHARGE_SUMMARY).exists()
        assert stay.notes.filter(kind=NoteKind.ADMISSION).exists()
        # The ward cares for its inpatients (they are on its lists).
        assert stay.patient.care_relationships.filter(department=stay.department, valid_until=None).exists()
    # No stay of a patient overlaps another of the same patient.
    by_patient: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for e in Encounter.objects.filter(kind=EncounterKind.INPATIENT).order_by("admitted_at"):
        by_patient.setdefault(e.patient_id, []).append((e.admitted_at, e.discharged_at or now))
    for periods in by_patient.values():
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(periods))


def test_results_and_discharge_drugs(wards: tuple[TestHospital, list[str]]) -> None:
    results = Observation.objects.filter(encounter__kind=EncounterKind.INPATIENT)
    assert results.filter(code="2160-0", value__isnull=False).exists()
    assert results.exclude(flag="").exists()
    home = Order.objects.filter(instructions="出院带药")
    assert home.exists() and home.filter(status="completed").exists()


def test_cockpit_demo_reads_the_emr_stays(wards: tuple[TestHospital, list[str]]) -> None:
    stays = Encounter.objects.filter(kind=EncounterKind.INPATIENT).count()
    lines: list[str] = []
    build_kpi(DemoContext(seed=5, rng=random.Random(5), patients=5000, log=lines.append, state={}))
    assert Encounter.objects.filter(kind=EncounterKind.INPATIENT).count() == stays  # none added
    assert lines[-1].startswith(f"kpi: {stays} inpatient stays")
    end = clock.today() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=89)
    for code in ("length_of_stay", "bed_occupancy", "bed_turnover"):
        indicator = indicators.get(code)
        measured = indicator.measure(start, end)
        assert measured is not None, code
        value = indicator.value_of(*measured)
        assert value is not None and value > 0, code
