"""Encounters, notes (drafting, signing, amendment history), orders, summaries and bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.accounts.models import CareRelationship
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, NotFound, PermissionDenied
from smartcare.emr import services
from smartcare.emr.choices import (
    EncounterKind,
    EncounterStatus,
    MovementKind,
    NoteKind,
    NoteStatus,
    OrderStatus,
)
from smartcare.emr.models import (
    Allergy,
    Encounter,
    Note,
    NoteVersion,
    Observation,
    Order,
    VitalSign,
)
from smartcare.organization.choices import BedStatus, RoomKind
from smartcare.organization.models import Bed, Room
from tests.factories import TestHospital


def med(**overrides: Any) -> services.OrderData:
    values: dict[str, Any] = {
        "kind": "medication",
        "item": "drug:amoxicillin",
        "dose": "500",
        "dose_unit": "mg",
        "route": "oral",
        "frequency_per_day": "3",
        "duration_days": "7",
    }
    values.update(overrides)
    return services.OrderData(**values)


def open_visit(h: TestHospital, patient: Any = None, **kwargs: Any) -> Encounter:
    return services.open_encounter(h.user("doctor"), patient_id=(patient or h.patient_in_care).pk, **kwargs)


def test_opening_a_visit_gives_care_and_drafts_a_note(h: TestHospital) -> None:
    encounter = open_visit(h, language="en")
    assert encounter.status == EncounterStatus.IN_PROGRESS
    assert encounter.department == h.cardiology
    assert encounter.attending == h.user("doctor").practitioner
    assert CareRelationship.objects.filter(source=f"emr.encounter:{encounter.pk}", ended_at=None).exists()
    note = encounter.notes.get()
    assert note.status == NoteStatus.DRAFT and note.kind == NoteKind.PROGRESS
    assert "No known allergies recorded." in note.history


def test_clinician_without_care_gets_not_found_and_nothing_is_written(h: TestHospital) -> None:
    with pytest.raises(NotFound) as raised:
        services.open_encounter(h.user("neurologist"), patient_id=h.patient_in_care.pk)
    assert raised.value.code == "CORE-404"
    with pytest.raises(PermissionDenied):
        services.open_encounter(h.user("nurse"), patient_id=h.patient_in_care.pk)
    assert not Encounter.objects.exists()


def test_drafted_note_uses_triage_problems_medications_allergies_and_last_plan(h: TestHospital) -> None:
    from smartcare.triage.models import TriageRecord

    doctor = h.user("doctor")
    patient = h.patient_in_care
    first = open_visit(h, language="en")
    services.record_problem(doctor, patient.pk, code="I10")
    services.record_allergy(
        doctor, patient.pk, substance="drug_class:penicillins", reaction="rash", severity="severe"
    )
    order = services.place_order(
        doctor, first.pk, med(item="drug:metformin", dose="500", frequency_per_day="2", duration_days="30")
    )
    services.sign_order(doctor, order.pk)
    services.sign_note(
        doctor, first.notes.get().pk, {"assessment": "Hypertension", "plan": "Recheck BP in 2 weeks"}
    )
    services.finish_encounter(doctor, first.pk)
    services.record_result(
        doctor, patient.pk, code="4548-4", name="HbA1c", value="7.9", unit="%", reference_high=6.5
    )
    services.record_vital(doctor, patient.pk, kind="bp", value=150, value2=95)
    TriageRecord.objects.create(
        channel="portal",
        patient=patient,
        language="en",
        text="Headache for three days",
        status="departments",
        findings=["symptom:headache"],
        negated=["symptom:fever"],
    )

    second = open_visit(h, language="en")
    note = second.notes.get()
    assert note.chief_complaint == "Headache for three days"
    assert "Reported at triage:" in note.history
    assert "I10" in note.history
    assert "Metformin 500 mg oral 2 times a day for 30 days" in note.history
    assert "青霉素类 (rash)" in note.history
    assert "HbA1c 7.9 % (H)" in note.examination
    assert "Blood pressure 150/95 mmHg" in note.examination
    assert note.plan.startswith("Plan at the last visit") and "Recheck BP in 2 weeks" in note.plan
    assert set(note.drafted_from) >= {
        "triage",
        "problems",
        "medications",
        "allergies",
        "results",
        "vitals",
        "last_plan",
    }


def test_signing_stores_writing_time_and_the_first_version(h: TestHospital) -> None:
    doctor = h.user("doctor")
    encounter = open_visit(h)
    note = encounter.notes.get()
    Note.objects.filter(pk=note.pk).update(opened_at=clock.now() - dt.timedelta(minutes=7, seconds=30))
    signed = services.sign_note(doctor, note.pk, {"chief_complaint": "胸闷2天", "assessment": "稳定型心绞痛"})
    assert signed.status == NoteStatus.SIGNED
    assert 449 <= (signed.writing_seconds or 0) <= 460
    version = signed.versions.get()
    assert version.number == 1 and version.content["assessment"] == "稳定型心绞痛"


def test_a_signed_note_is_amended_never_overwritten(h: TestHospital) -> None:
    doctor = h.user("doctor")
    note = open_visit(h).notes.get()
    services.sign_note(doctor, note.pk, {"assessment": "Angina"})
    with pytest.raises(CodedError) as raised:
        services.save_draft(doctor, note.pk, {"assessment": "Changed"})
    assert raised.value.code == "EMR-004"
    with pytest.raises(CodedError) as raised:
        services.sign_note(doctor, note.pk)
    assert raised.value.code == "EMR-004"
    with pytest.raises(CodedError) as raised:
        services.amend_note(doctor, note.pk, {"assessment": "Unstable angina"}, reason="  ")
    assert raised.value.code == "EMR-005"
    assert NoteVersion.objects.filter(note=note).count() == 1

    services.amend_note(
        doctor, note.pk, {"assessment": "Unstable angina"}, reason="troponin came back raised"
    )
    services.amend_note(doctor, note.pk, {"plan": "Admit"}, reason="admitted")
    note.refresh_from_db()
    assert note.status == NoteStatus.AMENDED and note.assessment == "Unstable angina"
    versions = list(note.versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3]
    assert versions[0].content["assessment"] == "Angina" and versions[0].reason == ""
    assert versions[1].content["assessment"] == "Unstable angina"
    assert versions[2].reason == "admitted" and versions[2].content["plan"] == "Admit"
    versions[0].content = {"assessment": "tampered"}
    with pytest.raises(ValueError, match="never changed"):
        versions[0].save()


def test_draft_cannot_be_amended(h: TestHospital) -> None:
    note = open_visit(h).notes.get()
    with pytest.raises(CodedError) as raised:
        services.amend_note(h.user("doctor"), note.pk, {"plan": "x"}, reason="because")
    assert raised.value.code == "EMR-010"


def test_order_lifecycle_allowed_and_refused_transitions(h: TestHospital) -> None:
    doctor = h.user("doctor")
    encounter = open_visit(h)
    order = services.place_order(doctor, encounter.pk, med())
    assert order.status == OrderStatus.DRAFT and order.name and order.code == "J01CA04"
    with pytest.raises(CodedError) as raised:
        services.complete_order(doctor, order.pk)
    assert raised.value.code == "EMR-006"
    services.sign_order(doctor, order.pk)
    services.activate_order(doctor, order.pk)
    with pytest.raises(InvalidInput):
        services.discontinue_order(doctor, order.pk, reason="")
    services.discontinue_order(doctor, order.pk, reason="rash")
    order.refresh_from_db()
    assert order.status == OrderStatus.DISCONTINUED and order.end_reason == "rash" and order.ended_at
    for move in (services.sign_order, services.complete_order, services.activate_order):
        with pytest.raises(CodedError) as raised:
            move(doctor, order.pk)
        assert raised.value.code == "EMR-006"

    lab = services.place_order(doctor, encounter.pk, services.OrderData(kind="lab", item="exam:hba1c"))
    assert lab.code == "4548-4"
    services.cancel_order(doctor, lab.pk, "not needed")
    with pytest.raises(CodedError):
        services.sign_order(doctor, lab.pk)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (med(dose=None), "EMR-007"),
        (med(route=""), "EMR-007"),
        (med(dose="-5"), "CORE-001"),
        (med(duration_days="2.5"), "CORE-001"),
        (med(route="intrathecal"), "CORE-001"),
        (med(item="drug:no_such_drug"), "EMR-008"),
        (med(item="exam:hba1c"), "EMR-008"),
        (services.OrderData(kind="lab"), "CORE-001"),
        (services.OrderData(kind="surgery", name="x"), "CORE-001"),
    ],
)
def test_bad_orders_are_refused_with_a_code_and_write_nothing(h: TestHospital, data: Any, code: str) -> None:
    encounter = open_visit(h)
    with pytest.raises(CodedError) as raised:
        services.place_order(h.user("doctor"), encounter.pk, data)
    assert raised.value.code == code
    assert not Order.objects.exists()


def test_encounter_lifecycle(h: TestHospital) -> None:
    doctor = h.user("doctor")
    encounter = open_visit(h)
    services.finish_encounter(doctor, encounter.pk)
    encounter.refresh_from_db()
    assert encounter.status == EncounterStatus.FINISHED and encounter.ended_at
    with pytest.raises(CodedError) as raised:
        services.finish_encounter(doctor, encounter.pk)
    assert raised.value.code == "EMR-002"
    with pytest.raises(CodedError) as raised:
        services.place_order(doctor, encounter.pk, med())
    assert raised.value.code == "EMR-001"
    with pytest.raises(CodedError) as raised:
        services.cancel_encounter(doctor, encounter.pk)
    assert raised.value.code == "EMR-002"
    # The care team keeps access for a while after the visit.
    relationship = CareRelationship.objects.get(source=f"emr.encounter:{encounter.pk}")
    assert relationship.valid_until and relationship.valid_until > clock.now() + dt.timedelta(days=60)
    other = open_visit(h)
    services.cancel_encounter(doctor, other.pk, "opened by mistake")
    assert Encounter.objects.get(pk=other.pk).status == EncounterStatus.CANCELLED


def _beds(h: TestHospital, count: int) -> list[Bed]:
    room = Room.objects.create(
        campus=h.hospital.campuses.first(), department=h.cardiology, code="W1", kind=RoomKind.WARD
    )
    return [Bed.objects.create(room=room, code=f"{n + 1:02d}") for n in range(count)]


def test_admission_transfer_discharge(h: TestHospital) -> None:
    nurse, doctor = h.user("nurse"), h.user("doctor")
    bed1, bed2 = _beds(h, 2)
    stay = services.admit(
        doctor, patient_id=h.patient_in_care.pk, department_id=h.cardiology.pk, bed_id=bed1.pk
    )
    assert stay.kind == EncounterKind.INPATIENT and stay.admitted_at and stay.bed == bed1
    assert stay.notes.get().kind == NoteKind.ADMISSION
    bed1.refresh_from_db()
    assert bed1.status == BedStatus.OCCUPIED
    with pytest.raises(CodedError) as raised:
        services.admit(doctor, patient_id=h.own_patient.pk, department_id=h.cardiology.pk, bed_id=bed1.pk)
    assert raised.value.code == "EMR-003"
    with pytest.raises(CodedError) as raised:
        services.admit(doctor, patient_id=h.patient_in_care.pk, department_id=h.cardiology.pk, bed_id=bed2.pk)
    assert raised.value.code == "EMR-011"
    bed2.refresh_from_db()
    assert bed2.status == BedStatus.FREE  # the refused admission wrote nothing
    services.transfer(nurse, stay.pk, bed_id=bed2.pk, reason="closer to the nurse station")
    services.discharge(nurse, stay.pk, reason="recovered")
    stay.refresh_from_db()
    assert stay.status == EncounterStatus.FINISHED and stay.discharged_at
    assert [m.kind for m in stay.movements.all()] == [
        MovementKind.ADMISSION,
        MovementKind.TRANSFER,
        MovementKind.DISCHARGE,
    ]
    assert {b.status for b in Bed.objects.all()} == {BedStatus.CLEANING}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            ["Seen on", "Diagnoses:", "I10 Essential hypertension (primary)", "Medications:", "Amlodipine"],
        ),
        ("zh-hans", ["就诊", "诊断", "I10 原发性高血压", "氨氯地平"]),
    ],
)
def test_visit_summary_in_both_languages(h: TestHospital, language: str, expected: list[str]) -> None:
    doctor = h.user("doctor")
    encounter = open_visit(h)
    services.sign_note(doctor, encounter.notes.get().pk, {"chief_complaint": "头晕", "plan": "低盐饮食"})
    services.add_diagnosis(doctor, encounter.pk, code="I10")
    order = services.place_order(
        doctor, encounter.pk, med(item="drug:amlodipine", dose="5", frequency_per_day="1", duration_days="30")
    )
    services.sign_order(doctor, order.pk)
    summary = services.generate_summary(doctor, encounter.pk, kind=NoteKind.VISIT_SUMMARY, language=language)
    assert summary.status == NoteStatus.DRAFT and summary.language == language
    text = "\n".join(summary.sections().values())
    for part in expected:
        assert part in text, (part, text)
    assert summary.chief_complaint == "头晕"
    again = services.generate_summary(doctor, encounter.pk, kind=NoteKind.VISIT_SUMMARY, language=language)
    assert again.pk == summary.pk  # regenerating replaces the draft
    services.sign_note(doctor, summary.pk)


def test_referral_and_discharge_summary(h: TestHospital) -> None:
    doctor = h.user("doctor")
    (bed,) = _beds(h, 1)
    stay = services.admit(
        doctor, patient_id=h.patient_in_care.pk, department_id=h.cardiology.pk, bed_id=bed.pk
    )
    services.discharge(doctor, stay.pk)
    summary = services.generate_summary(doctor, stay.pk, kind=NoteKind.DISCHARGE_SUMMARY, language="en")
    assert "Admitted on" in summary.history and "Discharged on" in summary.history
    letter = services.generate_summary(doctor, stay.pk, kind=NoteKind.REFERRAL, language="zh-hans")
    assert letter.plan.startswith("现转诊")
    with pytest.raises(InvalidInput):
        services.generate_summary(doctor, stay.pk, kind="progress")


def test_bad_vitals_allergies_problems_write_nothing(h: TestHospital) -> None:
    nurse = h.user("nurse")
    pid = h.patient_in_care.pk
    cases = [
        (lambda: services.record_vital(nurse, pid, kind="temp", value=55), "EMR-009"),
        (lambda: services.record_vital(nurse, pid, kind="bp", value=120), "CORE-001"),
        (lambda: services.record_vital(nurse, pid, kind="pulse", value=80), "CORE-001"),
        (lambda: services.record_vital(nurse, pid, kind="hr", value="abc"), "CORE-001"),
        (lambda: services.record_allergy(nurse, pid, substance="drug:nothing"), "EMR-008"),
        (lambda: services.record_allergy(nurse, pid), "CORE-001"),
        (lambda: services.record_problem(nurse, pid, code="X99.99"), "EMR-008"),
        (lambda: services.record_result(nurse, pid, code="2160-0", name="Creatinine"), "CORE-001"),
    ]
    for call, code in cases:
        with pytest.raises(CodedError) as raised:
            call()
        assert raised.value.code == code
    assert (
        not VitalSign.objects.exists() and not Allergy.objects.exists() and not Observation.objects.exists()
    )
    vital = services.record_vital(nurse, pid, kind="bp", value=128, value2=82)
    assert vital.unit == "mmHg"
    with pytest.raises(PermissionDenied):
        services.record_vital(h.user("frontdesk"), pid, kind="hr", value=80)


def test_result_flag_from_reference_range(h: TestHospital) -> None:
    nurse = h.user("nurse")
    low = services.record_result(
        nurse,
        h.patient_in_care.pk,
        code="2823-3",
        name="K",
        value=3.1,
        unit="mmol/L",
        reference_low=3.5,
        reference_high=5.3,
    )
    assert low.flag == "L"
    text = services.record_result(
        nurse, h.patient_in_care.pk, code="exam:chest_xray", name="Chest X-ray", value_text="No abnormality"
    )
    assert text.flag == ""


def test_diagnoses_primary_and_duplicates(h: TestHospital) -> None:
    doctor = h.user("doctor")
    encounter = open_visit(h)
    first = services.add_diagnosis(doctor, encounter.pk, code="i10")
    assert first.is_primary and first.icd10_id == "I10"
    second = services.add_diagnosis(doctor, encounter.pk, code="E11.9", is_primary=True)
    first.refresh_from_db()
    assert second.is_primary and not first.is_primary
    with pytest.raises(InvalidInput):
        services.add_diagnosis(doctor, encounter.pk, code="I10")
    with pytest.raises(CodedError) as raised:
        services.add_diagnosis(doctor, encounter.pk, code="ZZZ")
    assert raised.value.code == "EMR-008"


def test_writing_time_indicator(h: TestHospital) -> None:
    from smartcare.emr import selectors

    doctor = h.user("doctor")
    assert selectors.writing_time().notes == 0
    for minutes in (4, 8, 15):
        note = open_visit(h).notes.get()
        Note.objects.filter(pk=note.pk).update(opened_at=clock.now() - dt.timedelta(minutes=minutes))
        services.sign_note(doctor, note.pk, {"assessment": "x"})
    stats = selectors.writing_time(department=h.cardiology)
    assert stats.notes == 3 and 479 <= (stats.median_seconds or 0) <= 485
    assert stats.within_target == pytest.approx(2 / 3)
    assert (4 + 8 + 15) * 60 - 5 <= stats.total_seconds <= (4 + 8 + 15) * 60 + 15  # for means (kpi)
    assert selectors.writing_time(department=h.neurology).notes == 0


def _appointment(h: TestHospital, patient: Any) -> Any:
    from smartcare.scheduling.models import Appointment, ClinicSession, Slot

    now = clock.now()
    session = ClinicSession.objects.create(
        department=h.cardiology,
        practitioner=h.user("doctor").practitioner,
        date=clock.local_now().date(),
        period="morning",
        starts_at=now,
        ends_at=now + dt.timedelta(hours=1),
        releases_at=now - dt.timedelta(days=7),
    )
    slot = Slot.objects.create(
        session=session, starts_at=now, ends_at=now + dt.timedelta(minutes=30), capacity=1, booked=1
    )
    return Appointment.objects.create(
        slot=slot,
        session=session,
        department=h.cardiology,
        date=session.date,
        period="morning",
        patient=patient,
        status="checked_in",
        channel="front_desk",
        fee_class="ordinary",
        booked_by=h.user("frontdesk"),
    )


def test_opening_from_an_appointment_uses_pre_visit_results_and_is_idempotent(h: TestHospital) -> None:
    from smartcare.scheduling.models import ExamType, PreVisitExam

    appointment = _appointment(h, h.patient_in_care)
    ecg = ExamType.objects.create(code="ECG-T", department=h.cardiology, name_zh="心电图", name_en="ECG")
    PreVisitExam.objects.create(appointment=appointment, exam_type=ecg, result_summary="sinus rhythm, 72/min")
    doctor = h.user("doctor")
    encounter = services.open_encounter(doctor, appointment_id=appointment.pk, language="en")
    assert encounter.appointment == appointment
    note = encounter.notes.get()
    assert (
        "Pre-visit exams: ECG: sinus rhythm, 72/min." in note.examination and "pre_visit" in note.drafted_from
    )
    assert services.open_encounter(doctor, appointment_id=appointment.pk).pk == encounter.pk
    assert Encounter.objects.count() == 1
    with pytest.raises(NotFound):
        services.open_encounter(h.user("neurologist"), appointment_id=appointment.pk)


# --- Review findings -----------------------------------------------------------------------------


def test_signed_note_versions_refuse_queryset_update_and_delete(h: TestHospital) -> None:
    """Review finding: NoteVersion.objects.update() went round the never-change guard."""
    doctor = h.user("doctor")
    encounter = open_visit(h)
    note = services.sign_note(doctor, encounter.notes.get().pk, {"assessment": "稳定型心绞痛"})
    versions = NoteVersion.objects.filter(note=note)
    with pytest.raises(ValueError, match="never changed"):
        versions.update(reason="tampered")
    with pytest.raises(ValueError, match="never changed"):
        NoteVersion.objects.update(content={"assessment": "x"})
    with pytest.raises(ValueError, match="never changed"):
        versions.delete()
    with pytest.raises(ValueError, match="never changed"):
        versions.get().delete()
    version = versions.get()
    version.reason = "tampered"
    with pytest.raises(ValueError, match="never changed"):
        NoteVersion.objects.bulk_update([version], ["reason"])
    stored = NoteVersion.objects.get(note=note)
    assert stored.reason == "" and stored.content["assessment"] == "稳定型心绞痛"


def _queue(h: TestHospital, appointment: Any, *, state: str = "waiting") -> Any:
    from smartcare.visits.models import QueueEntry

    return QueueEntry.objects.create(
        appointment=appointment,
        session=appointment.session,
        number=f"A{appointment.pk:03d}",
        order_time=appointment.slot.starts_at,
        state=state,
        check_in_channel="desk",
    )


def test_opening_the_visit_puts_the_appointment_in_consultation_and_finishing_completes_it(
    h: TestHospital,
) -> None:
    """Review finding: opening a visit from an appointment left it 'checked in'."""
    from smartcare.scheduling.choices import AppointmentStatus
    from smartcare.visits.choices import EntryState

    appointment = _appointment(h, h.patient_in_care)
    entry = _queue(h, appointment)
    doctor = h.user("doctor")
    encounter = services.open_encounter(doctor, appointment_id=appointment.pk)
    appointment.refresh_from_db()
    entry.refresh_from_db()
    assert appointment.status == AppointmentStatus.IN_CONSULTATION and appointment.called_at is not None
    assert entry.state == EntryState.CALLED  # the queue display shows the patient as called
    services.finish_encounter(doctor, encounter.pk)
    appointment.refresh_from_db()
    entry.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED and appointment.finished_at is not None
    assert entry.state == EntryState.FINISHED


def test_opening_out_of_queue_order_while_another_patient_is_called(h: TestHospital) -> None:
    """The doctor opens the visit of a patient further down the list: that patient is in
    consultation; the patient who was called before is finished, as calling the next would do."""
    from smartcare.scheduling.choices import AppointmentStatus
    from smartcare.visits.choices import EntryState
    from tests.factories import PatientFactory

    first = _appointment(h, PatientFactory())
    called = _queue(h, first, state="called")
    first.status = AppointmentStatus.IN_CONSULTATION
    first.save()
    second = _appointment(h, h.patient_in_care)
    second.session = first.session  # the same clinic session, further down the queue
    second.save()
    ahead = _queue(h, _appointment(h, PatientFactory()))
    ahead.session = first.session
    ahead.order_time = second.slot.starts_at - dt.timedelta(minutes=30)
    ahead.save()
    waiting = _queue(h, second)
    doctor = h.user("doctor")
    services.open_encounter(doctor, appointment_id=second.pk)
    for row in (first, second, called, waiting, ahead):
        row.refresh_from_db()
    assert second.status == AppointmentStatus.IN_CONSULTATION and waiting.state == EntryState.CALLED
    assert first.status == AppointmentStatus.COMPLETED and called.state == EntryState.FINISHED
    assert ahead.state == EntryState.WAITING  # still waiting for their turn


def test_an_appointment_already_called_stays_in_consultation(h: TestHospital) -> None:
    from smartcare.scheduling.choices import AppointmentStatus

    appointment = _appointment(h, h.patient_in_care)
    appointment.status = AppointmentStatus.IN_CONSULTATION
    appointment.save()
    _queue(h, appointment, state="called")
    encounter = services.open_encounter(h.user("doctor"), appointment_id=appointment.pk)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.IN_CONSULTATION
    services.cancel_encounter(h.user("doctor"), encounter.pk, "wrong patient")
    appointment.refresh_from_db()
    # A visit opened by mistake and cancelled gives the patient back to the queue.
    assert appointment.status == AppointmentStatus.CHECKED_IN
