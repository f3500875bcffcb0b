"""Which booking policy applies: the department's own, else the one hospital default, else the
built-in values; and migration 0003, which leaves one hospital default where the old constraint
(unique on max_bookings_per_day) had let several in."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from smartcare.core import clock
from smartcare.scheduling.models import BookingPolicy
from smartcare.scheduling.policy import policy_for
from tests.factories import TestHospital
from tests.scheduling.builders import extra_department

BEFORE = [("scheduling", "0002_pre_visit_rules")]
AFTER = [("scheduling", "0003_one_default_booking_policy")]


@pytest.mark.django_db
def test_the_departments_own_policy_wins_over_the_default(hospital: TestHospital) -> None:
    neurology = hospital.user("neurologist").practitioner.department
    assert policy_for(hospital.cardiology.pk).pk is None  # nothing configured: built-in values
    assert policy_for(hospital.cardiology.pk).max_bookings_per_day == 3
    default = BookingPolicy.objects.create(max_bookings_per_day=5)
    own = BookingPolicy.objects.create(department=hospital.cardiology, max_bookings_per_day=1)
    # Created after the department's, so an unordered query would often list it first.
    BookingPolicy.objects.create(department=neurology, max_bookings_per_day=2)
    for _ in range(3):
        assert policy_for(hospital.cardiology.pk) == own
        assert policy_for(neurology.pk).max_bookings_per_day == 2
    elsewhere = extra_department(hospital, "03.05")
    assert policy_for(elsewhere.pk) == default
    assert policy_for(None) == default


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_only_the_newest_hospital_default(hospital: TestHospital) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE[0]).apps.get_model("scheduling", "BookingPolicy")
        start = clock.now()
        # What the old constraint allowed: several defaults, as long as their daily limits differ.
        for minutes, limit in ((0, 3), (20, 4), (10, 5)):
            old.objects.create(max_bookings_per_day=limit, created_at=start + dt.timedelta(minutes=minutes))
        old.objects.create(department_id=hospital.cardiology.pk, max_bookings_per_day=1, created_at=start)
        assert old.objects.filter(department__isnull=True).count() == 3
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(AFTER)
    rows = dict(BookingPolicy.objects.values_list("department_id", "max_bookings_per_day"))
    assert rows == {None: 4, hospital.cardiology.pk: 1}
    assert policy_for(None).max_bookings_per_day == 4
    assert policy_for(hospital.cardiology.pk).max_bookings_per_day == 1
