"""The waitlist: a freed place is held for the first waiting patient, offered, accepted or passed on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.scheduling.choices import AppointmentStatus, Channel, WaitlistStatus
from smartcare.scheduling.errors import AlreadyBooked, NoOffer
from smartcare.scheduling.models import Appointment, Slot, WaitlistEntry
from smartcare.scheduling.services import (
    accept_offer,
    book_slot,
    cancel_appointment,
    expire_offer,
    expire_overdue_offers,
    join_waitlist,
    offer_freed_place,
)
from tests.scheduling.builders import MONDAY, Clinic, at, doctor_in, inbox, one_session, slot_of, snapshot

pytestmark = pytest.mark.django_db

TUESDAY = MONDAY + dt.timedelta(days=1)


def fill(clinic: Clinic, slot: Slot) -> list[Appointment]:
    desk = clinic.user("frontdesk")
    return [
        book_slot(desk, patient_id=p.pk, slot_id=slot.pk, channel=Channel.FRONT_DESK).appointment
        for p in (clinic.patient_in_care, clinic.patient_elsewhere)
    ]


def wait(clinic: Clinic, user: str, patient: Any, *, minute: int, practitioner: Any = None) -> WaitlistEntry:
    # Entries are served in the order they were made: each joins a minute after the last.
    with clock.frozen_at(at(0, 7, minute)):
        return join_waitlist(
            clinic.user(user),
            patient_id=patient.pk,
            department_id=clinic.cardiology.pk,
            date=TUESDAY,
            channel=Channel.PORTAL,
            practitioner_id=getattr(practitioner, "pk", None),
        )


@pytest.fixture()
def full_tuesday(clinic: Clinic) -> tuple[Slot, list[Appointment], WaitlistEntry, WaitlistEntry]:
    """Tuesday 09:00 is full; the `patient` user's own record waits first, the other patient second."""
    slot = clinic.slot(1)
    booked = fill(clinic, slot)
    first = wait(clinic, "patient", clinic.own_patient, minute=1)
    second = wait(clinic, "other_patient_user", clinic.other_patient, minute=2)
    return slot, booked, first, second


def cancel(clinic: Clinic, appointment: Appointment, capture: Any) -> None:
    with clock.frozen_at(at(0, 7, 10)), capture(execute=True):
        cancel_appointment(clinic.user("frontdesk"), appointment.pk, reason="cannot come")


def test_a_cancellation_is_offered_to_the_first_waiting_patient_and_held(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any
) -> None:
    slot, booked, first, second = full_tuesday
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    first.refresh_from_db()
    second.refresh_from_db()
    slot.refresh_from_db()
    assert first.status == WaitlistStatus.OFFERED
    assert first.offered_slot == slot
    assert first.offer_expires_at == at(0, 7, 40)  # waitlist offers are valid 30 minutes
    assert second.status == WaitlistStatus.WAITING
    # The place is held for the offer: nobody else can take it meanwhile.
    assert slot.booked == 2
    assert Appointment.objects.filter(slot=slot, status=AppointmentStatus.BOOKED).count() == 1
    [offer] = inbox(clinic.user("patient"), "waitlist_offer")
    assert offer.link == "/booking/mine/"
    assert "30" in offer.body and "09:00" in offer.body
    assert inbox(clinic.user("other_patient_user"), "waitlist_offer") == []


def test_accepting_the_offer_books_the_held_place_once(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any
) -> None:
    slot, booked, first, _second = full_tuesday
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    with clock.frozen_at(at(0, 7, 20)):
        appointment = accept_offer(clinic.user("patient"), first.pk, channel=Channel.PORTAL)
    assert appointment.patient == clinic.own_patient
    assert appointment.slot == slot
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.channel == Channel.PORTAL
    first.refresh_from_db()
    slot.refresh_from_db()
    assert first.status == WaitlistStatus.ACCEPTED
    assert first.appointment == appointment
    assert slot.booked == 2 == Appointment.objects.filter(slot=slot, status=AppointmentStatus.BOOKED).count()
    # An offer is accepted once.
    before = snapshot()
    with pytest.raises(NoOffer):
        accept_offer(clinic.user("patient"), first.pk, channel=Channel.PORTAL)
    assert snapshot() == before


