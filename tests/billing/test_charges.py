"""Charges follow bookings, encounters and orders (through the models' signals), at the price
valid when the service was ordered, and go away with them: an unpaid charge is cancelled, a
paid one refunded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from smartcare.billing import services
from smartcare.billing.catalog import price_at
from smartcare.billing.models import Bill, CatalogItem, Charge, Refund
from smartcare.core import clock
from smartcare.emr import services as emr
from smartcare.emr.icd10 import ensure_icd10
from smartcare.knowledge.seed import ensure_seed
from smartcare.scheduling import services as scheduling
from tests.billing.builders import at, client_post, deliver_all
from tests.scheduling.builders import build_clinic


@pytest.fixture()
def clinic(world):
    ensure_seed()
    ensure_icd10()
    return build_clinic(world.h)


def book(world, clinic, patient=None, day=1):
    patient = patient or world.patient_in_care
    return scheduling.book_slot(
        world.user("frontdesk"), patient_id=patient.pk, slot_id=clinic.slot(day).pk, channel="front_desk"
    ).appointment


def test_booking_charges_the_registration_fee_of_its_fee_class(world, clinic):
    appointment = book(world, clinic)
    bill = Bill.objects.get(appointment=appointment)
    charge = bill.charges.get()
    assert (charge.item.code, charge.amount, charge.source) == (
        "REG-ORD",
        D("6.00"),
        f"scheduling.appointment:{appointment.pk}",
    )
    assert bill.patient_id == appointment.patient_id and bill.kind == "visit"
    # Saving the appointment again (check-in, calling) charges nothing more.
    appointment.save()
    assert Charge.objects.count() == 1


def test_expert_clinic_costs_more(world, clinic):
    session = clinic.session(1)
    session.fee_class = "expert"
    session.save()
    appointment = book(world, clinic)
    assert Bill.objects.get(appointment=appointment).charges.get().amount == D("25.00")


def test_cancelling_an_unpaid_booking_cancels_its_charge(world, clinic):
    appointment = book(world, clinic)
    scheduling.cancel_appointment(world.user("frontdesk"), appointment.pk, reason="change of plans")
    charge = Charge.objects.get()
    assert charge.status == "cancelled" and charge.cancel_reason == "change of plans"
    assert services.unsettled_charges(charge.bill) == []


def test_cancelling_a_paid_booking_refunds_it(world, clinic, django_capture_on_commit_callbacks):
    appointment = book(world, clinic)
    bill = Bill.objects.get(appointment=appointment)
    with django_capture_on_commit_callbacks(execute=True):
        started = services.start_payment(world.user("frontdesk"), bill.pk, provider="sandbox", channel="desk")
    token = started.payment.code_url.rstrip("/").rsplit("/", 1)[1]
    from smartcare.billing.sandbox_gateway import SandboxGateway

    SandboxGateway().pay(token)
    deliver_all(client_post())
    started.payment.refresh_from_db()
    assert started.payment.status == "paid"
    with django_capture_on_commit_callbacks(execute=True):
        scheduling.cancel_appointment(world.user("frontdesk"), appointment.pk, reason="doctor ill")
    refund = Refund.objects.get()
    assert refund.automatic and refund.status == "completed"
    assert refund.patient_amount + refund.insurer_amount == D("6.00")
    assert refund.payouts.get().status == "paid"


def test_encounter_and_signed_orders_are_charged_to_the_visit(world, clinic):
    appointment = book(world, clinic)
    doctor = world.user("doctor")
    with clock.frozen_at(at(1, 9, 5)):
        encounter = emr.open_encounter(doctor, appointment_id=appointment.pk)
        drug = emr.place_order(
            doctor,
            encounter.pk,
            emr.OrderData(
                kind="medication",
                item="drug:amiodarone",
                dose="200",
                dose_unit="mg",
                route="oral",
                frequency_per_day="2",
                duration_days="7",
            ),
        )
        exam = emr.place_order(doctor, encounter.pk, emr.OrderData(kind="lab", item="exam:hba1c"))
        unknown = emr.place_order(doctor, encounter.pk, emr.OrderData(kind="procedure", name="伤口换药"))
        assert Charge.objects.count() == 2  # drafts are not charged
        for order in (drug, exam, unknown):
            emr.sign_order(doctor, order.pk)
    bill = Bill.objects.get(appointment=appointment)
    assert bill.encounter_id == encounter.pk
    rows = {c.item.code: (c.quantity, c.amount) for c in bill.charges.all()}
    assert rows == {
        "REG-ORD": (D("1.000"), D("6.00")),
        "CONS-ORD": (D("1.000"), D("10.00")),
        "D-AMIODARONE": (D("14.000"), D("102.20")),  # 2 a day for 7 days at 7.30
        "E-HBA1C": (D("1.000"), D("44.00")),
        "PROC-OTHER": (D("1.000"), D("80.00")),  # not in the catalog: the kind's fallback item
    }


def test_cancelled_order_is_cancelled_or_refunded(world, clinic):
    appointment = book(world, clinic)
    doctor = world.user("doctor")
    encounter = emr.open_encounter(doctor, appointment_id=appointment.pk)
    order = emr.place_order(doctor, encounter.pk, emr.OrderData(kind="lab", item="exam:hba1c"))
    emr.sign_order(doctor, order.pk)
    emr.cancel_order(doctor, order.pk, reason="ordered twice")
    charge = Charge.objects.get(source=f"emr.order:{order.pk}")
    assert charge.status == "cancelled"
    paid = emr.place_order(doctor, encounter.pk, emr.OrderData(kind="imaging", item="exam:chest_ct"))
    emr.sign_order(doctor, paid.pk)
    services.start_payment(world.user("frontdesk"), charge.bill_id, provider="cashier", method="cash")
    emr.cancel_order(doctor, paid.pk, reason="patient declined the scan")
    refund = Refund.objects.get()
    # 310.00 of charges is above the 200.00 threshold: a billing manager approves it.
    assert refund.status == "requested" and refund.automatic and refund.total_amount == D("310.00")
    services.approve_refund(world.user("manager"), refund.pk)
    refund.refresh_from_db()
    assert refund.status == "approved"  # cash: waits for a cashier to hand it back
    payout = refund.payouts.get()
    services.pay_out_at_desk(world.user("frontdesk"), payout.pk)
    refund.refresh_from_db()
    assert refund.status == "completed"


def test_bed_days_count_the_admission_day_not_the_discharge_day(world):
    ensure_seed()
    ensure_icd10()
    from smartcare.organization.models import Bed, Room

    room = Room.objects.create(
        campus=world.hospital.campuses.first(), department=world.cardiology, code="W1", kind="ward"
    )
    bed = Bed.objects.create(room=room, code="01")
    nurse = world.user("nurse")
    with clock.frozen_at(at(0, 15)):
        stay = emr.admit(
            nurse, patient_id=world.patient_in_care.pk, department_id=world.cardiology.pk, bed_id=bed.pk
        )
    bill = Bill.objects.get(encounter=stay)
    assert bill.kind == "stay" and bill.charges.count() == 1  # the admission day
    from smartcare.billing.tasks import charge_open_stays

    with clock.frozen_at(at(2, 8)):
        assert charge_open_stays.call() == 2  # Tuesday and Wednesday
        assert charge_open_stays.call() == 0  # idempotent
    with clock.frozen_at(at(3, 10)):
        emr.discharge(nurse, stay.pk)
    days = sorted(c.service_date for c in bill.charges.all())
    assert days == [dt.date(2027, 3, 1), dt.date(2027, 3, 2), dt.date(2027, 3, 3)]
    assert sum(c.amount for c in bill.charges.all()) == D("150.00")


def test_a_new_price_applies_from_its_start(world, clinic):
    item = CatalogItem.objects.get(code="REG-ORD")
    services.set_price(
        world.user("manager"),
        item.pk,
        amount="8.00",
        valid_from=at(0, 12),
        reason="price bureau notice 2027-3",
    )
    first = book(world, clinic, day=1)
    with clock.frozen_at(at(0, 12, 30)):
        second = book(world, clinic, patient=world.own_patient, day=2)
    assert Bill.objects.get(appointment=first).charges.get().amount == D("6.00")
    assert Bill.objects.get(appointment=second).charges.get().amount == D("8.00")
    assert price_at(item, at(0, 11)).amount == D("6.00")
    assert item.prices.count() == 2  # the old version is kept


def test_prices_cannot_start_in_the_past_or_be_fractions_of_a_fen(world):
    from smartcare.billing.errors import InvalidAmount
    from smartcare.core.errors import InvalidInput

    item = CatalogItem.objects.get(code="REG-ORD")
    with pytest.raises(InvalidInput):
        services.set_price(world.user("manager"), item.pk, amount="7.00", valid_from=at(-1, 8), reason="x")
    with pytest.raises(InvalidAmount):
        services.set_price(world.user("manager"), item.pk, amount="7.005", valid_from=None, reason="x")
    assert item.prices.count() == 1


def test_without_a_catalog_nothing_is_charged(hospital):
    ensure_seed()
    ensure_icd10()
    with clock.frozen_at(at(0, 7)):
        clinic = build_clinic(hospital)
        scheduling.book_slot(
            hospital.user("frontdesk"),
            patient_id=hospital.patient_in_care.pk,
            slot_id=clinic.slot(1).pk,
            channel="front_desk",
        )
    assert not Bill.objects.exists() and not Charge.objects.exists()
