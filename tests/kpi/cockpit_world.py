"""A small, hand-countable hospital week for the cockpit tests (Monday 2 March 2026, ISO week 10).

Cardiology, doctor ``doctor``, one morning clinic on Monday 2 March:

=====  =========  ======  ========  ========  ==================  =====
appt   status     channel arrived   called    booked              wait
=====  =========  ======  ========  ========  ==================  =====
A1     completed  portal  08:50     09:10     2026-02-25 10:00    20
A2     completed  app     09:00     09:40     2026-03-01 10:00    40
A3     no_show    phone   —         —         2026-02-28 10:00    —
A4     cancelled  website —         —         2026-02-27 10:00    (by the patient: not a failure)
A5     completed  portal  10:00     10:30     2026-03-02 07:00    30
=====  =========  ======  ========  ========  ==================  =====

So: success 3/4 = 0.75; mean wait (20+40+30)/3 = 30 min; booking to visit (5+1+0)/3 = 2 days.

Inpatient stays in cardiology (4 beds): S1 01 Mar 08:00 – 04 Mar 08:00 (3 days), S2 02 Mar 12:00 –
03 Mar 00:00 (0.5 days); baseline year 2025: S0 1 – 6 June 2025 (5 days). Midnight census of week
10: 2 (Mon) + 1 (Tue) = 3 occupied bed-nights of 28; 2 discharges of 28 bed-days.

Exam orders: patient P1 HbA1c on 2 and 5 March (the second is a repeat), patient P2 HbA1c on
3 March: repeat rate 1/3. Outpatient encounters of the doctor on 2 March: two, decision support
showed a card in one: usage 1/2. Bills: two visits with charges of 100 and 300 yuan: 200 per case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from smartcare.billing.choices import BillKind, InsuranceCategory, ItemKind
from smartcare.billing.models import Bill, CatalogItem, Charge, Price
from smartcare.cdss.models import Consultation
from smartcare.emr.choices import EncounterKind, EncounterStatus, OrderKind, OrderStatus
from smartcare.emr.models import Encounter, Order
from smartcare.organization.choices import RoomKind
from smartcare.organization.models import Bed, Campus, Room
from smartcare.scheduling.choices import AppointmentStatus, Channel, FeeClass
from smartcare.scheduling.models import Appointment
from tests.factories import PatientFactory, TestHospital, build_hospital
from tests.scheduling.builders import one_session

MONDAY = dt.date(2026, 3, 2)
WEEK = "2026-W10"


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(settings.TIME_ZONE))


@dataclass
class Week:
    h: TestHospital
    appointments: dict[str, Appointment] = field(default_factory=dict)
    patients: list[Any] = field(default_factory=list)


def build_week(h: TestHospital | None = None) -> Week:
    h = h or build_hospital()
    week = Week(h)
    doctor = h.users["doctor"]
    session = one_session(
        h.cardiology, MONDAY, practitioner=doctor.practitioner, start=dt.time(9), end=dt.time(11)
    )
    slot = session.slots.order_by("starts_at").first()
    rows = [
        (
            "A1",
            AppointmentStatus.COMPLETED,
            Channel.PORTAL,
            (8, 50),
            (9, 10),
            local(dt.date(2026, 2, 25), 10),
        ),
        ("A2", AppointmentStatus.COMPLETED, Channel.APP, (9, 0), (9, 40), local(dt.date(2026, 3, 1), 10)),
        ("A3", AppointmentStatus.NO_SHOW, Channel.PHONE, None, None, local(dt.date(2026, 2, 28), 10)),
        ("A4", AppointmentStatus.CANCELLED, Channel.WEBSITE, None, None, local(dt.date(2026, 2, 27), 10)),
        ("A5", AppointmentStatus.COMPLETED, Channel.PORTAL, (10, 0), (10, 30), local(MONDAY, 7)),
    ]
    for name, status, channel, arrived, called, booked in rows:
        patient = h.patient_in_care if name == "A1" else PatientFactory()
        week.patients.append(patient)
        appointment = Appointment.objects.create(
            slot=slot,
            session=session,
            department=h.cardiology,
            date=MONDAY,
            period=session.period,
            patient=patient,
            status=status,
            channel=channel,
            fee_class=FeeClass.ORDINARY,
            booked_by=h.users["frontdesk"],
            checked_in_at=local(MONDAY, *arrived) if arrived else None,
            called_at=local(MONDAY, *called) if called else None,
        )
        Appointment.objects.filter(pk=appointment.pk).update(created_at=booked)
        week.appointments[name] = appointment
    _stays(week)
    _orders(week)
    _decision_support(week)
    _bills(week)
    return week


def _stays(week: Week) -> None:
    h = week.h
    campus = Campus.objects.get(hospital=h.hospital)
    room = Room.objects.create(campus=campus, department=h.cardiology, code="W1", kind=RoomKind.WARD)
    for n in range(4):
        Bed.objects.create(room=room, code=str(n + 1))
    for admitted, discharged in (
        (local(dt.date(2026, 3, 1), 8), local(dt.date(2026, 3, 4), 8)),
        (local(MONDAY, 12), local(dt.date(2026, 3, 3), 0)),
        (local(dt.date(2025, 6, 1), 8), local(dt.date(2025, 6, 6), 8)),
    ):
        Encounter.objects.create(
            patient=PatientFactory(),
            kind=EncounterKind.INPATIENT,
            department=h.cardiology,
            status=EncounterStatus.FINISHED,
            started_at=admitted,
            ended_at=discharged,
            admitted_at=admitted,
            discharged_at=discharged,
        )


def _orders(week: Week) -> None:
    h = week.h
    doctor = h.users["doctor"]
    p1, p2 = PatientFactory(), PatientFactory()
    for patient, day in ((p1, dt.date(2026, 3, 2)), (p1, dt.date(2026, 3, 5)), (p2, dt.date(2026, 3, 3))):
        encounter = Encounter.objects.create(
            patient=patient,
            kind=EncounterKind.OUTPATIENT,
            department=h.cardiology,
            status=EncounterStatus.FINISHED,
            started_at=local(day, 9),
            ended_at=local(day, 9, 20),
        )
        Order.objects.create(
            encounter=encounter,
            patient=patient,
            kind=OrderKind.LAB,
            status=OrderStatus.SIGNED,
            item="exam:hba1c",
            name="HbA1c",
            ordered_by=doctor,
            ordered_at=local(day, 9, 5),
            signed_at=local(day, 9, 6),
        )


def _decision_support(week: Week) -> None:
    """The doctor's outpatient encounters on Monday: the order encounter above (09:00) and one more;
    decision support showed a card in one of them."""
    h = week.h
    doctor = h.users["doctor"]
    Encounter.objects.filter(started_at__date=MONDAY).update(attending=doctor.practitioner)
    encounters = list(
        Encounter.objects.filter(
            kind=EncounterKind.OUTPATIENT, started_at__gte=local(MONDAY, 0), started_at__lt=local(MONDAY, 23)
        )
    )
    extra = Encounter.objects.create(
        patient=PatientFactory(),
        kind=EncounterKind.OUTPATIENT,
        department=h.cardiology,
        attending=doctor.practitioner,
        status=EncounterStatus.FINISHED,
        started_at=local(MONDAY, 10),
        ended_at=local(MONDAY, 10, 15),
    )
    assert len(encounters) == 1
    Consultation.objects.create(
        hook="order-select",
        hook_instance="t1",
        user=doctor,
        patient_ref="x",
        encounter_ref=f"Encounter/{extra.pk}",
        cards=1,
        at=local(MONDAY, 10, 5),
    )


def _bills(week: Week) -> None:
    item = CatalogItem.objects.create(
        code="T-REG",
        kind=ItemKind.REGISTRATION,
        insurance_category=InsuranceCategory.CLASS_A,
        name_zh="挂号",
        name_en="Registration",
    )
    price = Price.objects.create(item=item, amount=Decimal("100"), valid_from=local(dt.date(2020, 1, 1), 0))
    for amount, appointment in (
        (Decimal("100"), week.appointments["A1"]),
        (Decimal("300"), week.appointments["A2"]),
    ):
        bill = Bill.objects.create(
            patient=appointment.patient,
            kind=BillKind.VISIT,
            department=week.h.cardiology,
            appointment=appointment,
            opened_at=local(MONDAY, 9),
        )
        Charge.objects.create(
            bill=bill,
            patient=appointment.patient,
            item=item,
            price=price,
            kind=item.kind,
            name_zh=item.name_zh,
            name_en=item.name_en,
            unit="次",
            insurance_category=item.insurance_category,
            unit_price=amount,
            quantity=Decimal("1"),
            amount=amount,
            service_date=MONDAY,
        )
