"""Stopping and replacing sessions, and the exams ordered before a visit up to the doctor's screen."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.models import CareRelationship
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
from smartcare.scheduling.choices import (
    AppointmentStatus,
    Channel,
    PreVisitStatus,
    SessionStatus,
    WaitlistStatus,
)
from smartcare.scheduling.errors import SessionNotOpen
from smartcare.scheduling.models import Appointment, ClinicSession, ExamType, PreVisitExam, PreVisitRule
from smartcare.scheduling.services import (
    book_slot,
    join_waitlist,
    order_pre_visit_exam,
    record_pre_visit_result,
    replace_session,
    stop_session,
)
from smartcare.visits.services import check_in
from tests.scheduling.builders import (
    MONDAY,
    Clinic,
    at,
    doctor_in,
    extra_department,
    inbox,
    one_session,
    slot_of,
    snapshot,
)

pytestmark = pytest.mark.django_db


def booked_tuesday(clinic: Clinic) -> list[Appointment]:
    """Two bookings in Tuesday's session: one by the desk, one by the patient on the portal."""
    return [
        book_slot(
            clinic.user("frontdesk"),
            patient_id=clinic.patient_in_care.pk,
            slot_id=clinic.slot(1, 9).pk,
            channel=Channel.FRONT_DESK,
        ).appointment,
        book_slot(
            clinic.user("patient"),
            patient_id=clinic.own_patient.pk,
            slot_id=clinic.slot(1, 10).pk,
            channel=Channel.PORTAL,
        ).appointment,
    ]


def state_of(session: ClinicSession) -> tuple[Any, ...]:
    session.refresh_from_db()
    return (
        session.status,
        session.stop_reason,
        session.practitioner_id,
        sorted(session.appointments.values_list("pk", "status")),
        sorted(session.slots.values_list("pk", "booked")),
    )


# --- Stopping a session ------------------------------------------------------------------------------


@pytest.mark.parametrize("manager", ["head", "frontdesk", "manager"])
def test_stopping_a_session_cancels_frees_and_tells_patients_with_alternatives(
    clinic: Clinic, manager: str, django_capture_on_commit_callbacks: Any
) -> None:
    appointments = booked_tuesday(clinic)
    session = clinic.session(1)
    waiting = join_waitlist(
        clinic.user("other_patient_user"),
        patient_id=clinic.other_patient.pk,
        department_id=clinic.cardiology.pk,
        date=session.date,
        channel=Channel.PORTAL,
    )
    with django_capture_on_commit_callbacks(execute=True):
        told = stop_session(clinic.user(manager), session.pk, reason="医生外出会诊")
    assert told == 2
    session.refresh_from_db()
    assert (session.status, session.stop_reason) == (SessionStatus.STOPPED, "医生外出会诊")
    for appointment in appointments:
        appointment.refresh_from_db()
        assert appointment.status == AppointmentStatus.CANCELLED
        assert appointment.cancel_reason == "医生外出会诊"
        assert not CareRelationship.objects.active().filter(source=f"scheduling.appointment:{appointment.pk}")
    assert list(session.slots.values_list("booked", flat=True)) == [0, 0, 0, 0]
    [message] = inbox(clinic.user("patient"), "session_stopped")
    assert "医生外出会诊" in message.body
    assert "03-03 09:00" in message.body  # Wednesday's session is offered instead
    assert message.link == "/booking/"
    # A stopped session is not offered to the waitlist, nor bookable.
    waiting.refresh_from_db()
    assert waiting.status == WaitlistStatus.WAITING
    with pytest.raises(SessionNotOpen):
        book_slot(
            clinic.user("frontdesk"),
            patient_id=clinic.patient_elsewhere.pk,
            slot_id=clinic.slot(1).pk,
            channel=Channel.FRONT_DESK,
        )


