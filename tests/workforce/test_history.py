"""Workload history: counted from the platform's own records (appointments, encounters,
admissions, orders), and imported from CSV, where a bad file is refused with WORK-001 and nothing
is written."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from smartcare.core.errors import PermissionDenied
from smartcare.emr.models import Encounter, EncounterMovement, Order
from smartcare.scheduling.models import Appointment, ClinicSession, ExamType, Slot
from smartcare.workforce import services
from smartcare.workforce.errors import InvalidPeriod, InvalidWorkloadFile
from smartcare.workforce.models import WorkloadRecord
from tests.factories import PatientFactory

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 3, 2)  # a Monday


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ)


def _appointment(
    h: Any, patient: Any, *, hour: int, period: str, status: str, exam: ExamType | None = None
) -> None:
    session = ClinicSession.objects.create(
        department=h.cardiology,
        practitioner=None if exam else h.user("doctor").practitioner,
        exam_type=exam,
        date=DAY,
        period=period,
        starts_at=at(hour),
        ends_at=at(hour + 3),
        releases_at=at(hour) - dt.timedelta(days=7),
    )
    slot = Slot.objects.create(
        session=session, starts_at=at(hour), ends_at=at(hour, 30), capacity=5, booked=1
    )
    Appointment.objects.create(
        slot=slot,
        session=session,
        department=h.cardiology,
        date=DAY,
        period=period,
        patient=patient,
        status=status,
        channel="front_desk",
        booked_by=h.user("frontdesk"),
        fee_class="ordinary",
    )


@pytest.fixture()
def activity(hospital: Any) -> Any:
    """One Monday of cardiology: two attended morning visits, one no-show, an afternoon exam, a
    walk-in emergency visit in the evening, an admission at 10:00 still in hospital, a signed lab
    order and a signed procedure."""
    h = hospital
    patients = [PatientFactory() for _ in range(4)]
    _appointment(h, patients[0], hour=8, period="morning", status="completed")
    _appointment(h, patients[1], hour=9, period="morning", status="checked_in")
    _appointment(h, patients[2], hour=10, period="morning", status="no_show")
    exam = ExamType.objects.create(code="ECG", department=h.cardiology, name_zh="心电图", name_en="ECG")
    _appointment(h, patients[3], hour=14, period="afternoon", status="completed", exam=exam)
    doctor = h.user("doctor")
    Encounter.objects.create(
        patient=patients[0], kind="emergency", department=h.cardiology, status="finished", started_at=at(19)
    )
    stay = Encounter.objects.create(
        patient=patients[1],
        kind="inpatient",
        department=h.cardiology,
        status="in_progress",
        started_at=at(10),
        admitted_at=at(10),
    )
    EncounterMovement.objects.create(
        encounter=stay, kind="admission", to_department=h.cardiology, at=at(10), by=doctor
    )
    for kind, hour in (("lab", 11), ("procedure", 15)):
        Order.objects.create(
            encounter=stay,
            patient=patients[1],
            kind=kind,
            name=kind,
            status="signed",
            ordered_by=doctor,
            signed_at=at(hour),
        )
    return h


def _row(h: Any, day: dt.date, half: str) -> WorkloadRecord:
    return WorkloadRecord.objects.get(department=h.cardiology, date=day, half_day=half)


def test_workload_is_counted_from_the_platform(activity: Any) -> None:
    h = activity
    written = services.collect_workload(h.user("head"), DAY, DAY + dt.timedelta(days=1))
    assert written == 2 * 2  # the head plans cardiology only: two days, two half-days
    am, pm = _row(h, DAY, "am"), _row(h, DAY, "pm")
    assert (am.outpatient_visits, am.admissions, am.exams, am.surgeries, am.inpatients) == (2, 1, 1, 0, 0)
    assert (pm.outpatient_visits, pm.admissions, pm.exams, pm.surgeries, pm.inpatients) == (1, 0, 1, 1, 1)
    next_am = _row(h, DAY + dt.timedelta(days=1), "am")
    assert next_am.inpatients == 1  # still in hospital at midnight
    assert am.source == "platform"
    assert not WorkloadRecord.objects.filter(department=h.neurology).exists()


def test_counting_again_replaces_counted_rows_but_keeps_imported_ones(activity: Any) -> None:
    h = activity
    services.import_workload_csv(
        h.user("head"), f"department,date,half_day,outpatient_visits\n03.04,{DAY},pm,77\n"
    )
    services.collect_workload(h.user("head"), DAY, DAY)
    services.collect_workload(None, DAY, DAY)  # the periodic job: every department
    assert WorkloadRecord.objects.filter(department=h.cardiology, date=DAY).count() == 2
    assert _row(h, DAY, "am").outpatient_visits == 2
    imported = _row(h, DAY, "pm")
    assert (imported.outpatient_visits, imported.source) == (77, "imported")
    assert WorkloadRecord.objects.filter(department=h.neurology, date=DAY).count() == 2


def test_collecting_needs_a_sane_period_and_a_planner(hospital: Any) -> None:
    with pytest.raises(InvalidPeriod):
        services.collect_workload(hospital.user("head"), DAY, DAY - dt.timedelta(days=1))
    with pytest.raises(PermissionDenied):
        services.collect_workload(hospital.user("doctor"), DAY, DAY)
    assert not WorkloadRecord.objects.exists()


GOOD = (
    "department,date,half_day,outpatient_visits,admissions,surgeries,exams,inpatients\n"
    "03.04,2026-03-02,am,86,4,2,40,41\n"
    "03.04,2026-03-02,pm,55,2,1,30,42\n"
)


def test_csv_import_writes_every_row(hospital: Any) -> None:
    result = services.import_workload_csv(hospital.user("head"), "\ufeff" + GOOD, "his.csv")
    assert (result.rows, result.departments, result.first, result.last) == (2, ["03.04"], DAY, DAY)
    am = _row(hospital, DAY, "am")
    assert (am.outpatient_visits, am.admissions, am.surgeries, am.exams, am.inpatients) == (86, 4, 2, 40, 41)
    # Importing the same half-day again replaces it; missing columns count 0.
    services.import_workload_csv(
        hospital.user("head"), "department,date,half_day,exams\n03.04,2026-03-02,am,7\n"
    )
    am = _row(hospital, DAY, "am")
    assert (am.outpatient_visits, am.exams) == (0, 7)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "header"),
        ("dept,date,half_day,exams\n03.04,2026-03-02,am,1\n", "header"),
        ("department,date,half_day\n03.04,2026-03-02,am\n", "header"),
        ("department,date,half_day,exams,colour\n03.04,2026-03-02,am,1,red\n", "header"),
        ("department,date,half_day,exams\n", "file"),
        (GOOD + "99.99,2026-03-03,am,1,1,1,1,1\n", "line 4"),
        (GOOD + "03.04,03/03/2026,am,1,1,1,1,1\n", "line 4"),
        (GOOD + "03.04,2026-03-03,noon,1,1,1,1,1\n", "line 4"),
        (GOOD + "03.04,2026-03-03,am,-1,1,1,1,1\n", "line 4"),
        (GOOD + "03.04,2026-03-03,am,1.5,1,1,1,1\n", "line 4"),
        (GOOD + "03.04,2026-03-02,am,1,1,1,1,1\n", "line 4"),
        (GOOD + "03.03,2026-03-03,am,1,1,1,1,1\n", "line 4"),  # the head does not plan neurology
    ],
)
def test_a_bad_csv_is_refused_and_nothing_is_written(hospital: Any, text: str, problem: str) -> None:
    with pytest.raises(InvalidWorkloadFile) as caught:
        services.import_workload_csv(hospital.user("head"), text)
    assert caught.value.code == "WORK-001"
    assert any(problem in name for name in caught.value.errors), caught.value.errors
    assert not WorkloadRecord.objects.exists()


def test_only_planners_import(hospital: Any) -> None:
    with pytest.raises(PermissionDenied):
        services.import_workload_csv(hospital.user("nurse"), GOOD)
    assert not WorkloadRecord.objects.exists()
