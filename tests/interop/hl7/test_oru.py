"""ORU^R01: results linked to patient and order with units, ranges and flags; reports to the
patient's inbox with abnormal values explained; critical values to the ordering doctor;
corrections update in place; every refusal writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from smartcare.core import clock
from smartcare.emr.models import Encounter, Observation, Order
from smartcare.interop.hl7.services import receive
from smartcare.interop.models import DiagnosticReport, Hl7Message, ReportDelivery
from smartcare.notifications.models import Notification
from tests.interop.hl7 import messages as m

pytestmark = pytest.mark.django_db


@pytest.fixture()
def order(hospital: Any) -> Order:
    doctor = hospital.user("doctor")
    encounter = Encounter.objects.create(
        patient=hospital.own_patient,
        kind="outpatient",
        department=hospital.cardiology,
        attending=doctor.practitioner,
        status="in_progress",
        started_at=clock.now(),
    )
    return Order.objects.create(
        encounter=encounter,
        patient=hospital.own_patient,
        kind="lab",
        name="Metabolic panel",
        code="24323-8",
        status="signed",
        signed_at=clock.now(),
        ordered_by=doctor,
    )


def ids(patient: Any) -> str:
    return f"{patient.medical_record_number}^^^SMARTCARE^MR"


def glucose(value: str = "^182", flag: str = "H", set_id: int = 1) -> str:
    return m.obx(set_id, "SN", "1554-5^GLUCOSE^LN", value, "mg/dl", "70_105", flag)


def test_results_are_kept_with_units_ranges_flags_and_the_order(
    lis: Any, hospital: Any, order: Order
) -> None:
    patient = hospital.own_patient
    message = m.oru(
        "L-1",
        identifiers=ids(patient),
        groups=[
            (
                m.obr(placer=f"{order.pk}^SMARTCARE", filler="LAB-100"),
                [
                    glucose(),
                    m.obx(2, "NM", "2823-3^Potassium^LN", "4.1", "mmol/L", "3.5-5.1", "N"),
                    m.obx(3, "NM", "2160-0^Creatinine^LN", "50", "umol/L", "45-110"),
                    m.obx(4, "ST", "5778-6^Color of urine^LN", "yellow"),
                ],
            )
        ],
    )
    reply = receive(message)
    assert reply.ack_codes == ["AA"], reply.text
    rows = {o.code: o for o in Observation.objects.filter(patient=patient)}
    assert set(rows) == {"1554-5", "2823-3", "2160-0", "5778-6"}
    sugar = rows["1554-5"]
    assert (sugar.value, sugar.unit, sugar.reference_low, sugar.reference_high, sugar.flag) == (
        182.0,
        "mg/dl",
        70.0,
        105.0,
        "H",
    )
    assert sugar.source == "hl7" and sugar.order == order and sugar.encounter == order.encounter
    assert sugar.external_id == "LAB-100:1"
    assert sugar.recorded_by == lis.user
    assert rows["2823-3"].flag == "" and rows["2160-0"].flag == ""  # N, and computed from the range
    assert rows["5778-6"].value_text == "yellow"
    report = DiagnosticReport.objects.get(patient=patient)
    assert report.status == "final" and report.code == "24323-8" and report.code_system == "http://loinc.org"
    assert set(report.results.all()) == set(rows.values())
    delivery = report.delivery
    assert (delivery.order, delivery.ordering_user, delivery.filler_number) == (
        order,
        order.ordered_by,
        "LAB-100",
    )
    assert delivery.abnormal_count == 1 and delivery.critical_count == 0 and delivery.published_at is not None


def test_the_patient_gets_the_report_with_the_abnormal_value_explained(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    receive(m.oru("P-1", identifiers=ids(patient), groups=[(m.obr(filler="LAB-2"), [glucose()])]))
    note = Notification.objects.get(recipient=patient.user, category="report")
    report = DiagnosticReport.objects.get(patient=patient)
    assert note.link == f"/interop/reports/{report.pk}/"
    assert "GLUCOSE" in note.body and "182" in note.body and "70–105" in note.body
    assert "diabetes" in note.body  # the plain-language explanation of a high glucose
    # No critical value: the doctor is not disturbed.
    assert not Notification.objects.filter(category="critical_result").exists()


def test_a_critical_value_is_sent_to_the_ordering_doctor(lis: Any, hospital: Any, order: Order) -> None:
    patient = hospital.own_patient
    message = m.oru(
        "C-1",
        identifiers=ids(patient),
        groups=[
            (
                m.obr(placer=f"{order.pk}^SMARTCARE", filler="LAB-3"),
                [m.obx(1, "NM", "2823-3^Potassium^LN", "6.9", "mmol/L", "3.5-5.1", "HH")],
            )
        ],
    )
    assert receive(message).ack_codes == ["AA"]
    alert = Notification.objects.get(category="critical_result")
    assert alert.recipient == order.ordered_by
    assert patient.name in alert.body and "6.9" in alert.body
    delivery = ReportDelivery.objects.get(filler_number="LAB-3")
    assert delivery.critical_count == 1 and delivery.critical_notified_to == order.ordered_by
    patient_note = Notification.objects.get(recipient=patient.user, category="report")
    assert "your doctor has been told" in patient_note.body


def test_aa_marks_a_result_critical_and_obr16_names_the_doctor(lis: Any, hospital: Any) -> None:
    doctor = hospital.user("doctor")
    licence = doctor.practitioner.licence_number
    message = m.oru(
        "AA-1",
        identifiers=ids(hospital.own_patient),
        groups=[
            (
                m.obr(filler="LAB-4", ordering=f"{licence}^DOCTOR"),
                [m.obx(1, "CWE", "600-7^Blood culture^LN", "POS^Positive", flag="AA")],
            )
        ],
    )
    assert receive(message).ack_codes == ["AA"]
    assert Notification.objects.get(category="critical_result").recipient == doctor


def test_a_correction_updates_the_same_report_and_results(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    receive(m.oru("K-1", identifiers=ids(patient), groups=[(m.obr(filler="LAB-5"), [glucose()])]))
    corrected = m.oru(
        "K-2", identifiers=ids(patient), groups=[(m.obr(filler="LAB-5", status="C"), [glucose("^95", "N")])]
    )
    assert receive(corrected).ack_codes == ["AA"]
    report = DiagnosticReport.objects.get(patient=patient)
    assert report.status == "corrected"
    observation = report.results.get()
    assert (observation.value, observation.flag) == (95.0, "")
    assert Observation.objects.filter(patient=patient).count() == 1
    subjects = list(
        Notification.objects.filter(recipient=patient.user, category="report").values_list(
            "subject", flat=True
        )
    )
    assert len(subjects) == 2 and any("updated" in s for s in subjects)


def test_a_preliminary_report_is_not_sent_to_the_patient(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    receive(
        m.oru("PR-1", identifiers=ids(patient), groups=[(m.obr(filler="LAB-6", status="P"), [glucose()])])
    )
    assert DiagnosticReport.objects.get(patient=patient).status == "preliminary"
    assert not Notification.objects.filter(recipient=patient.user).exists()


def test_batch_of_two_results_is_answered_with_a_batch_of_acks(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    first = m.oru("BT-1", identifiers=ids(patient), groups=[(m.obr(filler="LAB-7"), [glucose()])])
    second = m.oru("BT-2", identifiers="NOBODY^^^LIS^PI", groups=[(m.obr(filler="LAB-8"), [glucose()])])
    reply = receive(m.batch([first, second]))
    assert reply.ack_codes == ["AA", "AE"]
    assert reply.text.startswith("BHS|") and reply.text.rstrip("\r").endswith("BTS|2")
    assert "MSA|AA|BT-1" in reply.text and "MSA|AE|BT-2" in reply.text
    assert DiagnosticReport.objects.filter(patient=patient).count() == 1


def test_an_incomplete_batch_is_refused_as_a_whole(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    first = m.oru("IB-1", identifiers=ids(patient), groups=[(m.obr(filler="LAB-9"), [glucose()])])
    reply = receive(m.batch([first], count=3))
    assert reply.ack_codes == ["AR"] and "HL7-015" in reply.text
    missing_trailer = receive(m.batch([first], trailer=False))
    assert missing_trailer.ack_codes == ["AR"] and "HL7-015" in missing_trailer.text
    assert not Observation.objects.exists()


@pytest.mark.parametrize(
    ("obx", "code"),
    [
        (m.obx(1, "NM", "2823-3^Potassium^LN", "high", "mmol/L"), "HL7-013"),  # not a number
        (m.obx(1, "NM", "2823-3^Potassium^LN", "4.1", "mmol/L", "3.5-5.1", "ZZ"), "HL7-013"),  # unknown flag
        (m.obx(1, "", "2823-3^Potassium^LN", "4.1"), "HL7-004"),  # no value type
        (m.obx(1, "XX", "2823-3^Potassium^LN", "4.1"), "HL7-026"),  # not a value type (table 0125)
        (m.obx(1, "NM", "", "4.1"), "HL7-004"),  # no code
    ],
)
def test_one_bad_result_refuses_the_whole_message(lis: Any, hospital: Any, obx: str, code: str) -> None:
    patient = hospital.own_patient
    message = m.oru(
        "BAD-1",
        identifiers=ids(patient),
        groups=[(m.obr(filler="LAB-10"), [glucose(), obx.replace("OBX|1|", "OBX|2|")])],
    )
    reply = receive(message)
    assert reply.ack_codes == ["AE"] and code in reply.text
    assert not Observation.objects.exists()
    assert not DiagnosticReport.objects.exists()
    assert not Notification.objects.filter(category__in=["report", "critical_result"]).exists()
    assert Hl7Message.objects.get(control_id="BAD-1").error_code == code


def test_unknown_patient_unknown_order_and_wrong_structure(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    unknown = receive(m.oru("E-1", identifiers="999^^^SMARTCARE^MR", groups=[(m.obr(), [glucose()])]))
    assert unknown.ack_codes == ["AE"] and "HL7-011" in unknown.text
    wrong_order = receive(
        m.oru("E-2", identifiers=ids(patient), groups=[(m.obr(placer="99999^SMARTCARE"), [glucose()])])
    )
    assert wrong_order.ack_codes == ["AE"] and "HL7-014" in wrong_order.text
    no_obr = (
        m.msh("R01", "E-3", sender=("GHH LAB", "ELAB-3"), kind="ORU")
        + "\r"
        + m.pid(identifiers=ids(patient))
        + "\r"
        + glucose()
        + "\r"
    )
    assert "HL7-003" in receive(no_obr).text
    other_sex = receive(m.oru("E-4", identifiers=ids(patient), sex="M", groups=[(m.obr(), [glucose()])]))
    assert other_sex.ack_codes == ["AE"] and "HL7-012" in other_sex.text
    assert not Observation.objects.exists()


def test_attachments_and_cancelled_results_are_reported_not_kept(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    message = m.oru(
        "W-1",
        identifiers=ids(patient),
        groups=[
            (
                m.obr(filler="LAB-11"),
                [
                    glucose(),
                    m.obx(2, "ED", "PDF^Report", "^application^pdf^Base64^AAAA"),
                    m.obx(3, "NM", "2823-3^Potassium^LN", "", status="X"),
                ],
            )
        ],
    )
    reply = receive(message)
    assert reply.ack_codes == ["AA"]
    assert "ED attachments are not kept" in reply.text
    assert Observation.objects.filter(patient=patient).count() == 1


def test_the_lis_number_of_a_patient_registered_by_the_his(his: Any, lis: Any, hospital: Any) -> None:
    """The LIS names the patient by the HIS number in PID-3 (authority HIS), learnt from the ADT."""
    from smartcare.interop.models import ExternalIdentifier

    ExternalIdentifier(patient=hospital.own_patient, authority="HIS", value="H-77", system=his).save()
    reply = receive(m.oru("X-1", identifiers="H-77^^^HIS^PI", groups=[(m.obr(filler="LAB-12"), [glucose()])]))
    assert reply.ack_codes == ["AA"]
    assert Observation.objects.get().patient == hospital.own_patient


@pytest.mark.parametrize(
    ("value_type", "value", "kept"),
    [
        ("XPN", "WANG^FANG", "WANG FANG"),  # a table 0125 type smartcare does not interpret: its text
        ("MO", "12.5^CNY", "12.5 CNY"),
    ],
)
def test_other_value_types_of_table_0125_are_kept_as_text(
    lis: Any, hospital: Any, value_type: str, value: str, kept: str
) -> None:
    patient = hospital.own_patient
    message = m.oru(
        "VT-1",
        identifiers=ids(patient),
        groups=[(m.obr(filler="VT-1"), [m.obx(1, value_type, "X1^Other^L", value)])],
    )
    assert receive(message).ack_codes == ["AA"]
    assert Observation.objects.get(patient=patient).value_text == kept


def test_a_value_type_outside_table_0125_refuses_the_message(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    message = m.oru(
        "VT-2",
        identifiers=ids(patient),
        groups=[(m.obr(filler="VT-2"), [glucose(), m.obx(2, "FN", "1554-5^GLUCOSE^LN", "^182")])],
    )
    reply = receive(message)
    assert reply.ack_codes == ["AE"] and "HL7-026" in reply.text and "ERR||OBX^2^2|" in reply.text
    assert not Observation.objects.filter(patient=patient).exists()
    assert not DiagnosticReport.objects.filter(patient=patient).exists()


def test_a_long_name_in_the_coding_system_component_is_not_a_system(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    long_name = "1554-5^GLUCOSE^POST 12H CFST:MCNC:PT:SER/PLAS:QN"
    message = m.oru(
        "CS-1",
        identifiers=ids(patient),
        groups=[(m.obr(filler="CS-1"), [m.obx(1, "SN", long_name, "^182", "mg/dl", "70_105", "H")])],
    )
    assert receive(message).ack_codes == ["AA"]
    assert Observation.objects.get(patient=patient).code == "1554-5"


def test_an_invalid_birth_date_on_results_is_a_warning(lis: Any, hospital: Any) -> None:
    patient = hospital.own_patient
    message = m.oru(
        "BD-1", identifiers=ids(patient), birth="196203520", groups=[(m.obr(filler="BD-1"), [glucose()])]
    )
    reply = receive(message)
    assert reply.ack_codes == ["AA"] and "PID-7 196203520: not a valid birth date, ignored" in reply.text
    assert Observation.objects.filter(patient=patient).count() == 1