def test_stopping_needs_a_reason_and_the_capability(clinic: Clinic) -> None:
    booked_tuesday(clinic)
    session = clinic.session(1)
    unchanged = state_of(session)
    before = snapshot()
    with pytest.raises(InvalidInput) as no_reason:
        stop_session(clinic.user("head"), session.pk, reason="   ")
    assert (no_reason.value.code, no_reason.value.field) == ("CORE-001", "reason")
    for name in ("doctor", "nurse", "patient", "researcher"):
        with pytest.raises(PermissionDenied):
            stop_session(clinic.user(name), session.pk, reason="ill")
    with pytest.raises(NotFound):
        stop_session(clinic.user("head"), 999_999, reason="ill")
    assert state_of(session) == unchanged
    assert snapshot() == before


def test_when_nothing_else_is_open_patients_are_asked_to_book_again(clinic: Clinic) -> None:
    booked_tuesday(clinic)
    for day in range(2, 9):
        ClinicSession.objects.filter(pk=clinic.session(day).pk).update(status=SessionStatus.STOPPED)
    stop_session(clinic.user("head"), clinic.session(1).pk, reason="设备故障")
    [message] = inbox(clinic.user("patient"), "session_stopped")
    assert "设备故障" in message.body
    assert "09:" not in message.body


# --- Replacing the doctor ----------------------------------------------------------------------------


def test_replacing_the_doctor_keeps_bookings_and_tells_patients(clinic: Clinic) -> None:
    appointments = booked_tuesday(clinic)
    session = clinic.session(1)
    substitute = doctor_in(clinic.cardiology, "substitute")
    substitute.display_name = "王医生"
    substitute.save()
    replaced = replace_session(
        clinic.user("head"), session.pk, practitioner_id=substitute.practitioner.pk, reason="原医生休假"
    )
    assert replaced.practitioner == substitute.practitioner
    assert replaced.status == SessionStatus.SCHEDULED
    assert replaced.stop_reason == "原医生休假"
    assert sorted(Appointment.objects.filter(session=session).values_list("status", flat=True)) == [
        AppointmentStatus.BOOKED,
        AppointmentStatus.BOOKED,
    ]
    [message] = inbox(clinic.user("patient"), "session_replaced")
    assert "王医生" in message.body
    # The substitute's department cares for the patients already.
    from smartcare.patients.access import access_patient

    assert access_patient(substitute, appointments[1].patient_id, "clinical") == clinic.own_patient


def test_the_substitute_must_work_in_the_same_department(clinic: Clinic) -> None:
    booked_tuesday(clinic)
    session = clinic.session(1)
    unchanged = state_of(session)
    before = snapshot()
    with pytest.raises(InvalidInput) as elsewhere:
        replace_session(
            clinic.user("head"),
            session.pk,
            practitioner_id=clinic.user("neurologist").practitioner.pk,
            reason="cover",
        )
    assert (elsewhere.value.code, elsewhere.value.field) == ("CORE-001", "practitioner_id")
    with pytest.raises(NotFound):
        replace_session(clinic.user("head"), session.pk, practitioner_id=999_999, reason="cover")
    with pytest.raises(PermissionDenied):
        replace_session(
            clinic.user("doctor"),
            session.pk,
            practitioner_id=clinic.user("head").practitioner.pk,
            reason="me",
        )
    assert state_of(session) == unchanged
    assert snapshot() == before


# --- Pre-visit exams -----------------------------------------------------------------------------------


@pytest.fixture()
def ecg(clinic: Clinic) -> ExamType:
    """An ECG done in the electrocardiography room (Monday 10:00-11:00), required before cardiology
    visits; an echocardiogram is required from age 60."""
    room = extra_department(clinic.h, "32.06")
    exam = ExamType.objects.create(
        code="ECG",
        name_zh="心电图",
        name_en="Electrocardiogram",
        department=room,
        preparation_zh="穿宽松衣服",
        preparation_en="Wear loose clothes",
    )
    echo = ExamType.objects.create(code="ECHO", name_zh="心脏超声", name_en="Echocardiogram", department=room)
    PreVisitRule.objects.create(department=clinic.cardiology, exam_type=exam)
    PreVisitRule.objects.create(department=clinic.cardiology, exam_type=echo, min_age=60)
    one_session(
        room, MONDAY, exam_type=exam, start=dt.time(10, 0), end=dt.time(11, 0), slot_minutes=15, capacity=1
    )
    return exam


