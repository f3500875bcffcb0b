"""ADT^A01/A04/A08 through the one receiving path: registration, update, care for the admitting
department, and every refusal acknowledged with its coded reason and nothing written."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.accounts.models import CareRelationship
from smartcare.audit.models import AuditEvent
from smartcare.interop.hl7.services import receive
from smartcare.interop.models import ExternalIdentifier, Hl7Message, MessageStatus
from smartcare.organization.choices import Sex
from smartcare.patients.models import Patient
from tests.factories import make_national_id
from tests.interop.hl7 import messages as m

pytestmark = pytest.mark.django_db


def resident(sex: str = Sex.FEMALE, birth: dt.date = dt.date(1980, 5, 17)) -> str:
    return make_national_id(birth, sex)


def new_patient_ids(number: str, national_id: str) -> str:
    return f"{number}^^^HIS^PI~{national_id}^^^CHN^NNCHN"


def test_a04_registers_a_patient_and_remembers_the_his_number(his: Any, hospital: Any) -> None:
    national_id = resident()
    message = m.adt(
        "A04",
        "A04-1",
        identifiers=new_patient_ids("H1001", national_id),
        phone="13912345678",
        address="^^徐汇区^上海市",
        pv1_segment=m.pv1(point_of_care=hospital.cardiology.code, patient_class="O"),
    )
    reply = receive(message)
    assert reply.ack_codes == ["AA"]
    assert "MSA|AA|A04-1" in reply.text
    patient = Patient.objects.by_national_id(national_id).get()
    assert patient.name == "王小明"
    assert patient.birth_date == dt.date(1980, 5, 17)
    assert patient.phone == "13912345678"
    assert patient.medical_record_number == f"MRN{patient.pk:08d}"
    identifier = ExternalIdentifier.lookup("HIS", "H1001").get()
    assert identifier.patient == patient and identifier.value == "H1001"
    assert "H1001" not in identifier.value_hash
    # The clinic of PV1-3 now cares for the patient, for a limited time.
    care = CareRelationship.objects.get(patient=patient)
    assert care.department == hospital.cardiology and care.valid_until is not None
    event = AuditEvent.objects.get(action="create", object_type="patients.Patient", object_id=str(patient.pk))
    assert event.actor == his.user and event.detail["via"] == "hl7"
    logged = Hl7Message.objects.get(control_id="A04-1")
    assert logged.status == MessageStatus.ACCEPTED and logged.patient == patient and logged.system == his
    assert "PID|" in logged.raw


def test_registering_again_matches_the_same_patient(his: Any) -> None:
    national_id = resident()
    receive(m.adt("A04", "R-1", identifiers=new_patient_ids("H2", national_id)))
    reply = receive(m.adt("A04", "R-2", identifiers="H2^^^HIS^PI", name="王^小明"))
    assert reply.ack_codes == ["AA"], reply.text
    assert Patient.objects.by_national_id(national_id).count() == 1
    assert Hl7Message.objects.get(control_id="R-2").summary["created"] is False


def test_a08_updates_demographics(his: Any) -> None:
    national_id = resident()
    receive(m.adt("A04", "U-1", identifiers=new_patient_ids("H3", national_id)))
    reply = receive(m.adt("A08", "U-2", identifiers="H3^^^HIS^PI", name="王^晓明", phone="13800001111"))
    assert reply.ack_codes == ["AA"]
    patient = Patient.objects.by_national_id(national_id).get()
    assert (patient.name, patient.phone) == ("王晓明", "13800001111")
    assert Hl7Message.objects.get(control_id="U-2").summary["changed"] == ["name", "phone"]


def test_a08_for_an_unknown_patient_is_an_application_error(his: Any) -> None:
    before = Patient.objects.count()
    reply = receive(m.adt("A08", "X-1", identifiers="NOBODY^^^HIS^PI"))
    assert reply.ack_codes == ["AE"]
    assert "HL7-011" in reply.text and "ERR|" in reply.text and "204" in reply.text
    assert Patient.objects.count() == before
    assert Hl7Message.objects.get(control_id="X-1").status == MessageStatus.ERROR


@pytest.mark.parametrize(
    ("identifiers", "birth", "authority", "code", "where"),
    [
        # Only smartcare's own record number, which matches nobody: no identity to register.
        ("MRN99999999^^^SMARTCARE^MR", "19800517", "HIS", "HL7-004", "PID^1^3"),
        # A bare number from a sender without an assigning authority could be anybody's.
        ("H9", "19800517", "", "HL7-004", "PID^1^3"),
        ("H9^^^HIS^PI~110101198005170000^^^CHN^NNCHN", "19800517", "HIS", "HL7-018", "PID^1^3"),
        ("E1234567^^^CHN^PPN", "", "HIS", "HL7-004", "PID^1^7"),  # a passport, but no birth date
        ("E1234567^^^CHN^PPN", "10131113", "HIS", "HL7-013", "PID^1^7"),  # born in the year 1013
    ],
)
def test_a_new_patient_needs_a_usable_identity(
    his: Any, identifiers: str, birth: str, authority: str, code: str, where: str
) -> None:
    his.assigning_authority = authority
    his.save()
    before = (Patient.objects.count(), ExternalIdentifier.objects.count(), AuditEvent.objects.count())
    reply = receive(m.adt("A04", "N-1", identifiers=identifiers, birth=birth))
    assert reply.ack_codes == ["AE"] and code in reply.text and f"ERR||{where}|" in reply.text
    assert (Patient.objects.count(), ExternalIdentifier.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(
    ("identifiers", "identity"),
    [
        ("E1234567^^^CHN^PPN", "urn:smartcare:hl7v2:CHN:PPN|E1234567"),  # passport
        ("A7788^^^PUMCH^MR", "urn:smartcare:hl7v2:PUMCH:MR|A7788"),  # another hospital's record number
        ("123-45-6789^^^USA^NI", "urn:smartcare:hl7v2:USA:NI|123-45-6789"),  # a foreign national ID
        ("H12^^^HIS^PI~E1234567^^^CHN^PPN", "urn:smartcare:hl7v2:CHN:PPN|E1234567"),  # strongest first
        ("H12", "urn:smartcare:hl7v2:HIS:ID|H12"),  # the HIS's own number (its authority)
    ],
)
def test_a_patient_without_a_resident_id_is_registered_with_another_document(
    his: Any, identifiers: str, identity: str
) -> None:
    reply = receive(
        m.adt("A04", "P-1", identifiers=identifiers, name="SMITH^JOHN", birth="19710203", sex="M")
    )
    assert reply.ack_codes == ["AA"], reply.text
    patient = Patient.objects.by_national_id(identity).get()
    assert (patient.name, patient.birth_date, patient.sex) == ("SMITH JOHN", dt.date(1971, 2, 3), Sex.MALE)
    assert patient.medical_record_number == f"MRN{patient.pk:08d}"
    assert Hl7Message.objects.get(control_id="P-1").summary["created"] is True
    # The same document later finds the same patient (an update, not a second registration).
    again = receive(
        m.adt("A08", "P-2", identifiers=identifiers, name="SMITH^JOHNNY", birth="19710203", sex="M")
    )
    assert again.ack_codes == ["AA"], again.text
    patient.refresh_from_db()
    assert patient.name == "SMITH JOHNNY" and Patient.objects.by_national_id(identity).count() == 1


def test_a_document_registered_to_another_patient_is_refused(his: Any) -> None:
    receive(m.adt("A04", "PD-1", identifiers="E1234567^^^CHN^PPN", birth="19710203", sex="M"))
    # Another HIS number with the same passport: the HIS number is new, the passport is not.
    reply = receive(
        m.adt("A04", "PD-2", identifiers="E1234567^^^CHN^PPN~H77^^^HIS^PI", birth="19900101", sex="M")
    )
    assert reply.ack_codes == ["AE"] and "HL7-012" in reply.text
    assert Patient.objects.filter(birth_date=dt.date(1990, 1, 1)).count() == 0


def test_a_message_sent_twice_is_written_once(his: Any) -> None:
    national_id = resident()
    message = m.adt("A04", "D-1", identifiers=new_patient_ids("H4", national_id))
    assert receive(message).ack_codes == ["AA"]
    again = receive(message)
    assert again.ack_codes == ["AA"] and "duplicate" in again.text
    assert Patient.objects.by_national_id(national_id).count() == 1
    statuses = list(
        Hl7Message.objects.filter(control_id="D-1").values_list("status", flat=True).order_by("pk")
    )
    assert statuses == [MessageStatus.ACCEPTED, MessageStatus.DUPLICATE]


def test_birth_date_that_differs_from_the_record_is_refused(his: Any) -> None:
    national_id = resident()
    receive(m.adt("A04", "B-1", identifiers=new_patient_ids("H5", national_id)))
    patient = Patient.objects.by_national_id(national_id).get()
    reply = receive(m.adt("A08", "B-2", identifiers="H5^^^HIS^PI", name="李^四", birth="19900101"))
    assert reply.ack_codes == ["AE"] and "HL7-012" in reply.text and "PID^1^7" in reply.text
    patient.refresh_from_db()
    assert patient.name == "王小明"


@pytest.mark.parametrize(
    ("change", "ack", "code"),
    [
        ({"sender": ("UNKNOWN", "X")}, "AR", "HL7-009"),
        ({"kind": "SIU", "trigger": "S12"}, "AR", "HL7-005"),
        ({"trigger": "A05"}, "AR", "HL7-006"),
        ({"processing": "T"}, "AR", "HL7-007"),
        ({"version": "3.0"}, "AR", "HL7-008"),
        ({"control": ""}, "AE", "HL7-004"),
    ],
)
def test_unsupported_or_unknown_messages_are_refused(
    his: Any, change: dict[str, Any], ack: str, code: str
) -> None:
    header = m.msh(
        change.get("trigger", "A04"),
        change.get("control", "Z-1"),
        sender=change.get("sender", ("HIS", "MAIN")),
        kind=change.get("kind", "ADT"),
        version=change.get("version", "2.5"),
        processing=change.get("processing", "P"),
    )
    message = header + "\r" + m.pid(identifiers=new_patient_ids("H6", resident())) + "\r"
    before = Patient.objects.count()
    reply = receive(message)
    assert reply.ack_codes == [ack]
    assert f"MSA|{ack}|" in reply.text and code in reply.text
    assert Patient.objects.count() == before
    assert Hl7Message.objects.filter(error_code=code).exists()


def test_an_inactive_system_is_refused(his: Any) -> None:
    his.is_active = False
    his.save()
    reply = receive(m.adt("A04", "I-1", identifiers=new_patient_ids("H7", resident())))
    assert reply.ack_codes == ["AR"] and "HL7-009" in reply.text


def test_mllp_senders_outside_the_allowed_networks_are_refused(his: Any) -> None:
    his.allowed_networks = "10.1.2.0/24"
    his.save()
    message = m.adt("A04", "NET-1", identifiers=new_patient_ids("H8", resident()))
    refused = receive(message, remote_address="192.168.0.9")
    assert refused.ack_codes == ["AR"] and "HL7-010" in refused.text
    assert receive(message, remote_address="10.1.2.7").ack_codes == ["AA"]


def test_a_deceased_patient_is_not_admitted(his: Any) -> None:
    national_id = resident()
    receive(m.adt("A04", "DE-1", identifiers=new_patient_ids("H10", national_id)))
    Patient.objects.by_national_id(national_id).update(is_deceased=True)
    reply = receive(m.adt("A01", "DE-2", identifiers="H10^^^HIS^PI"))
    assert reply.ack_codes == ["AE"] and "HL7-020" in reply.text


def test_an_unregistered_channel_sees_only_its_bound_patients(his: Any, hospital: Any) -> None:
    from smartcare.accounts.choices import Role
    from tests.factories import UserFactory

    app = UserFactory(username="app-channel", role=Role.CHANNEL)
    assert not Patient.objects.visible_to(app).exists()
    assert Patient.objects.visible_to(his.user).count() == Patient.objects.count()
