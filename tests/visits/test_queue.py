"""Check-in and the queue: one code at the desk or kiosk, the phone inside its window, late
arrivals, priorities, patients back from an exam, calling, and what displays show."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import NotFound, PermissionDenied
from smartcare.patients.models import Patient
from smartcare.scheduling.choices import AppointmentStatus, Channel
from smartcare.scheduling.models import Appointment
from smartcare.scheduling.services import book_slot, cancel_appointment
from smartcare.visits.choices import EntryState, Priority
from smartcare.visits.errors import (
    AlreadyCheckedIn,
    CheckInWindowClosed,
    NoBookingToday,
    NothingCalled,
    NotRequeueable,
    QueueEmpty,
)
from smartcare.visits.models import QueueEntry
from smartcare.visits.services import (
    call_next,
    check_in,
    finish_current,
    mask_name,
    present_code,
    queue_state,
    recall_current,
    requeue,
    return_to_queue,
    send_to_exam,
    skip_current,
)
from tests.scheduling.builders import Clinic, at, new_patient, one_session, slot_of

pytestmark = pytest.mark.django_db


def book(clinic: Clinic, patient: Patient, hour: int = 9, minute: int = 0, day: int = 0) -> Appointment:
    return book_slot(
        clinic.user("frontdesk"),
        patient_id=patient.pk,
        slot_id=clinic.slot(day, hour, minute).pk,
        channel=Channel.FRONT_DESK,
    ).appointment


def arrive(clinic: Clinic, patient: Patient, hour: int, minute: int = 0, **kwargs: Any) -> QueueEntry:
    with clock.frozen_at(at(0, hour, minute)):
        return check_in(clinic.user("frontdesk"), code=patient.one_code, channel="desk", **kwargs)


def waiting_order(clinic: Clinic) -> list[int]:
    state = queue_state(clinic.session(0))
    return [item["appointment"] for item in state["waiting"]]


# --- Check-in ------------------------------------------------------------------------------------------


def test_the_desk_checks_a_patient_in_by_their_one_code(clinic: Clinic) -> None:
    first = book(clinic, clinic.own_patient)
    second = book(clinic, clinic.patient_in_care, 9, 30)
    entry = arrive(clinic, clinic.own_patient, 8, 30)
    assert (entry.number, entry.state, entry.priority, entry.check_in_channel) == (
        "A001",
        EntryState.WAITING,
        Priority.NORMAL,
        "desk",
    )
    assert (entry.order_time, entry.arrived_at, entry.is_late) == (at(0, 9), at(0, 8, 30), False)
    first.refresh_from_db()
    assert (first.status, first.checked_in_at) == (AppointmentStatus.CHECKED_IN, at(0, 8, 30))
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE, object_id=str(first.pk), detail__event="checked_in"
    ).exists()
    assert arrive(clinic, clinic.patient_in_care, 8, 35).number == "A002"
    second.refresh_from_db()
    assert second.status == AppointmentStatus.CHECKED_IN


def test_a_kiosk_checks_in_only_after_the_code_was_presented(clinic: Clinic) -> None:
    book(clinic, clinic.own_patient)
    kiosk = clinic.user("device")
    with clock.frozen_at(at(0, 8, 30)):
        with pytest.raises(NotFound):
            check_in(kiosk, code=clinic.own_patient.one_code, channel="kiosk")
        assert not QueueEntry.objects.exists()
        present_code(kiosk, clinic.own_patient.one_code)
        entry = check_in(kiosk, code=clinic.own_patient.one_code, channel="kiosk")
    assert (entry.number, entry.check_in_channel) == ("A001", "kiosk")


def test_the_patients_phone_checks_in_only_inside_the_window(clinic: Clinic) -> None:
    appointment = book(clinic, clinic.own_patient)
    phone = clinic.user("patient")
    with clock.frozen_at(at(0, 7, 59)), pytest.raises(CheckInWindowClosed) as early:
        check_in(phone, appointment_id=appointment.pk, channel="phone")
    assert (early.value.code, early.value.status) == ("VISIT-002", 409)
    assert "60" in early.value.detail
    with clock.frozen_at(at(0, 9, 31)), pytest.raises(CheckInWindowClosed):
        check_in(phone, appointment_id=appointment.pk, channel="phone")  # the slot is over
    assert not QueueEntry.objects.exists()
    with pytest.raises(NotFound):
        check_in(clinic.user("other_patient_user"), appointment_id=appointment.pk, channel="phone")
    with clock.frozen_at(at(0, 8)):
        entry = check_in(phone, appointment_id=appointment.pk, channel="phone")
    assert (entry.check_in_channel, entry.arrived_at) == ("phone", at(0, 8))


def test_checking_in_twice_gives_the_queue_number(clinic: Clinic) -> None:
    appointment = book(clinic, clinic.own_patient)
    arrive(clinic, clinic.own_patient, 8, 30)
    with pytest.raises(AlreadyCheckedIn) as by_code:
        arrive(clinic, clinic.own_patient, 8, 40)
    assert (by_code.value.code, by_code.value.status) == ("VISIT-003", 409)
    assert "A001" in by_code.value.detail
    with clock.frozen_at(at(0, 8, 45)), pytest.raises(AlreadyCheckedIn):
        check_in(clinic.user("patient"), appointment_id=appointment.pk, channel="phone")
    assert QueueEntry.objects.count() == 1


def test_without_a_booking_today_there_is_nothing_to_check_in(clinic: Clinic) -> None:
    book(clinic, clinic.own_patient, day=1)  # tomorrow
    cancelled = book(clinic, clinic.patient_in_care)
    cancel_appointment(clinic.user("frontdesk"), cancelled.pk)
    for patient in (clinic.own_patient, clinic.patient_in_care, clinic.other_patient):
        with pytest.raises(NoBookingToday) as refused:
            arrive(clinic, patient, 8, 30)
        assert (refused.value.code, refused.value.status) == ("VISIT-001", 404)
    with pytest.raises(NoBookingToday), clock.frozen_at(at(0, 8, 30)):
        check_in(clinic.user("frontdesk"), appointment_id=cancelled.pk, channel="desk")
    with clock.frozen_at(at(0, 8, 30)), pytest.raises(NotFound):
        check_in(clinic.user("frontdesk"), code="P-unknown", channel="desk")
    with clock.frozen_at(at(0, 8, 30)), pytest.raises(PermissionDenied):
        check_in(clinic.user("researcher"), code=clinic.own_patient.one_code, channel="desk")
    assert not QueueEntry.objects.exists()


# --- Order of the queue ----------------------------------------------------------------------------------


def test_late_arrivals_queue_by_arrival_behind_patients_on_time(clinic: Clinic) -> None:
    early_bird = book(clinic, clinic.own_patient, 9, 0)
    in_grace = book(clinic, clinic.patient_in_care, 9, 0)
    late = book(clinic, clinic.patient_elsewhere, 9, 30)
    next_slot = book(clinic, clinic.other_patient, 10, 0)
    arrive(clinic, clinic.patient_elsewhere, 9, 50)  # 20 minutes after 09:30: late
    arrive(clinic, clinic.other_patient, 9, 55)  # on time for 10:00
    arrive(clinic, clinic.own_patient, 8, 50)
    arrive(clinic, clinic.patient_in_care, 9, 14)  # inside the 15-minute grace
    entries = {e.appointment_id: e for e in QueueEntry.objects.all()}
    assert (entries[late.pk].is_late, entries[late.pk].order_time) == (True, at(0, 9, 50))
    assert (entries[in_grace.pk].is_late, entries[in_grace.pk].order_time) == (False, at(0, 9))
    assert waiting_order(clinic) == [early_bird.pk, in_grace.pk, late.pk, next_slot.pk]
    # The late patient is marked on the display.
    assert [w["late"] for w in queue_state(clinic.session(0))["waiting"]] == [False, False, True, False]


def test_emergencies_first_then_the_elderly(clinic: Clinic) -> None:
    normal = book(clinic, clinic.patient_in_care, 9, 0)
    elderly_patient = new_patient(name="老年患者", birth_date=dt.date(1950, 2, 1))  # 77
    seventy_four = new_patient(name="七十四岁", birth_date=dt.date(1952, 6, 1))
    elderly = book(clinic, elderly_patient, 10, 0)
    younger = book(clinic, seventy_four, 9, 30)
    emergency = book(clinic, clinic.patient_elsewhere, 10, 30)
    arrive(clinic, clinic.patient_in_care, 8, 10)
    assert arrive(clinic, elderly_patient, 8, 20).priority == Priority.PRIORITY
    assert arrive(clinic, seventy_four, 8, 25).priority == Priority.NORMAL
    assert (
        arrive(clinic, clinic.patient_elsewhere, 8, 30, priority=Priority.EMERGENCY).priority
        == Priority.EMERGENCY
    )
    assert waiting_order(clinic) == [emergency.pk, elderly.pk, normal.pk, younger.pk]
    with clock.frozen_at(at(0, 9)):
        assert call_next(clinic.user("doctor"), clinic.session(0).pk).appointment_id == emergency.pk


def test_a_patient_back_from_an_exam_returns_near_the_front(clinic: Clinic) -> None:
    sent_to_exam = book(clinic, clinic.own_patient, 9, 0)
    second = book(clinic, clinic.patient_in_care, 9, 0)
    third = book(clinic, clinic.patient_elsewhere, 9, 30)
    fourth = book(clinic, clinic.other_patient, 10, 0)
    for patient, minute in (
        (clinic.own_patient, 40),
        (clinic.patient_in_care, 45),
        (clinic.patient_elsewhere, 50),
    ):
        arrive(clinic, patient, 8, minute)
    arrive(clinic, clinic.other_patient, 9, 50)
    doctor, session = clinic.user("doctor"), clinic.session(0).pk
    with clock.frozen_at(at(0, 9, 0)):
        entry = call_next(doctor, session)  # sent for an ECG
    with clock.frozen_at(at(0, 9, 10)):
        call_next(doctor, session)  # the next patient; the first one is at the ECG
    entry.refresh_from_db()
    assert entry.state == EntryState.FINISHED
    with clock.frozen_at(at(0, 9, 40)):
        back = requeue(clinic.user("nurse"), entry.pk, after_exam=True)
    assert (back.state, back.returned_from_exam, back.is_late, back.order_time) == (
        EntryState.WAITING,
        True,
        False,
        at(0, 9, 0),  # their original call time
    )
    assert Appointment.objects.get(pk=sent_to_exam.pk).status == AppointmentStatus.CHECKED_IN
    assert waiting_order(clinic) == [sent_to_exam.pk, third.pk, fourth.pk]
    assert queue_state(clinic.session(0))["waiting"][0]["returned"] is True
    with clock.frozen_at(at(0, 9, 45)):
        assert call_next(doctor, session).appointment_id == sent_to_exam.pk
    assert Appointment.objects.get(pk=second.pk).status == AppointmentStatus.COMPLETED


def test_a_skipped_patient_who_comes_back_queues_at_the_end(clinic: Clinic) -> None:
    missed = book(clinic, clinic.own_patient, 9, 0)
    other = book(clinic, clinic.patient_in_care, 9, 30)
    later = book(clinic, clinic.patient_elsewhere, 10, 0)
    arrive(clinic, clinic.own_patient, 8, 40)
    arrive(clinic, clinic.patient_in_care, 8, 45)
    arrive(clinic, clinic.patient_elsewhere, 8, 50)
    doctor, session = clinic.user("doctor"), clinic.session(0).pk
    with clock.frozen_at(at(0, 9)):
        entry = call_next(doctor, session)
        skip_current(doctor, session)
    # Back at 09:40: behind the 09:30 patient, ahead of the 10:00 one (like a late arrival).
    with clock.frozen_at(at(0, 9, 40)):
        back = requeue(clinic.user("frontdesk"), entry.pk)
    assert (back.state, back.is_late, back.order_time) == (EntryState.WAITING, True, at(0, 9, 40))
    assert waiting_order(clinic) == [other.pk, missed.pk, later.pk]
    with pytest.raises(NotFound):
        requeue(clinic.user("other_patient_user"), entry.pk)
    with pytest.raises(NotFound):
        requeue(clinic.user("frontdesk"), 999_999)


# --- Calling ---------------------------------------------------------------------------------------------


def test_call_recall_skip_and_finish_store_times_and_statuses(clinic: Clinic) -> None:
    first = book(clinic, clinic.own_patient, 9, 0)
    second = book(clinic, clinic.patient_in_care, 9, 0)
    arrive(clinic, clinic.own_patient, 8, 40)
    arrive(clinic, clinic.patient_in_care, 8, 50)
    doctor, session = clinic.user("doctor"), clinic.session(0).pk

    with clock.frozen_at(at(0, 9, 2)):
        called = call_next(doctor, session)
    assert (called.appointment_id, called.state, called.called_at) == (
        first.pk,
        EntryState.CALLED,
        at(0, 9, 2),
    )
    assert called.wait_minutes == 22
    first.refresh_from_db()
    assert (first.status, first.called_at) == (AppointmentStatus.IN_CONSULTATION, at(0, 9, 2))

    with clock.frozen_at(at(0, 9, 3)):
        assert recall_current(doctor, session).recalls == 1
        assert recall_current(doctor, session).recalls == 2
    assert queue_state(clinic.session(0))["recalls"] == 2

    with clock.frozen_at(at(0, 9, 14)):
        done = finish_current(doctor, session)
    assert (done.state, done.finished_at, done.consultation_minutes) == (
        EntryState.FINISHED,
        at(0, 9, 14),
        12,
    )
    first.refresh_from_db()
    assert (first.status, first.finished_at) == (AppointmentStatus.COMPLETED, at(0, 9, 14))

    with clock.frozen_at(at(0, 9, 15)):
        next_one = call_next(doctor, session)
        skipped = skip_current(doctor, session)
    assert next_one.appointment_id == second.pk
    assert skipped.state == EntryState.SKIPPED
    second.refresh_from_db()
    assert second.status == AppointmentStatus.CHECKED_IN  # still here, may come back
    assert queue_state(clinic.session(0))["called"] is None
    events = list(
        AuditEvent.objects.filter(object_id__in=[str(first.pk), str(second.pk)])
        .order_by("sequence")
        .values_list("detail__event", flat=True)
    )
    assert [e for e in events if e in {"called", "finished", "skipped"}] == [
        "called",
        "finished",
        "called",
        "skipped",
    ]


def test_an_empty_queue_and_nobody_called_are_refused(clinic: Clinic) -> None:
    doctor, session = clinic.user("doctor"), clinic.session(0).pk
    with pytest.raises(QueueEmpty) as empty:
        call_next(doctor, session)
    assert (empty.value.code, empty.value.status) == ("VISIT-004", 409)
    for action in (finish_current, recall_current, skip_current):
        with pytest.raises(NothingCalled) as nothing:
            action(doctor, session)
        assert nothing.value.code == "VISIT-005"


def test_calling_next_after_the_last_patient_finishes_them(clinic: Clinic) -> None:
    last = book(clinic, clinic.own_patient, 9, 0)
    arrive(clinic, clinic.own_patient, 8, 40)
    doctor, session = clinic.user("doctor"), clinic.session(0).pk
    with clock.frozen_at(at(0, 9)):
        call_next(doctor, session)
    with clock.frozen_at(at(0, 9, 10)), pytest.raises(QueueEmpty):
        call_next(doctor, session)
    last.refresh_from_db()
    assert (last.status, last.finished_at) == (AppointmentStatus.COMPLETED, at(0, 9, 10))
    assert QueueEntry.objects.get(appointment=last).state == EntryState.FINISHED
    assert queue_state(clinic.session(0))["called"] is None


def test_only_the_departments_clinicians_call_its_queue(clinic: Clinic) -> None:
    book(clinic, clinic.own_patient)
    arrive(clinic, clinic.own_patient, 8, 40)
    session = clinic.session(0).pk
    for action in (call_next, finish_current, recall_current, skip_current):
        with pytest.raises(NotFound) as refused:
            action(clinic.user("neurologist"), session)
        assert refused.value.status == 404
    for name in ("frontdesk", "patient", "device"):
        with pytest.raises(PermissionDenied):
            call_next(clinic.user(name), session)
    with pytest.raises(NotFound):
        call_next(clinic.user("doctor"), 999_999)
    assert QueueEntry.objects.get().state == EntryState.WAITING
    # The nurse and the head of the department may call.
    with clock.frozen_at(at(0, 9)):
        assert call_next(clinic.user("nurse"), session).state == EntryState.CALLED
        assert recall_current(clinic.user("head"), session).recalls == 1


# --- What displays and phones show ----------------------------------------------------------------------


def test_queue_state_gives_positions_and_estimated_waits(clinic: Clinic) -> None:
    patients = [clinic.own_patient, clinic.patient_in_care, clinic.patient_elsewhere, clinic.other_patient]
    booked = [book(clinic, p, 9 + i // 2, 30 * (i % 2)) for i, p in enumerate(patients)]
    for i, patient in enumerate(patients):
        arrive(clinic, patient, 8, 30 + i)
    session = clinic.session(0)
    state = queue_state(session)
    # 30-minute slots of 2 patients: 15 minutes each until measured.
    assert state["pace_minutes"] == 15
    assert state["called"] is None
    assert [(w["appointment"], w["position"], w["estimated_wait_minutes"]) for w in state["waiting"]] == [
        (booked[0].pk, 1, 0),
        (booked[1].pk, 2, 15),
        (booked[2].pk, 3, 30),
        (booked[3].pk, 4, 45),
    ]
    doctor = clinic.user("doctor")
    with clock.frozen_at(at(0, 9)):
        call_next(doctor, session.pk)
    with clock.frozen_at(at(0, 9, 12)):
        call_next(doctor, session.pk)  # the first took 12 minutes
    state = queue_state(session)
    assert state["pace_minutes"] == 12
    assert state["called"]["appointment"] == booked[1].pk
    assert state["called"]["number"] == "A002"
    assert [(w["position"], w["estimated_wait_minutes"]) for w in state["waiting"]] == [(1, 12), (2, 24)]
    assert dt.datetime.fromisoformat(state["last_call_at"]) == at(0, 9, 12)


def test_names_are_masked(clinic: Clinic) -> None:
    assert mask_name("张三丰") == "张*丰"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("张三") == "张*"
    assert mask_name("李") == "李"
    assert mask_name("") == ""
    patient = new_patient(name="王小明")
    book(clinic, patient)
    arrive(clinic, patient, 8, 30)
    state = queue_state(clinic.session(0))
    assert state["waiting"][0]["name"] == "王*明"
    text = json.dumps(state, ensure_ascii=False)
    assert "王小明" not in text
    assert patient.medical_record_number not in text


# --- Stepping out of the queue and coming back -----------------------------------------------------------


def called_and(clinic: Clinic, action: Any, hour: int = 9, minute: int = 0) -> QueueEntry:
    """The doctor calls the first waiting patient and then ``action`` (skip, send to an exam)."""
    doctor, session = clinic.user("doctor"), clinic.session(0).pk
    with clock.frozen_at(at(0, hour, minute)):
        call_next(doctor, session)
        return action(doctor, session)


def three_waiting(clinic: Clinic) -> list[Appointment]:
    booked = [
        book(clinic, clinic.own_patient, 9, 0),
        book(clinic, clinic.patient_in_care, 9, 30),
        book(clinic, clinic.patient_elsewhere, 10, 0),
    ]
    for patient, minute in (
        (clinic.own_patient, 40),
        (clinic.patient_in_care, 45),
        (clinic.patient_elsewhere, 50),
    ):
        arrive(clinic, patient, 8, minute)
    return booked


def test_a_patient_sent_to_an_exam_scans_back_in_near_the_front(clinic: Clinic) -> None:
    sent, second, third = three_waiting(clinic)
    entry = called_and(clinic, send_to_exam, 9, 5)
    assert (entry.state, entry.called_at) == (EntryState.AT_EXAM, at(0, 9, 5))
    assert Appointment.objects.get(pk=sent.pk).status == AppointmentStatus.CHECKED_IN  # not finished
    state = queue_state(clinic.session(0))
    assert state["called"] is None
    assert state["at_exam"] == [sent.pk]
    assert [(a["appointment"], a["state"], a["name"]) for a in state["away"]] == [(sent.pk, "at_exam", "本*")]
    with clock.frozen_at(at(0, 9, 10)):
        assert call_next(clinic.user("doctor"), clinic.session(0).pk).appointment_id == second.pk

    # Back from the ECG: the same scan that checked them in puts them back, at their call time.
    back = arrive(clinic, clinic.own_patient, 9, 40)
    assert back.pk == entry.pk
    assert (back.state, back.returned_from_exam, back.is_late, back.order_time, back.number) == (
        EntryState.WAITING,
        True,
        False,
        at(0, 9, 5),
        "A001",
    )
    assert waiting_order(clinic) == [sent.pk, third.pk]
    assert queue_state(clinic.session(0))["away"] == []
    event = AuditEvent.objects.filter(object_id=str(sent.pk), detail__event="requeued").get()
    assert (event.detail["from"], event.detail["after_exam"], event.detail["channel"]) == (
        "at_exam",
        True,
        "desk",
    )
    # Now waiting again: a further scan gives the queue number, as for anyone waiting.
    with pytest.raises(AlreadyCheckedIn):
        arrive(clinic, clinic.own_patient, 9, 41)
    assert QueueEntry.objects.count() == 3


def test_a_skipped_patient_who_scans_again_queues_like_a_late_arrival(clinic: Clinic) -> None:
    missed, second, third = three_waiting(clinic)
    entry = called_and(clinic, skip_current)
    assert queue_state(clinic.session(0))["skipped"] == [missed.pk]
    kiosk = clinic.user("device")
    with clock.frozen_at(at(0, 9, 40)):
        present_code(kiosk, clinic.own_patient.one_code)
        back = check_in(kiosk, code=clinic.own_patient.one_code, appointment_id=missed.pk, channel="kiosk")
    assert (back.pk, back.state, back.is_late, back.order_time) == (
        entry.pk,
        EntryState.WAITING,
        True,
        at(0, 9, 40),
    )
    # Behind the 09:30 patient, ahead of the 10:00 one.
    assert waiting_order(clinic) == [second.pk, missed.pk, third.pk]
    assert Appointment.objects.get(pk=missed.pk).status == AppointmentStatus.CHECKED_IN


def test_the_patients_phone_returns_them_only_inside_the_window(clinic: Clinic) -> None:
    missed, *_others = three_waiting(clinic)
    called_and(clinic, skip_current)
    phone = clinic.user("patient")
    with clock.frozen_at(at(0, 9, 31)), pytest.raises(CheckInWindowClosed):
        check_in(phone, appointment_id=missed.pk, channel="phone")  # their 09:00 slot is over
    assert QueueEntry.objects.get(appointment=missed).state == EntryState.SKIPPED
    with clock.frozen_at(at(0, 9, 20)):
        back = check_in(phone, appointment_id=missed.pk, channel="phone")
    assert (back.state, back.order_time) == (EntryState.WAITING, at(0, 9, 20))


def test_a_scan_prefers_the_queue_the_patient_stepped_out_of(clinic: Clinic) -> None:
    """Skipped in the morning with a booking in the afternoon: while the morning session runs the
    scan returns them to it; after it has ended the scan checks in the afternoon booking."""
    morning = book(clinic, clinic.own_patient, 9, 0)
    afternoon_session = one_session(
        clinic.cardiology,
        clinic.session(0).date,
        practitioner=clinic.doctor,
        start=dt.time(14),
        end=dt.time(15),
        period="afternoon",
    )
    afternoon = book_slot(
        clinic.user("frontdesk"),
        patient_id=clinic.own_patient.pk,
        slot_id=slot_of(afternoon_session, 14).pk,
        channel=Channel.FRONT_DESK,
    ).appointment
    arrive(clinic, clinic.own_patient, 8, 50)
    called_and(clinic, skip_current)
    assert arrive(clinic, clinic.own_patient, 10, 0).appointment_id == morning.pk
    called_and(clinic, skip_current, 10, 5)
    # The morning session ended at 11:00.
    assert arrive(clinic, clinic.own_patient, 13, 50).appointment_id == afternoon.pk
    # Only the stale morning queue is left: it is still returned to, not refused.
    assert arrive(clinic, clinic.own_patient, 13, 55).appointment_id == morning.pk


def test_only_patients_away_from_todays_queue_return(clinic: Clinic) -> None:
    waiting, *_others = three_waiting(clinic)
    entry = QueueEntry.objects.get(appointment=waiting)
    desk = clinic.user("frontdesk")
    with clock.frozen_at(at(0, 8, 55)), pytest.raises(NotRequeueable) as refused:
        requeue(desk, entry.pk)
    assert (refused.value.code, refused.value.status) == ("VISIT-007", 409)
    assert "A001" in refused.value.detail
    with clock.frozen_at(at(0, 9)):
        call_next(clinic.user("doctor"), clinic.session(0).pk)
        with pytest.raises(NotRequeueable):
            requeue(desk, entry.pk, after_exam=True)  # being seen right now
    with clock.frozen_at(at(0, 9, 10)):
        finish_current(clinic.user("doctor"), clinic.session(0).pk)
        with pytest.raises(NotRequeueable):
            requeue(desk, entry.pk)  # finished patients do not come back as "missed their call"
    entry.refresh_from_db()
    assert entry.state == EntryState.FINISHED
    # The next day, yesterday's queue is closed.
    skipped = called_and(clinic, skip_current, 9, 15)
    with clock.frozen_at(at(1, 8)), pytest.raises(NotRequeueable):
        requeue(desk, skipped.pk)
    with clock.frozen_at(at(1, 8)), pytest.raises(NoBookingToday):
        check_in(desk, code=skipped.appointment.patient.one_code, channel="desk")
    skipped.refresh_from_db()
    assert skipped.state == EntryState.SKIPPED


def test_the_queue_page_sends_to_an_exam_and_takes_patients_back(clinic: Clinic) -> None:
    sent, second, third = three_waiting(clinic)
    session = clinic.session(0).pk
    nurse = Client()
    nurse.force_login(clinic.user("nurse"))

    def post(action: str, **extra: Any) -> Any:
        with clock.frozen_at(at(0, 9, 30)):
            return nurse.post("/visits/doctor/", {"session": session, "action": action, **extra})

    post("next")
    page = post("exam")
    assert page.status_code == 200
    assert b'data-testid="away-list"' in page.content and b'data-testid="back-from-exam"' in page.content
    entry = QueueEntry.objects.get(appointment=sent)
    assert entry.state == EntryState.AT_EXAM
    post("next")
    post("skip")
    skipped = QueueEntry.objects.get(appointment=second)
    assert skipped.state == EntryState.SKIPPED
    with clock.frozen_at(at(0, 9, 30)):
        listed = nurse.get(f"/visits/doctor/?session={session}")
    assert b'data-testid="returned"' in listed.content and b'data-testid="back-from-exam"' in listed.content

    post("back_from_exam", entry=entry.pk)
    post("returned", entry=skipped.pk)
    entry.refresh_from_db()
    skipped.refresh_from_db()
    assert (entry.state, entry.returned_from_exam) == (EntryState.WAITING, True)
    assert (skipped.state, skipped.is_late, skipped.order_time) == (EntryState.WAITING, True, at(0, 9, 30))
    assert waiting_order(clinic) == [sent.pk, second.pk, third.pk]
    events = AuditEvent.objects.filter(detail__event__in=["sent_to_exam", "requeued"]).values_list(
        "actor_username", "detail__event"
    )
    assert sorted(events) == [("nurse", "requeued"), ("nurse", "requeued"), ("nurse", "sent_to_exam")]

    # A patient already waiting cannot be "returned": the page shows VISIT-007 and changes nothing.
    again = post("returned", entry=skipped.pk)
    assert again.status_code == 200
    assert b'data-error-code="VISIT-007"' in again.content
    # Entries of other queues, made-up entries and callers outside the department: not found.
    assert post("returned", entry=999_999).status_code == 404
    assert post("returned", entry="not-a-number").status_code == 404
    neurologist = Client()
    neurologist.force_login(clinic.user("neurologist"))
    with clock.frozen_at(at(0, 9, 30)):
        outsider = neurologist.post(
            "/visits/doctor/", {"session": session, "action": "returned", "entry": skipped.pk}
        )
    assert outsider.status_code == 200  # their own (empty) queue page: this session is not theirs
    with pytest.raises(NotFound):
        return_to_queue(clinic.user("neurologist"), session, skipped.pk)
    with pytest.raises(PermissionDenied):
        send_to_exam(clinic.user("frontdesk"), session)
    with pytest.raises(NothingCalled):
        send_to_exam(clinic.user("doctor"), session)
