"""Admissions under concurrency on PostgreSQL: one patient per bed, one open stay per patient."""

from __future__ import annotations

from typing import Any

import pytest

from smartcare.accounts.services import register_care_relationship
from smartcare.emr import services
from smartcare.emr.models import Encounter
from smartcare.organization.choices import BedStatus, RoomKind
from smartcare.organization.models import Bed, Room
from tests.factories import PatientFactory, TestHospital
from tests.scheduling.test_concurrency_pg import kinds, together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _beds(h: TestHospital, count: int) -> list[Bed]:
    room = Room.objects.create(
        campus=h.hospital.campuses.first(), department=h.cardiology, code="W9", kind=RoomKind.WARD
    )
    return [Bed.objects.create(room=room, code=f"{n:02d}") for n in range(count)]


def test_ten_patients_race_for_one_bed(h: TestHospital) -> None:
    (bed,) = _beds(h, 1)
    patients = [PatientFactory() for _ in range(10)]
    for p in patients:
        register_care_relationship(
            patient=p, department=h.cardiology, kind="appointment", source=f"race:{p.pk}"
        )
    nurse = h.user("nurse")

    def admit(i: int) -> Any:
        return services.admit(nurse, patient_id=patients[i].pk, department_id=h.cardiology.pk, bed_id=bed.pk)

    results = together(10, admit)
    assert kinds(results) == {"Encounter": 1, "BedNotAvailable": 9}
    assert Encounter.objects.filter(bed=bed).count() == 1


def test_one_patient_admitted_to_five_beds_at_once_gets_one_stay(h: TestHospital) -> None:
    beds = _beds(h, 5)
    nurse = h.user("nurse")

    def admit(i: int) -> Any:
        return services.admit(
            nurse, patient_id=h.patient_in_care.pk, department_id=h.cardiology.pk, bed_id=beds[i].pk
        )

    results = together(5, admit)
    assert kinds(results) == {"Encounter": 1, "AlreadyAdmitted": 4}
    assert Encounter.objects.filter(patient=h.patient_in_care).count() == 1
    assert sorted(Bed.objects.values_list("status", flat=True)) == [BedStatus.FREE] * 4 + [BedStatus.OCCUPIED]