def book_visit(clinic: Clinic, capture: Any, day: int = 1) -> Appointment:
    with capture(execute=True):
        return book_slot(
            clinic.user("patient"),
            patient_id=clinic.own_patient.pk,
            slot_id=clinic.slot(day).pk,
            channel=Channel.PORTAL,
        ).appointment


def book_ecg(clinic: Clinic, ecg: ExamType, capture: Any, hour: int = 10, minute: int = 0) -> Appointment:
    session = ClinicSession.objects.get(exam_type=ecg, date=MONDAY)
    with capture(execute=True):
        return book_slot(
            clinic.user("patient"),
            patient_id=clinic.own_patient.pk,
            slot_id=slot_of(session, hour, minute).pk,
            channel=Channel.PORTAL,
        ).appointment


def test_booking_a_visit_orders_the_routine_exams_and_tells_the_patient(
    clinic: Clinic, ecg: ExamType, django_capture_on_commit_callbacks: Any
) -> None:
    visit = book_visit(clinic, django_capture_on_commit_callbacks)
    [exam] = PreVisitExam.objects.filter(appointment=visit)
    assert exam.exam_type == ecg  # the patient is 46: no echocardiogram
    assert exam.status == PreVisitStatus.ORDERED
    assert exam.rule.startswith("rule:")
    assert exam.ordered_by is None
    [message] = inbox(clinic.user("patient"), "pre_visit_exam")
    assert "心电图" in message.body
    # An older patient gets both.
    with django_capture_on_commit_callbacks(execute=True):
        older = book_slot(
            clinic.user("frontdesk"),
            patient_id=clinic.patient_elsewhere.pk,  # born 1955
            slot_id=clinic.slot(1).pk,
            channel=Channel.FRONT_DESK,
        ).appointment
    assert sorted(
        PreVisitExam.objects.filter(appointment=older).values_list("exam_type__code", flat=True)
    ) == [
        "ECG",
        "ECHO",
    ]
    # Booking the exam itself orders nothing more.
    exam_booking = book_ecg(clinic, ecg, django_capture_on_commit_callbacks)
    assert not PreVisitExam.objects.filter(appointment=exam_booking).exists()


def test_booking_the_exam_links_it_to_the_visit(
    clinic: Clinic, ecg: ExamType, django_capture_on_commit_callbacks: Any
) -> None:
    visit = book_visit(clinic, django_capture_on_commit_callbacks)
    exam_booking = book_ecg(clinic, ecg, django_capture_on_commit_callbacks)
    exam = PreVisitExam.objects.get(appointment=visit)
    assert exam.status == PreVisitStatus.BOOKED
    assert exam.exam_appointment == exam_booking
    assert exam_booking.preparation_en == "Wear loose clothes"


def test_an_exam_booked_after_the_visit_is_not_linked(
    clinic: Clinic, ecg: ExamType, django_capture_on_commit_callbacks: Any
) -> None:
    visit = book_visit(clinic, django_capture_on_commit_callbacks, day=0)  # Monday 09:00
    book_ecg(clinic, ecg, django_capture_on_commit_callbacks)  # Monday 10:00, after the visit
    assert PreVisitExam.objects.get(appointment=visit).status == PreVisitStatus.ORDERED


