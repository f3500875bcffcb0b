"""Booking rules: sessions from templates, release, capacity, one booking per session, daily limit,
no-show suspension, cancellation deadline, eligibility, who may book for whom, and that a refused
booking writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import CareRelationship
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
from smartcare.organization.choices import Sex
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.errors import IdentityNotConfirmed
from smartcare.patients.models import ChannelBinding
from smartcare.patients.services import bind_channel, link_family_member
from smartcare.scheduling.api import channel_of
from smartcare.scheduling.choices import AppointmentStatus, Channel, FeeClass, Period, SessionStatus
from smartcare.scheduling.errors import (
    AlreadyBooked,
    BookingSuspended,
    CancellationTooLate,
    DailyLimitReached,
    NotCancellable,
    PatientNotEligible,
    SessionNotOpen,
    SlotFull,
)
from smartcare.scheduling.models import (
    Appointment,
    BookingPolicy,
    ClinicSession,
    ExamType,
    ScheduleTemplate,
    Slot,
)
from smartcare.scheduling.services import book_slot, cancel_appointment, generate_sessions, mark_no_shows
from smartcare.visits.services import present_code
from tests.factories import UserFactory
from tests.scheduling.builders import (
    MONDAY,
    PREPARATION_EN,
    PREPARATION_ZH,
    Clinic,
    at,
    doctor_in,
    extra_department,
    new_patient,
    one_session,
    slot_of,
    snapshot,
)

pytestmark = pytest.mark.django_db


def desk_books(clinic: Clinic, patient: Any, slot: Slot, **kwargs: Any) -> Appointment:
    return book_slot(
        clinic.user("frontdesk"), patient_id=patient.pk, slot_id=slot.pk, channel=Channel.FRONT_DESK, **kwargs
    ).appointment


# --- Sessions from templates ----------------------------------------------------------------------


def test_sessions_are_generated_from_templates_with_slots_and_release_time(clinic: Clinic) -> None:
    sessions = list(ClinicSession.objects.filter(department=clinic.cardiology).order_by("date"))
    assert [s.date for s in sessions] == [MONDAY + dt.timedelta(days=n) for n in range(9)]
    for session in sessions:
        assert session.practitioner == clinic.doctor
        assert session.period == Period.MORNING
        assert session.fee_class == FeeClass.ORDINARY
        assert session.status == SessionStatus.SCHEDULED
        assert (session.starts_at, session.ends_at) == (
            at((session.date - MONDAY).days, 9),
            at((session.date - MONDAY).days, 11),
        )
        # ReleaseRule: 7 days ahead at 08:00 hospital time.
        assert session.releases_at == at((session.date - MONDAY).days - 7, 8)
        slots = list(session.slots.order_by("starts_at"))
        assert [(s.starts_at.astimezone(at(0, 0).tzinfo).time(), s.capacity, s.booked) for s in slots] == [
            (dt.time(9, 0), 2, 0),
            (dt.time(9, 30), 2, 0),
            (dt.time(10, 0), 2, 0),
            (dt.time(10, 30), 2, 0),
        ]
        assert all(s.ends_at - s.starts_at == dt.timedelta(minutes=30) for s in slots)


def test_generation_is_idempotent_and_follows_weekdays_lengths_and_activity(clinic: Clinic) -> None:
    sessions, slots = ClinicSession.objects.count(), Slot.objects.count()
    assert generate_sessions(MONDAY, 9) == 0
    assert (ClinicSession.objects.count(), Slot.objects.count()) == (sessions, slots)

    neurologist = clinic.user("neurologist").practitioner
    # Wednesdays only, 08:00-09:45 in 20-minute slots of 3: the last partial slot is not offered.
    wednesday = ScheduleTemplate.objects.create(
        department=clinic.neurology,
        practitioner=neurologist,
        weekday=2,
        period=Period.MORNING,
        start_time=dt.time(8, 0),
        end_time=dt.time(9, 45),
        slot_minutes=20,
        capacity_per_slot=3,
        fee_class=FeeClass.EXPERT,
    )
    ScheduleTemplate.objects.create(
        department=clinic.neurology,
        practitioner=neurologist,
        weekday=3,
        period=Period.AFTERNOON,
        start_time=dt.time(14, 0),
        end_time=dt.time(16, 0),
        is_active=False,
    )
    assert generate_sessions(MONDAY, 9) == 1
    assert generate_sessions(MONDAY, 9) == 0
    made = ClinicSession.objects.get(template=wednesday)
    assert made.date == MONDAY + dt.timedelta(days=2)
    assert made.fee_class == FeeClass.EXPERT
    # Neurology has no release rule: the default is 7 days ahead at 08:00.
    assert made.releases_at == at(2 - 7, 8)
    assert [(s.starts_at, s.capacity) for s in made.slots.order_by("starts_at")] == [
        (at(2, 8, 0), 3),
        (at(2, 8, 20), 3),
        (at(2, 8, 40), 3),
        (at(2, 9, 0), 3),
        (at(2, 9, 20), 3),
    ]


def test_templates_refuse_impossible_schedules(clinic: Clinic) -> None:
    for bad in (
        {"weekday": 7},
        {"start_time": dt.time(11, 0), "end_time": dt.time(9, 0)},
        {"slot_minutes": 2},
        {"practitioner": None},
    ):
        fields = {
            "department": clinic.cardiology,
            "practitioner": clinic.doctor,
            "weekday": 0,
            "period": Period.MORNING,
            "start_time": dt.time(9, 0),
            "end_time": dt.time(11, 0),
            **bad,
        }
        with pytest.raises(IntegrityError), transaction.atomic():
            ScheduleTemplate.objects.create(**fields)


# --- When a slot can be booked ----------------------------------------------------------------------


def test_not_bookable_before_release_then_bookable_from_release_time(clinic: Clinic) -> None:
    next_monday = clinic.slot(7)  # released Monday 08:00; it is 07:00
    before = snapshot()
    with pytest.raises(SessionNotOpen) as refused:
        desk_books(clinic, clinic.patient_in_care, next_monday)
    assert (refused.value.code, refused.value.status) == ("SCHED-002", 409)
    assert snapshot() == before
    with clock.frozen_at(at(0, 8)):
        appointment = desk_books(clinic, clinic.patient_in_care, next_monday)
    assert appointment.slot == next_monday


def test_not_bookable_once_the_slot_started_or_the_session_is_stopped(clinic: Clinic) -> None:
    with clock.frozen_at(at(0, 9, 10)):
        with pytest.raises(SessionNotOpen):
            desk_books(clinic, clinic.patient_in_care, clinic.slot(0, 9, 0))
        assert desk_books(clinic, clinic.patient_in_care, clinic.slot(0, 9, 30)).pk
    with clock.frozen_at(at(0, 11)), pytest.raises(SessionNotOpen):
        desk_books(clinic, clinic.patient_elsewhere, clinic.slot(0, 10, 30))
    ClinicSession.objects.filter(pk=clinic.session(1).pk).update(status=SessionStatus.STOPPED)
    before = snapshot()
    with pytest.raises(SessionNotOpen):
        desk_books(clinic, clinic.patient_elsewhere, clinic.slot(1))
    assert snapshot() == before


# --- Capacity ---------------------------------------------------------------------------------------


def test_a_full_slot_refuses_the_next_patient_and_writes_nothing(clinic: Clinic) -> None:
    slot = clinic.slot(1)
    desk_books(clinic, clinic.patient_in_care, slot)
    desk_books(clinic, clinic.patient_elsewhere, slot)
    before = snapshot()
    with pytest.raises(SlotFull) as refused:
        desk_books(clinic, clinic.other_patient, slot)
    assert (refused.value.code, refused.value.status) == ("SCHED-001", 409)
    assert snapshot() == before
    slot.refresh_from_db()
    assert slot.booked == slot.capacity == 2
    assert slot.remaining == 0


def test_the_database_refuses_more_bookings_than_capacity(clinic: Clinic) -> None:
    slot = clinic.slot(1)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Slot._meta.db_table} SET booked = capacity + 1 WHERE id = %s",  # noqa: S608
            [slot.pk],
        )
    slot.refresh_from_db()
    assert slot.booked == 0
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Slot._meta.db_table} SET booked = capacity WHERE id = %s", [slot.pk])  # noqa: S608
    slot.refresh_from_db()
    assert slot.booked == 2


# --- One booking per patient, department and session ---------------------------------------------


def test_one_booking_per_patient_department_and_session(clinic: Clinic) -> None:
    first = desk_books(clinic, clinic.patient_in_care, clinic.slot(1, 9, 0))
    before = snapshot()
    with pytest.raises(AlreadyBooked) as refused:
        desk_books(clinic, clinic.patient_in_care, clinic.slot(1, 10, 30))  # another slot, same session
    assert (refused.value.code, refused.value.status) == ("SCHED-003", 409)
    assert snapshot() == before
    # Another department in the same period is a different visit.
    neuro = one_session(
        clinic.neurology, MONDAY + dt.timedelta(days=1), practitioner=clinic.user("neurologist").practitioner
    )
    assert desk_books(clinic, clinic.patient_in_care, slot_of(neuro, 9)).pk
    # After cancelling, the patient may book the session again.
    cancel_appointment(clinic.user("frontdesk"), first.pk, reason="moved")
    assert desk_books(clinic, clinic.patient_in_care, clinic.slot(1, 10, 30)).pk


def test_the_database_enforces_one_active_booking_per_department_and_session(clinic: Clinic) -> None:
    first = desk_books(clinic, clinic.patient_in_care, clinic.slot(1, 9, 0))
    other_slot = clinic.slot(1, 10, 0)
    copy = {
        "session": first.session,
        "department": first.department,
        "date": first.date,
        "period": first.period,
        "patient": first.patient,
        "channel": Channel.FRONT_DESK,
        "booked_by": first.booked_by,
        "fee_class": first.fee_class,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(slot=other_slot, **copy)
    # Cancelled and missed bookings do not count.
    Appointment.objects.create(slot=other_slot, status=AppointmentStatus.CANCELLED, **copy)
    Appointment.objects.create(slot=other_slot, status=AppointmentStatus.NO_SHOW, **copy)
    assert Appointment.objects.filter(patient=first.patient, date=first.date).count() == 3


# --- Daily limit and no-show suspension --------------------------------------------------------------


def test_daily_limit_counts_active_bookings_of_the_day(clinic: Clinic) -> None:
    BookingPolicy.objects.create(department=None, max_bookings_per_day=1)
    neuro = one_session(
        clinic.neurology, MONDAY + dt.timedelta(days=1), practitioner=clinic.user("neurologist").practitioner
    )
    first = desk_books(clinic, clinic.patient_in_care, clinic.slot(1))
    before = snapshot()
    with pytest.raises(DailyLimitReached) as refused:
        desk_books(clinic, clinic.patient_in_care, slot_of(neuro, 9))
    assert refused.value.code == "SCHED-004"
    assert "1" in refused.value.detail
    assert snapshot() == before
    # Another day is fine; a cancelled booking frees the day again.
    assert desk_books(clinic, clinic.patient_in_care, clinic.slot(2)).pk
    cancel_appointment(clinic.user("frontdesk"), first.pk)
    assert desk_books(clinic, clinic.patient_in_care, slot_of(neuro, 9)).pk
    # A department's own policy wins over the hospital default.
    BookingPolicy.objects.create(department=clinic.cardiology, max_bookings_per_day=2)
    assert desk_books(clinic, clinic.patient_in_care, clinic.slot(1)).pk


def test_three_no_shows_suspend_booking_until_the_suspension_ends(clinic: Clinic) -> None:
    patient = new_patient(name="爽约患者")
    for day in (0, 1, 2):
        desk_books(clinic, patient, clinic.slot(day))
    with clock.frozen_at(at(1, 7)):
        assert mark_no_shows() == 1  # Monday's 09:00 slot ended long ago
    with clock.frozen_at(at(2, 7)):
        assert mark_no_shows() == 1
        # Two no-shows: still allowed.
        assert desk_books(clinic, patient, clinic.slot(5)).pk
    with clock.frozen_at(at(3, 7)):
        assert mark_no_shows() == 1
        assert Appointment.objects.filter(patient=patient, status=AppointmentStatus.NO_SHOW).count() == 3
        # A missed appointment no longer gives the department access to the patient.
        missed = Appointment.objects.filter(patient=patient, status=AppointmentStatus.NO_SHOW)
        sources = [f"scheduling.appointment:{pk}" for pk in missed.values_list("pk", flat=True)]
        assert not CareRelationship.objects.active().filter(source__in=sources).exists()
        assert CareRelationship.objects.filter(source__in=sources, ended_at__isnull=False).count() == 3
        before = snapshot()
        with pytest.raises(BookingSuspended) as refused:
            desk_books(clinic, patient, clinic.slot(6))
        assert (refused.value.code, refused.value.status) == ("SCHED-005", 403)
        assert "2027-04-02" in refused.value.detail  # 30 days after the last no-show (3 March)
        assert snapshot() == before
        # Other patients are not affected.
        assert desk_books(clinic, clinic.patient_in_care, clinic.slot(6)).pk
    # After the suspension the patient may book again.
    with clock.frozen_at(at(33, 7)):
        generate_sessions(clock.today(), 1)
        assert desk_books(clinic, patient, clinic.slot(33)).pk


def test_mark_no_shows_waits_for_the_late_grace_and_spares_checked_in_patients(clinic: Clinic) -> None:
    waiting = desk_books(clinic, clinic.patient_in_care, clinic.slot(0, 9, 0))
    arrived = desk_books(clinic, clinic.patient_elsewhere, clinic.slot(0, 9, 0))
    Appointment.objects.filter(pk=arrived.pk).update(status=AppointmentStatus.CHECKED_IN)
    assert mark_no_shows(at(0, 9, 44)) == 0  # the slot ended at 09:30, grace is 15 minutes
    assert mark_no_shows(at(0, 9, 46)) == 1
    waiting.refresh_from_db()
    arrived.refresh_from_db()
    assert (waiting.status, arrived.status) == (AppointmentStatus.NO_SHOW, AppointmentStatus.CHECKED_IN)
    assert mark_no_shows(at(0, 9, 47)) == 0


# --- Cancelling ------------------------------------------------------------------------------------


def test_patients_cancel_before_the_deadline_staff_may_cancel_later(clinic: Clinic) -> None:
    patient_user = clinic.user("patient")
    today = book_slot(
        patient_user, patient_id=clinic.own_patient.pk, slot_id=clinic.slot(0).pk, channel=Channel.PORTAL
    ).appointment
    tomorrow = book_slot(
        patient_user, patient_id=clinic.own_patient.pk, slot_id=clinic.slot(1).pk, channel=Channel.PORTAL
    ).appointment
    with clock.frozen_at(at(0, 7, 30)):  # 90 minutes before 09:00; the deadline is 2 hours
        before = snapshot()
        with pytest.raises(CancellationTooLate) as refused:
            cancel_appointment(patient_user, today.pk, reason="busy")
        assert (refused.value.code, refused.value.status) == ("SCHED-006", 409)
        assert "2" in refused.value.detail
        assert snapshot() == before
        today.refresh_from_db()
        assert today.status == AppointmentStatus.BOOKED
        # The patient may still cancel tomorrow's booking; the front desk may cancel today's.
        assert cancel_appointment(patient_user, tomorrow.pk).status == AppointmentStatus.CANCELLED
        cancelled = cancel_appointment(clinic.user("frontdesk"), today.pk, reason="called the hospital")
    assert cancelled.status == AppointmentStatus.CANCELLED
    assert cancelled.cancel_reason == "called the hospital"
    assert cancelled.cancelled_at == at(0, 7, 30)
    assert clinic.slot(0).booked == 0
    with pytest.raises(NotCancellable) as again:
        cancel_appointment(clinic.user("frontdesk"), today.pk)
    assert again.value.code == "SCHED-008"


def test_a_stranger_cannot_cancel_someone_elses_booking(clinic: Clinic) -> None:
    appointment = desk_books(clinic, clinic.own_patient, clinic.slot(1))
    before = snapshot()
    for stranger in ("other_patient_user", "neurologist", "researcher"):
        with pytest.raises(NotFound):
            cancel_appointment(clinic.user(stranger), appointment.pk)
    assert snapshot() == before
    with pytest.raises(NotFound):
        cancel_appointment(clinic.user("frontdesk"), 999_999)


# --- Eligibility ----------------------------------------------------------------------------------


def test_department_eligibility_by_age_and_sex(clinic: Clinic) -> None:
    pediatrics = extra_department(clinic.h, "07", max_age=14)
    gynecology = extra_department(clinic.h, "05.01", serves_sex=Sex.FEMALE)
    tuesday = MONDAY + dt.timedelta(days=1)
    kids = one_session(pediatrics, tuesday, practitioner=doctor_in(pediatrics, "pediatrician").practitioner)
    women = one_session(gynecology, tuesday, practitioner=doctor_in(gynecology, "gynecologist").practitioner)
    adult = new_patient(birth_date=dt.date(1990, 1, 1))
    child = new_patient(birth_date=dt.date(2020, 6, 1))
    man = new_patient(sex=Sex.MALE)
    before = snapshot()
    with pytest.raises(PatientNotEligible) as too_old:
        desk_books(clinic, adult, slot_of(kids, 9))
    assert (too_old.value.code, too_old.value.status) == ("SCHED-011", 409)
    assert "14" in too_old.value.detail
    with pytest.raises(PatientNotEligible):
        desk_books(clinic, man, slot_of(women, 9))
    assert snapshot() == before
    assert desk_books(clinic, child, slot_of(kids, 9)).pk
    assert desk_books(clinic, adult, slot_of(women, 9)).pk
    # A minimum age works the same way.
    geriatrics = extra_department(clinic.h, "03.10", min_age=60)
    old = one_session(geriatrics, tuesday, practitioner=doctor_in(geriatrics, "geriatrician").practitioner)
    with pytest.raises(PatientNotEligible):
        desk_books(clinic, adult, slot_of(old, 9))


# --- Who may book for whom ---------------------------------------------------------------------------


def test_a_portal_user_books_for_a_linked_family_member_only(clinic: Clinic) -> None:
    parent = clinic.user("patient")
    child = new_patient(name="小明", birth_date=dt.date(2018, 4, 1))
    stranger = new_patient(name="陌生人")
    before = snapshot()
    with pytest.raises(NotFound) as refused:
        book_slot(parent, patient_id=child.pk, slot_id=clinic.slot(1).pk, channel=Channel.PORTAL)
    assert refused.value.status == 404
    assert snapshot() == before
    link_family_member(clinic.user("frontdesk"), child.pk, username="patient", relationship="父亲")
    booked = book_slot(parent, patient_id=child.pk, slot_id=clinic.slot(1).pk, channel=channel_of(parent))
    assert booked.appointment.patient == child
    assert booked.appointment.booked_by == parent
    assert booked.appointment.channel == Channel.PORTAL
    with pytest.raises(NotFound):
        book_slot(parent, patient_id=stranger.pk, slot_id=clinic.slot(1).pk, channel=Channel.PORTAL)
    # The other portal user is not linked to the child.
    with pytest.raises(NotFound):
        book_slot(
            clinic.user("other_patient_user"),
            patient_id=child.pk,
            slot_id=clinic.slot(2).pk,
            channel=Channel.PORTAL,
        )
    with pytest.raises(InvalidInput):
        link_family_member(clinic.user("frontdesk"), stranger.pk, username="nobody", relationship="父亲")


def test_a_channel_books_only_for_patients_bound_to_it(clinic: Clinic) -> None:
    mini = UserFactory(username="channel-miniprogram-test", role=Role.CHANNEL)
    patient = clinic.patient_in_care
    with pytest.raises(NotFound):
        book_slot(mini, patient_id=patient.pk, slot_id=clinic.slot(1).pk, channel=channel_of(mini))
    bindings = ChannelBinding.objects.count()
    before = snapshot()
    for wrong in (
        {"name": "别人", "phone": patient.phone},
        {"name": patient.name, "phone": "13000000000"},
    ):
        with pytest.raises(IdentityNotConfirmed) as refused:
            bind_channel(mini, national_id=patient.national_id, **wrong)
        assert (refused.value.code, refused.value.status) == ("PAT-005", 404)
    assert ChannelBinding.objects.count() == bindings
    assert snapshot() == before
    with pytest.raises(NotFound):
        book_slot(mini, patient_id=patient.pk, slot_id=clinic.slot(1).pk, channel=channel_of(mini))
    # Only a channel identity binds itself.
    with pytest.raises(PermissionDenied):
        bind_channel(
            clinic.user("frontdesk"), national_id=patient.national_id, name=patient.name, phone=patient.phone
        )

    bind_channel(
        mini, national_id=patient.national_id, name=patient.name, phone=patient.phone, external_id="wx-1"
    )
    booked = book_slot(mini, patient_id=patient.pk, slot_id=clinic.slot(1).pk, channel=channel_of(mini))
    assert booked.appointment.channel == Channel.MINI_PROGRAM
    # Bound to one patient, not to the others.
    with pytest.raises(NotFound):
        book_slot(
            mini, patient_id=clinic.patient_elsewhere.pk, slot_id=clinic.slot(1).pk, channel=channel_of(mini)
        )


def test_a_kiosk_books_only_while_the_patient_is_present(clinic: Clinic) -> None:
    kiosk = clinic.user("device")
    patient = clinic.own_patient
    before = snapshot()
    with pytest.raises(NotFound):
        book_slot(kiosk, patient_id=patient.pk, slot_id=clinic.slot(1).pk, channel=channel_of(kiosk))
    with pytest.raises(NotFound):
        present_code(kiosk, "P-not-a-real-code")
    assert snapshot() == before
    assert present_code(kiosk, patient.one_code) == patient
    booked = book_slot(kiosk, patient_id=patient.pk, slot_id=clinic.slot(1).pk, channel=channel_of(kiosk))
    assert booked.appointment.channel == Channel.KIOSK
    # The presence lasts a few minutes, then the kiosk may no longer act for the patient.
    with clock.frozen_at(at(0, 7, 6)), pytest.raises(NotFound):
        book_slot(kiosk, patient_id=patient.pk, slot_id=clinic.slot(2).pk, channel=channel_of(kiosk))
    # Nor for anyone else meanwhile.
    with pytest.raises(NotFound):
        book_slot(
            kiosk, patient_id=clinic.other_patient.pk, slot_id=clinic.slot(2).pk, channel=channel_of(kiosk)
        )


def test_every_booking_records_its_channel(clinic: Clinic) -> None:
    app = UserFactory(username="channel-app-test", role=Role.CHANNEL)
    website = UserFactory(username="channel-website-test", role=Role.CHANNEL)
    desk = clinic.user("frontdesk")
    assert channel_of(clinic.user("patient"), Channel.FRONT_DESK) == Channel.PORTAL  # patients cannot pretend
    assert channel_of(app) == Channel.APP
    assert channel_of(website, Channel.PHONE) == Channel.WEBSITE
    assert channel_of(clinic.user("device")) == Channel.KIOSK
    assert channel_of(desk) == Channel.FRONT_DESK
    assert channel_of(desk, Channel.PHONE) == Channel.PHONE
    assert channel_of(desk, Channel.MINI_PROGRAM) == Channel.FRONT_DESK

    by_phone = book_slot(
        desk,
        patient_id=clinic.patient_in_care.pk,
        slot_id=clinic.slot(1).pk,
        channel=channel_of(desk, "phone"),
    )
    assert by_phone.appointment.channel == Channel.PHONE
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        book_slot(
            desk, patient_id=clinic.patient_elsewhere.pk, slot_id=clinic.slot(1).pk, channel="carrier-pigeon"
        )
    assert (refused.value.code, refused.value.field) == ("CORE-001", "channel")
    assert snapshot() == before


def test_roles_without_booking_and_unknown_slots_write_nothing(clinic: Clinic) -> None:
    before = snapshot()
    for name in ("researcher", "auditor", "itadmin", "manager"):
        with pytest.raises(PermissionDenied):
            book_slot(
                clinic.user(name),
                patient_id=clinic.patient_in_care.pk,
                slot_id=clinic.slot(1).pk,
                channel=Channel.FRONT_DESK,
            )
    with pytest.raises(NotFound):
        book_slot(
            clinic.user("frontdesk"),
            patient_id=clinic.patient_in_care.pk,
            slot_id=999_999,
            channel=Channel.FRONT_DESK,
        )
    with pytest.raises(NotFound):
        book_slot(
            clinic.user("frontdesk"),
            patient_id=999_999,
            slot_id=clinic.slot(1).pk,
            channel=Channel.FRONT_DESK,
        )
    # A doctor books only for patients in their care.
    with pytest.raises(NotFound):
        book_slot(
            clinic.user("doctor"),
            patient_id=clinic.patient_elsewhere.pk,
            slot_id=clinic.slot(1).pk,
            channel=Channel.FRONT_DESK,
        )
    assert snapshot() == before


# --- What a booking copies and registers ------------------------------------------------------------


def test_booking_copies_the_preparation_note(clinic: Clinic) -> None:
    visit = desk_books(clinic, clinic.patient_in_care, clinic.slot(1))
    assert (visit.preparation_zh, visit.preparation_en) == (PREPARATION_ZH, PREPARATION_EN)
    assert (visit.department, visit.date, visit.period, visit.fee_class) == (
        clinic.cardiology,
        MONDAY + dt.timedelta(days=1),
        Period.MORNING,
        FeeClass.ORDINARY,
    )
    ecg = ExamType.objects.create(
        code="ECG",
        name_zh="心电图",
        name_en="ECG",
        department=clinic.cardiology,
        preparation_zh="检查前休息五分钟",
        preparation_en="Rest for five minutes before the exam",
    )
    room = one_session(
        clinic.cardiology,
        MONDAY + dt.timedelta(days=2),
        exam_type=ecg,
        start=dt.time(8, 0),
        end=dt.time(9, 0),
    )
    exam = desk_books(clinic, clinic.patient_in_care, slot_of(room, 8))
    assert (exam.preparation_zh, exam.preparation_en) == (
        "检查前休息五分钟",
        "Rest for five minutes before the exam",
    )
    # Later edits of the department's note do not change what the patient was told.
    clinic.cardiology.visit_preparation.text_en = "Changed"
    clinic.cardiology.visit_preparation.save()
    visit.refresh_from_db()
    assert visit.preparation_en == PREPARATION_EN


def test_booking_registers_a_care_relationship_that_cancelling_ends(clinic: Clinic) -> None:
    patient = new_patient(name="新患者")
    doctor = clinic.user("doctor")
    with pytest.raises(NotFound):
        access_patient(doctor, patient, AccessAction.CLINICAL)
    appointment = desk_books(clinic, patient, clinic.slot(1))
    relationship = CareRelationship.objects.get(source=f"scheduling.appointment:{appointment.pk}")
    assert relationship.department == clinic.cardiology
    assert relationship.kind == CareRelationshipKind.APPOINTMENT
    assert relationship.valid_until == appointment.session.ends_at + dt.timedelta(days=30)
    assert access_patient(doctor, patient, AccessAction.CLINICAL) == patient
    # Another department's doctor still cannot.
    with pytest.raises(NotFound):
        access_patient(clinic.user("neurologist"), patient, AccessAction.VIEW)
    cancel_appointment(clinic.user("frontdesk"), appointment.pk, reason="no longer needed")
    relationship.refresh_from_db()
    assert relationship.ended_at == clock.now()
    with pytest.raises(NotFound):
        access_patient(doctor, patient, AccessAction.CLINICAL)