def test_an_unanswered_offer_expires_and_passes_to_the_next_patient(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any
) -> None:
    slot, booked, first, second = full_tuesday
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    first.refresh_from_db()
    # Not before its time.
    with clock.frozen_at(at(0, 7, 39)):
        assert expire_offer(first.pk) is False
    first.refresh_from_db()
    assert first.status == WaitlistStatus.OFFERED

    with clock.frozen_at(at(0, 7, 41)), django_capture_on_commit_callbacks(execute=True):
        assert expire_offer(first.pk) is True
    first.refresh_from_db()
    second.refresh_from_db()
    slot.refresh_from_db()
    assert first.status == WaitlistStatus.EXPIRED
    assert second.status == WaitlistStatus.OFFERED
    assert second.offered_slot == slot
    assert second.offer_expires_at == at(0, 8, 11)
    assert slot.booked == 2  # released by the expiry, held again for the next patient
    assert len(inbox(clinic.user("other_patient_user"), "waitlist_offer")) == 1
    # Expiring twice does nothing.
    with clock.frozen_at(at(0, 7, 42)):
        assert expire_offer(first.pk) is False


def test_an_expired_offer_cannot_be_accepted(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any
) -> None:
    slot, booked, first, second = full_tuesday
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    with clock.frozen_at(at(0, 7, 41)):
        before = snapshot()
        with pytest.raises(NoOffer) as refused:
            accept_offer(clinic.user("patient"), first.pk, channel=Channel.PORTAL)
        assert (refused.value.code, refused.value.status) == ("SCHED-009", 409)
        assert snapshot() == before
        # A patient still waiting has no offer to accept either.
        with pytest.raises(NoOffer):
            accept_offer(clinic.user("other_patient_user"), second.pk, channel=Channel.PORTAL)
        # And nobody accepts someone else's offer.
        with pytest.raises(NotFound):
            accept_offer(clinic.user("other_patient_user"), first.pk, channel=Channel.PORTAL)
    slot.refresh_from_db()
    assert slot.booked == 2


def test_without_anyone_waiting_the_freed_place_is_bookable_again(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any
) -> None:
    slot, booked, first, second = full_tuesday
    WaitlistEntry.objects.filter(pk__in=[first.pk, second.pk]).update(status=WaitlistStatus.CANCELLED)
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    slot.refresh_from_db()
    assert slot.booked == 1
    assert offer_freed_place(slot.pk) is None
    # Offers are only made for places still in the future.
    WaitlistEntry.objects.filter(pk=second.pk).update(status=WaitlistStatus.WAITING)
    with clock.frozen_at(at(1, 9, 5)):
        assert offer_freed_place(slot.pk) is None
    assert offer_freed_place(999_999) is None


def test_practitioner_specific_entries_only_get_that_doctors_places(
    clinic: Clinic, django_capture_on_commit_callbacks: Any
) -> None:
    colleague = doctor_in(clinic.cardiology, "doctor2").practitioner
    afternoon = one_session(
        clinic.cardiology,
        TUESDAY,
        practitioner=colleague,
        start=dt.time(14, 0),
        end=dt.time(15, 0),
        period="afternoon",
    )
    morning_slot, afternoon_slot = clinic.slot(1), slot_of(afternoon, 14)
    morning = fill(clinic, morning_slot)
    later = fill(clinic, afternoon_slot)
    wants_colleague = wait(clinic, "patient", clinic.own_patient, minute=1, practitioner=colleague)
    anyone = wait(clinic, "other_patient_user", clinic.other_patient, minute=2)

    cancel(clinic, morning[0], django_capture_on_commit_callbacks)
    wants_colleague.refresh_from_db()
    anyone.refresh_from_db()
    assert wants_colleague.status == WaitlistStatus.WAITING  # the morning is the other doctor's
    assert (anyone.status, anyone.offered_slot) == (WaitlistStatus.OFFERED, morning_slot)

    cancel(clinic, later[0], django_capture_on_commit_callbacks)
    wants_colleague.refresh_from_db()
    assert (wants_colleague.status, wants_colleague.offered_slot) == (WaitlistStatus.OFFERED, afternoon_slot)


def test_joining_the_waitlist_twice_or_for_the_past_is_refused(clinic: Clinic) -> None:
    wait(clinic, "patient", clinic.own_patient, minute=1)
    before = snapshot()
    with pytest.raises(AlreadyBooked) as twice:
        wait(clinic, "patient", clinic.own_patient, minute=2)
    assert twice.value.code == "SCHED-003"
    with pytest.raises(InvalidInput):
        join_waitlist(
            clinic.user("patient"),
            patient_id=clinic.own_patient.pk,
            department_id=clinic.cardiology.pk,
            date=MONDAY - dt.timedelta(days=1),
            channel=Channel.PORTAL,
        )
    with pytest.raises(NotFound):
        wait(clinic, "patient", clinic.other_patient, minute=3)
    assert snapshot() == before