def test_a_doctor_orders_an_exam_before_the_visit(
    clinic: Clinic, ecg: ExamType, django_capture_on_commit_callbacks: Any
) -> None:
    PreVisitRule.objects.all().delete()
    visit = book_visit(clinic, django_capture_on_commit_callbacks)
    before = snapshot()
    with pytest.raises(InvalidInput):
        order_pre_visit_exam(clinic.user("doctor"), visit.pk, "NOPE")
    with pytest.raises(PermissionDenied):
        order_pre_visit_exam(clinic.user("frontdesk"), visit.pk, "ECG")
    with pytest.raises(NotFound):
        order_pre_visit_exam(clinic.user("neurologist"), visit.pk, "ECG")
    with pytest.raises(NotFound):
        order_pre_visit_exam(clinic.user("doctor"), 999_999, "ECG")
    assert snapshot() == before
    with django_capture_on_commit_callbacks(execute=True):
        exam = order_pre_visit_exam(clinic.user("doctor"), visit.pk, "ECG")
    assert (exam.status, exam.ordered_by) == (PreVisitStatus.ORDERED, clinic.user("doctor"))
    assert len(inbox(clinic.user("patient"), "pre_visit_exam")) == 1
    # Ordering it again changes nothing and tells nobody twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert order_pre_visit_exam(clinic.user("doctor"), visit.pk, "ECG") == exam
    assert len(inbox(clinic.user("patient"), "pre_visit_exam")) == 1


def test_recording_the_result(clinic: Clinic, ecg: ExamType, django_capture_on_commit_callbacks: Any) -> None:
    visit = book_visit(clinic, django_capture_on_commit_callbacks)
    exam = PreVisitExam.objects.get(appointment=visit)
    before = snapshot()
    with pytest.raises(InvalidInput) as blank:
        record_pre_visit_result(clinic.user("nurse"), exam.pk, "  ")
    assert blank.value.field == "summary"
    for name in ("frontdesk", "patient"):
        with pytest.raises(PermissionDenied):
            record_pre_visit_result(clinic.user(name), exam.pk, "正常")
    with pytest.raises(NotFound):
        record_pre_visit_result(clinic.user("neurologist"), exam.pk, "正常")
    with pytest.raises(NotFound):
        record_pre_visit_result(clinic.user("nurse"), 999_999, "正常")
    assert snapshot() == before
    exam.refresh_from_db()
    assert exam.status == PreVisitStatus.ORDERED
    with clock.frozen_at(at(0, 10, 20)):
        recorded = record_pre_visit_result(clinic.user("nurse"), exam.pk, " 窦性心律，未见异常 ")
    assert (recorded.status, recorded.result_summary, recorded.resulted_at) == (
        PreVisitStatus.RESULTED,
        "窦性心律，未见异常",
        at(0, 10, 20),
    )


def test_the_doctors_queue_shows_the_called_patients_results(
    clinic: Clinic, ecg: ExamType, django_capture_on_commit_callbacks: Any
) -> None:
    visit = book_visit(clinic, django_capture_on_commit_callbacks)
    book_ecg(clinic, ecg, django_capture_on_commit_callbacks)
    exam = PreVisitExam.objects.get(appointment=visit)
    with clock.frozen_at(at(0, 10, 20)):
        record_pre_visit_result(clinic.user("nurse"), exam.pk, "窦性心律，未见异常")
    with clock.frozen_at(at(1, 8, 40)):
        check_in(clinic.user("frontdesk"), code=clinic.own_patient.one_code, channel="desk")
    client = Client()
    client.force_login(clinic.user("doctor"))
    with clock.frozen_at(at(1, 9, 0)):
        waiting = client.get("/visits/doctor/")
        assert waiting.status_code == 200
        assert "窦性心律" not in waiting.content.decode()  # nobody called yet
        called = client.post("/visits/doctor/", {"session": clinic.session(1).pk, "action": "next"})
    page = called.content.decode()
    assert called.status_code == 200
    assert 'data-testid="pre-visit-results"' in page
    assert "窦性心律，未见异常" in page
    assert "A001" in page
    assert clinic.own_patient.name not in page  # names are masked on the queue screen
