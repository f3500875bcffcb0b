"""Booking under concurrency on PostgreSQL: the capacity, the one-booking-per-session rule and the
idempotency key hold when many requests arrive at once."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import Any

import pytest

from smartcare.scheduling.choices import Channel
from smartcare.scheduling.errors import AlreadyBooked, SlotFull
from smartcare.scheduling.models import Appointment, Slot
from smartcare.scheduling.services import BookingResult, book_slot
from tests.concurrency import together
from tests.scheduling.builders import MONDAY, Clinic, new_patient, one_session, slot_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def kinds(results: list[Any]) -> Counter[str]:
    return Counter(type(r).__name__ for r in results)


@pytest.fixture()
def room_for_five(clinic: Clinic) -> Slot:
    session = one_session(
        clinic.neurology,
        MONDAY + dt.timedelta(days=1),
        practitioner=clinic.user("neurologist").practitioner,
        start=dt.time(9, 0),
        end=dt.time(10, 0),
        capacity=5,
    )
    return slot_of(session, 9)


def test_forty_patients_race_for_five_places(clinic: Clinic, room_for_five: Slot) -> None:
    patients = [new_patient() for _ in range(40)]
    desk = clinic.user("frontdesk")

    def book(i: int) -> BookingResult:
        return book_slot(
            desk, patient_id=patients[i].pk, slot_id=room_for_five.pk, channel=Channel.FRONT_DESK
        )

    results = together(40, book)
    assert kinds(results) == {"BookingResult": 5, "SlotFull": 35}
    assert all(isinstance(r, SlotFull) for r in results if not isinstance(r, BookingResult))
    room_for_five.refresh_from_db()
    assert room_for_five.booked == 5
    booked = Appointment.objects.filter(slot=room_for_five)
    assert booked.count() == 5
    assert len({a.patient_id for a in booked}) == 5


def test_twenty_retries_with_one_idempotency_key_book_once(clinic: Clinic, room_for_five: Slot) -> None:
    desk = clinic.user("frontdesk")
    patient = clinic.patient_in_care

    def retry(i: int) -> BookingResult:
        # Spread the retries over the first attempt's transaction: some check the key before it
        # commits and the booking rules after, which must still give them the first booking back.
        time.sleep(i * 0.003)
        return book_slot(
            desk,
            patient_id=patient.pk,
            slot_id=room_for_five.pk,
            channel=Channel.FRONT_DESK,
            idempotency_key="desk-retry-7",
        )

    results = together(20, retry)
    assert kinds(results) == {"BookingResult": 20}, results
    [appointment] = Appointment.objects.filter(patient=patient)
    assert {r.appointment.pk for r in results} == {appointment.pk}
    assert sum(r.created for r in results) == 1
    room_for_five.refresh_from_db()
    assert room_for_five.booked == 1


def test_one_patient_booking_two_slots_of_a_session_at_once_gets_one(
    clinic: Clinic, room_for_five: Slot
) -> None:
    desk = clinic.user("frontdesk")
    patient = clinic.patient_elsewhere
    slots = [room_for_five, slot_of(room_for_five.session, 9, 30)]

    def book(i: int) -> BookingResult:
        return book_slot(desk, patient_id=patient.pk, slot_id=slots[i % 2].pk, channel=Channel.FRONT_DESK)

    results = together(10, book)
    assert kinds(results) == {"BookingResult": 1, "AlreadyBooked": 9}
    assert all(isinstance(r, AlreadyBooked) for r in results if not isinstance(r, BookingResult))
    assert Appointment.objects.filter(patient=patient).count() == 1
    assert sum(Slot.objects.filter(pk__in=[s.pk for s in slots]).values_list("booked", flat=True)) == 1