def test_the_offer_expiry_is_scheduled_on_a_queue_that_can_defer(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    _slot, booked, first, _second = full_tuesday
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    first.refresh_from_db()
    [job] = DBTaskResult.objects.filter(task_path="smartcare.scheduling.tasks.expire_waitlist_offer")
    assert job.run_after == first.offer_expires_at
    assert job.args_kwargs["args"] == [first.pk]


# --- The periodic sweep behind the deferred expiry ---------------------------------------------------


def test_the_sweep_expires_overdue_offers_and_hands_the_place_on(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The expiry task was lost (the inline backend never schedules it): the periodic sweep does
    what it would have done, once."""
    slot, booked, first, second = full_tuesday
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert first.status == WaitlistStatus.OFFERED  # held until 07:40
    with clock.frozen_at(at(0, 7, 39)), django_capture_on_commit_callbacks(execute=True):
        assert expire_overdue_offers() == 0
    first.refresh_from_db()
    assert first.status == WaitlistStatus.OFFERED

    with clock.frozen_at(at(0, 7, 40)), django_capture_on_commit_callbacks(execute=True):
        assert expire_overdue_offers() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    slot.refresh_from_db()
    assert first.status == WaitlistStatus.EXPIRED
    assert (second.status, second.offered_slot, second.offer_expires_at) == (
        WaitlistStatus.OFFERED,
        slot,
        at(0, 8, 10),
    )
    assert slot.booked == 2  # released, and held again for the next patient
    assert len(inbox(clinic.user("other_patient_user"), "waitlist_offer")) == 1

    # Idempotent: a second sweep, or the late task, changes nothing.
    before = snapshot()
    with clock.frozen_at(at(0, 7, 41)), django_capture_on_commit_callbacks(execute=True):
        assert expire_overdue_offers() == 0
        assert expire_offer(first.pk) is False
    assert snapshot() == before

    # The second offer runs out too: with nobody left waiting, the place is free again.
    with clock.frozen_at(at(0, 8, 30)), django_capture_on_commit_callbacks(execute=True):
        assert expire_overdue_offers() == 1
    second.refresh_from_db()
    slot.refresh_from_db()
    assert second.status == WaitlistStatus.EXPIRED
    assert slot.booked == 1
    assert Appointment.objects.filter(slot=slot, status=AppointmentStatus.BOOKED).count() == 1


def test_the_sweep_leaves_accepted_and_waiting_entries_alone(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any
) -> None:
    slot, booked, first, second = full_tuesday
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    with clock.frozen_at(at(0, 7, 20)):
        accept_offer(clinic.user("patient"), first.pk, channel=Channel.PORTAL)
    with clock.frozen_at(at(0, 9)), django_capture_on_commit_callbacks(execute=True):
        assert expire_overdue_offers() == 0
    first.refresh_from_db()
    second.refresh_from_db()
    slot.refresh_from_db()
    assert (first.status, second.status, slot.booked) == (WaitlistStatus.ACCEPTED, WaitlistStatus.WAITING, 2)


def test_the_sweep_is_a_registered_periodic_task(
    clinic: Clinic, full_tuesday: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    """Registered with the workers' ticker, often enough for offers that last minutes; run through
    the task backend as a worker runs it (here the inline backend, SMARTCARE_TASKS_IMMEDIATE)."""
    from smartcare.core.periodic import jobs
    from smartcare.scheduling.tasks import expire_overdue_waitlist_offers

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}
    }
    [job] = [j for j in jobs() if j.name == "scheduling.expire_overdue_waitlist_offers"]
    assert job.every_seconds <= 120
    _slot, booked, first, _second = full_tuesday
    cancel(clinic, booked[0], django_capture_on_commit_callbacks)
    with clock.frozen_at(at(0, 7, 45)), django_capture_on_commit_callbacks(execute=True):
        assert job.enqueue == expire_overdue_waitlist_offers.enqueue
        assert job.enqueue().return_value == 1  # type: ignore[attr-defined]
    first.refresh_from_db()
    assert first.status == WaitlistStatus.EXPIRED
