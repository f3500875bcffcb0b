"""Utilization per hour and weekday on fixtures with a known answer, booking steering on the booking
page, and moving release capacity between sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from smartcare.core import clock
from smartcare.equipment import services
from smartcare.equipment.errors import InvalidCapacityMove
from smartcare.equipment.models import Asset, CapacityMove, UsageSession, WorkOrder
from smartcare.equipment.steering import advise_sessions
from smartcare.equipment.utilization import expected_wait_minutes, utilization
from smartcare.scheduling.models import Appointment, ExamType, ScheduleTemplate
from smartcare.scheduling.services import build_session
from tests.equipment.conftest import Registered

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")

MONDAY = dt.date(2026, 11, 16)


def _at(date: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(hour, minute), tzinfo=clock.local_now().tzinfo)


def _ct_exam(h: Any) -> ExamType:
    return ExamType.objects.create(
        code="CT-CHEST", name_zh="胸部CT", name_en="Chest CT", department=h.cardiology, duration_minutes=15
    )


def test_usage_utilization_per_hour_with_downtime(ct: Registered) -> None:
    asset = ct.asset
    asset.opens_at, asset.closes_at = dt.time(8), dt.time(12)
    asset.save()
    UsageSession.objects.create(asset=asset, started_at=_at(MONDAY, 8), ended_at=_at(MONDAY, 9))
    UsageSession.objects.create(asset=asset, started_at=_at(MONDAY, 9, 30), ended_at=_at(MONDAY, 10))
    result = utilization(asset, MONDAY, MONDAY)
    assert [result.cell(0, h) for h in (8, 9, 10, 11)] == [1.0, 0.5, 0.0, 0.0]
    assert result.cell(1, 8) is None  # Tuesday is outside the range
    assert result.overall() == pytest.approx(90 / 240)
    WorkOrder.objects.create(
        asset=asset,
        kind="corrective",
        title="down",
        due_on=MONDAY,
        opened_at=_at(MONDAY, 11),
        downtime_started_at=_at(MONDAY, 11),
        downtime_ended_at=_at(MONDAY, 14),
        status="done",
    )
    result = utilization(asset, MONDAY, MONDAY)
    assert result.cell(0, 11) is None  # down: not available
    assert result.overall() == pytest.approx(90 / 180)
    assert result.by_hour()[9] == 0.5


def test_booking_utilization_is_shared_among_the_equipment_serving_the_exam(ct: Registered) -> None:
    exam = _ct_exam(ct.h)
    other = Asset.objects.create(
        kind="ct",
        name="CT 2",
        maker="GE",
        model_name="x",
        serial_number="2",
        department=ct.h.cardiology,
        uid="0000000000c2",
    )
    for asset in (ct.asset, other):
        asset.exam_types.add(exam)
    template = ScheduleTemplate.objects.create(
        department=ct.h.cardiology,
        exam_type=exam,
        weekday=0,
        period="morning",
        start_time=dt.time(8),
        end_time=dt.time(10),
        slot_minutes=30,
        capacity_per_slot=2,
    )
    session = build_session(template, MONDAY)
    assert session is not None
    slots = list(session.slots.order_by("starts_at"))
    for n, (slot, status) in enumerate(
        [(slots[0], "completed"), (slots[0], "completed"), (slots[1], "cancelled"), (slots[2], "no_show")]
    ):
        Appointment.objects.create(
            slot=slot,
            session=session,
            department=ct.h.cardiology,
            date=MONDAY,
            period="morning",
            patient=[ct.h.own_patient, ct.h.other_patient, ct.h.patient_in_care, ct.h.patient_elsewhere][n],
            status=status,
            channel="web",
            booked_by=ct.engineer,
            fee_class="ordinary",
        )
    result = utilization(ct.asset, MONDAY, MONDAY)
    assert not result.has_usage
    # Two 15-minute exams at 08:00, half of each on this CT (two CTs serve the exam): 15 of 60 min.
    assert result.cell(0, 8) == pytest.approx(0.25)
    assert result.cell(0, 9) == 0.0


def _steering_world(ct: Registered) -> tuple[ScheduleTemplate, ScheduleTemplate, dt.date]:
    exam = _ct_exam(ct.h)
    ct.asset.exam_types.add(exam)
    ct.asset.opens_at, ct.asset.closes_at = dt.time(8), dt.time(17)
    ct.asset.save()
    today = clock.today()
    for back in range(1, 29):
        day = today - dt.timedelta(days=back)
        UsageSession.objects.create(asset=ct.asset, started_at=_at(day, 8), ended_at=_at(day, 11, 12))  # 80%
        UsageSession.objects.create(asset=ct.asset, started_at=_at(day, 13), ended_at=_at(day, 14, 12))  # 30%
    date = today + dt.timedelta(days=1)
    morning = ScheduleTemplate.objects.create(
        department=ct.h.cardiology,
        exam_type=exam,
        weekday=date.weekday(),
        period="morning",
        start_time=dt.time(8),
        end_time=dt.time(12),
        slot_minutes=30,
        capacity_per_slot=4,
    )
    afternoon = ScheduleTemplate.objects.create(
        department=ct.h.cardiology,
        exam_type=exam,
        weekday=date.weekday(),
        period="afternoon",
        start_time=dt.time(13),
        end_time=dt.time(17),
        slot_minutes=30,
        capacity_per_slot=4,
    )
    return morning, afternoon, date


def test_booking_page_offers_the_quieter_session_first(ct: Registered) -> None:
    morning, afternoon, date = _steering_world(ct)
    first, second = build_session(morning, date), build_session(afternoon, date)
    assert first is not None and second is not None
    advice = advise_sessions([first, second])
    assert advice[first.pk].load == pytest.approx(0.8)
    assert advice[second.pk].load == pytest.approx(0.3)
    assert advice[second.pk].quieter and not advice[first.pk].quieter
    assert (
        advice[second.pk].expected_wait_minutes
        < advice[first.pk].expected_wait_minutes
        == expected_wait_minutes(0.8, 15)
    )
    client = Client()
    client.force_login(ct.h.user("patient"))
    page = client.get(f"/booking/department/{ct.h.cardiology.national_code_id}/").content.decode()
    assert page.index(f"/booking/session/{second.pk}/") < page.index(f"/booking/session/{first.pk}/")
    assert "Quieter time" in page or "expected wait" in page.lower()


def test_moving_release_capacity(ct: Registered) -> None:
    morning, afternoon, _date = _steering_world(ct)
    move = services.move_release_capacity(
        ct.engineer, asset_id=ct.asset.pk, from_template_id=morning.pk, to_template_id=afternoon.pk, places=2
    )
    morning.refresh_from_db()
    afternoon.refresh_from_db()
    assert (morning.capacity_per_slot, afternoon.capacity_per_slot) == (2, 6)
    assert CapacityMove.objects.get() == move
    for bad in (
        {"from_template_id": morning.pk, "to_template_id": morning.pk, "places": 1},
        {"from_template_id": morning.pk, "to_template_id": afternoon.pk, "places": 2},  # would leave 0
        {"from_template_id": morning.pk, "to_template_id": afternoon.pk, "places": 0},
    ):
        with pytest.raises(InvalidCapacityMove) as caught:
            services.move_release_capacity(ct.engineer, asset_id=ct.asset.pk, **bad)
        assert caught.value.code == "EQ-011"
    morning.refresh_from_db()
    assert morning.capacity_per_slot == 2
    assert CapacityMove.objects.count() == 1


def test_the_asset_page_shows_utilization_before_and_after_a_capacity_move(ct: Registered) -> None:
    import json

    from tests.equipment.test_pages_api import signed_in

    morning, afternoon, _date = _steering_world(ct)  # 28 days: 08:00-11:12 and 13:00-14:12 in use
    pivot = clock.now()
    services.move_release_capacity(
        ct.engineer, asset_id=ct.asset.pk, from_template_id=morning.pk, to_template_id=afternoon.pk, places=2
    )
    first = clock.today()
    for offset in range(7):  # after the move: 08:00-10:00 and 13:00-16:00
        day = first + dt.timedelta(days=offset)
        UsageSession.objects.create(asset=ct.asset, started_at=_at(day, 8), ended_at=_at(day, 10))
        UsageSession.objects.create(asset=ct.asset, started_at=_at(day, 13), ended_at=_at(day, 16))
    with clock.frozen_at(pivot + dt.timedelta(days=7)):
        response = signed_in(ct.engineer).get(f"/equipment/assets/{ct.asset.pk}/")
    assert response.status_code == 200
    chart = json.loads(response.context["curve"])
    hours = chart["xAxis"]["data"]
    series = {s["name"]: dict(zip(hours, s["data"], strict=True)) for s in chart["series"]}
    assert list(series) == ["Before the capacity move", "After"]
    before, after = series["Before the capacity move"], series["After"]
    assert [before[h] for h in ("08:00", "10:00", "11:00", "13:00", "14:00", "15:00")] == [
        100,
        100,
        20,
        100,
        20,
        0,
    ]
    assert [after[h] for h in ("08:00", "10:00", "11:00", "13:00", "14:00", "15:00")] == [
        100,
        0,
        0,
        100,
        100,
        100,
    ]
