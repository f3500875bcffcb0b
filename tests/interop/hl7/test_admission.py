"""ADT^A01 admits through the EMR: an inpatient stay in the bed PV1-3 names, under the doctor of
PV1-7, at PV1-44; the same visit number again admits nobody twice; a location that is not a bed
of smartcare, a bed already taken or a second stay is refused with nothing written. A02 moves the
stay to another bed, A03 ends it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.accounts.models import CareRelationship
from smartcare.core import clock
from smartcare.emr.choices import EncounterKind, EncounterStatus, MovementKind
from smartcare.emr.models import Encounter, EncounterMovement
from smartcare.interop.hl7.services import receive
from smartcare.interop.models import Hl7Message, MessageStatus
from smartcare.organization.choices import BedStatus, RoomKind, Sex
from smartcare.organization.models import Bed, Practitioner, Room
from smartcare.patients.models import Patient
from tests.factories import make_national_id
from tests.interop.hl7 import messages as m

pytestmark = pytest.mark.django_db


@pytest.fixture()
def ward(hospital: Any) -> Room:
    room = Room.objects.create(
        campus=hospital.hospital.campuses.first(),
        department=hospital.cardiology,
        code="101",
        kind=RoomKind.WARD,
    )
    for code in ("1", "2"):
        Bed.objects.create(room=room, code=code)
    return room


def admission(
    control: str,
    national_id: str,
    hospital: Any,
    *,
    number: str = "H11",
    trigger: str = "A01",
    **visit: Any,
) -> str:
    return m.adt(
        trigger,
        control,
        identifiers=f"{number}^^^HIS^PI~{national_id}^^^CHN^NNCHN",
        name="张^三",
        birth="19550302",
        sex="M",
        pv1_segment=m.pv1(point_of_care=visit.pop("point_of_care", hospital.cardiology.code), **visit),
    )


def resident() -> str:
    return make_national_id(dt.date(1955, 3, 2), Sex.MALE)


def test_a01_admits_the_patient_to_the_bed_of_pv1_3(his: Any, hospital: Any, ward: Room) -> None:
    doctor = Practitioner.objects.get(user=hospital.user("doctor"))
    national_id = resident()
    reply = receive(
        admission(
            "W-1",
            national_id,
            hospital,
            visit="VISIT-9",
            bed="2",
            attending=f"{doctor.licence_number}^张^医生",
            admitted="20260110083000",
        )
    )
    assert reply.ack_codes == ["AA"], reply.text
    patient = Patient.objects.by_national_id(national_id).get()
    stay = Encounter.objects.get(patient=patient)
    assert (stay.kind, stay.status, stay.department) == (
        EncounterKind.INPATIENT,
        EncounterStatus.IN_PROGRESS,
        hospital.cardiology,
    )
    assert stay.bed == Bed.objects.get(room=ward, code="2") and stay.attending == doctor
    assert (
        stay.admitted_at
        == stay.started_at
        == dt.datetime(2026, 1, 10, 8, 30, tzinfo=clock.local_now().tzinfo)
    )
    assert Bed.objects.get(room=ward, code="2").status == BedStatus.OCCUPIED
    movement = EncounterMovement.objects.get(encounter=stay)
    assert movement.kind == MovementKind.ADMISSION and movement.by == his.user
    # The ward (cardiology) cares for the patient; another department does not see them.
    assert Patient.objects.visible_to(hospital.user("doctor")).filter(pk=patient.pk).exists()
    assert not Patient.objects.visible_to(hospital.user("neurologist")).filter(pk=patient.pk).exists()
    assert CareRelationship.objects.get(patient=patient).source == f"emr.encounter:{stay.pk}"
    visit = Hl7Message.objects.get(control_id="W-1").summary["visit"]
    assert visit == {
        "patient_class": "I",
        "visit_number": "VISIT-9",
        "encounter": stay.pk,
        "department": hospital.cardiology.code,
        "room": "101",
        "bed": "2",
        "attending": doctor.pk,
    }

    # The HIS sends the same admission again (a new MSH-10): the same stay, no second admission.
    again = receive(admission("W-2", national_id, hospital, visit="VISIT-9", bed="2"))
    assert again.ack_codes == ["AA"] and "already admitted" in again.text
    assert Encounter.objects.filter(patient=patient).count() == 1
    assert Hl7Message.objects.get(control_id="W-2").summary["visit"]["encounter"] == stay.pk


def test_an_unknown_attending_is_a_warning_and_the_time_defaults_to_evn(
    his: Any, hospital: Any, ward: Room
) -> None:
    reply = receive(admission("W-3", resident(), hospital, attending="NOBODY^王^医生"))
    assert reply.ack_codes == ["AA"] and "PV1-7 NOBODY" in reply.text
    stay = Encounter.objects.get(kind=EncounterKind.INPATIENT)
    assert stay.attending is None and stay.admitted_at is not None
    assert stay.admitted_at <= clock.now()


@pytest.mark.parametrize(
    ("visit", "code", "reason"),
    [
        ({"point_of_care": "99.99"}, "HL7-024", "no active department has the code 99.99"),
        ({"bed": ""}, "HL7-024", "an admission needs the room"),
        ({"room": "999"}, "HL7-024", "has no bed 1 in a room 999"),
        ({"bed": "7"}, "HL7-024", "has no bed 7 in a room 101"),
        ({"point_of_care": ""}, "HL7-004", "PV1-3"),
        ({"admitted": "20991231235959"}, "HL7-013", "PV1-44"),
    ],
)
def test_an_admission_that_cannot_be_placed_writes_nothing(
    his: Any, hospital: Any, ward: Room, visit: dict[str, Any], code: str, reason: str
) -> None:
    national_id = resident()
    reply = receive(admission("L-1", national_id, hospital, **visit))
    assert reply.ack_codes == ["AE"], reply.text
    assert code in reply.text and reason in reply.text
    # Not even the new patient: the message is written whole or not at all.
    assert not Patient.objects.by_national_id(national_id).exists()
    assert not Encounter.objects.exists()
    assert set(Bed.objects.values_list("status", flat=True)) == {BedStatus.FREE}
    assert Hl7Message.objects.get(control_id="L-1").status == MessageStatus.ERROR


def test_an_a01_without_pv1_is_refused(his: Any, hospital: Any) -> None:
    identifiers = f"H1^^^HIS^PI~{resident()}^^^CHN^NNCHN"
    reply = receive(m.adt("A01", "L-2", identifiers=identifiers, birth="19550302", sex="M"))
    assert reply.ack_codes == ["AE"] and "HL7-004" in reply.text and "ERR||PV1|" in reply.text


def test_a_taken_bed_or_a_second_stay_is_refused(his: Any, hospital: Any, ward: Room) -> None:
    first = resident()
    assert receive(admission("T-1", first, hospital, visit="V-1")).ack_codes == ["AA"]
    # Another patient into the same bed.
    other = make_national_id(dt.date(1955, 3, 2), Sex.MALE)
    taken = receive(admission("T-2", other, hospital, number="H12", visit="V-2"))
    assert taken.ack_codes == ["AE"] and "HL7-025" in taken.text and "EMR-003" in taken.text
    assert not Patient.objects.by_national_id(other).exists()
    # The first patient again under another visit number, while still in the ward.
    second = receive(admission("T-3", first, hospital, visit="V-3", bed="2"))
    assert second.ack_codes == ["AE"] and "HL7-025" in second.text and "EMR-011" in second.text
    assert Encounter.objects.count() == 1
    assert Bed.objects.get(room=ward, code="2").status == BedStatus.FREE


def test_a_visit_number_of_another_patient_is_refused(his: Any, hospital: Any, ward: Room) -> None:
    assert receive(admission("VN-1", resident(), hospital, visit="V-7")).ack_codes == ["AA"]
    other = make_national_id(dt.date(1955, 3, 2), Sex.MALE)
    reply = receive(admission("VN-2", other, hospital, number="H13", visit="V-7", bed="2"))
    assert reply.ack_codes == ["AE"] and "HL7-012" in reply.text and "PV1^1^19" in reply.text


def test_an_a01_of_an_outpatient_gives_the_clinic_access_only(his: Any, hospital: Any, ward: Room) -> None:
    national_id = resident()
    reply = receive(admission("O-1", national_id, hospital, patient_class="O", visit="VISIT-5"))
    assert reply.ack_codes == ["AA"], reply.text
    patient = Patient.objects.by_national_id(national_id).get()
    assert not Encounter.objects.filter(patient=patient).exists()
    care = CareRelationship.objects.get(patient=patient)
    assert care.kind == "admission" and care.source.endswith(":VISIT-5")


def test_a02_transfers_and_a03_discharges_the_stay(his: Any, hospital: Any, ward: Room) -> None:
    national_id = resident()
    assert receive(admission("S-1", national_id, hospital, visit="V-20")).ack_codes == ["AA"]
    stay = Encounter.objects.get(kind=EncounterKind.INPATIENT)
    bed1, bed2 = Bed.objects.get(room=ward, code="1"), Bed.objects.get(room=ward, code="2")

    moved = receive(admission("S-2", national_id, hospital, trigger="A02", visit="V-20", bed="2"))
    assert moved.ack_codes == ["AA"], moved.text
    stay.refresh_from_db()
    assert stay.bed == bed2 and stay.is_open
    bed1.refresh_from_db()
    assert bed1.status == BedStatus.CLEANING
    again = receive(admission("S-3", national_id, hospital, trigger="A02", visit="V-20", bed="2"))
    assert again.ack_codes == ["AA"] and "already in bed 101-2" in again.text
    nowhere = receive(admission("S-4", national_id, hospital, trigger="A02", visit="V-20", bed="9"))
    assert nowhere.ack_codes == ["AE"] and "HL7-024" in nowhere.text

    discharged = receive(admission("S-5", national_id, hospital, trigger="A03", visit="V-20", bed="2"))
    assert discharged.ack_codes == ["AA"], discharged.text
    stay.refresh_from_db()
    assert stay.status == EncounterStatus.FINISHED and stay.discharged_at is not None
    assert [mv.kind for mv in stay.movements.order_by("pk")] == [
        MovementKind.ADMISSION,
        MovementKind.TRANSFER,
        MovementKind.DISCHARGE,
    ]
    assert set(Bed.objects.values_list("status", flat=True)) == {BedStatus.CLEANING}
    repeated = receive(admission("S-6", national_id, hospital, trigger="A03", visit="V-20"))
    assert repeated.ack_codes == ["AA"] and "already discharged" in repeated.text
    # A transfer of the ended stay is refused.
    late = receive(admission("S-7", national_id, hospital, trigger="A02", visit="V-20", bed="1"))
    assert late.ack_codes == ["AE"] and "HL7-025" in late.text and "EMR-001" in late.text


def test_a03_needs_a_known_patient_with_a_stay(his: Any, hospital: Any, ward: Room) -> None:
    national_id = resident()
    unknown = receive(admission("X-1", national_id, hospital, trigger="A03", visit="V-30"))
    assert unknown.ack_codes == ["AE"] and "HL7-011" in unknown.text
    assert not Patient.objects.by_national_id(national_id).exists()
    receive(admission("X-2", national_id, hospital, trigger="A04", patient_class="O"))
    no_stay = receive(admission("X-3", national_id, hospital, trigger="A03", visit="V-30"))
    assert no_stay.ack_codes == ["AE"] and "HL7-027" in no_stay.text and "V-30" in no_stay.text
