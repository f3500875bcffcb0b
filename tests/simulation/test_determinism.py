"""The demo generator is deterministic for a seed (and a date), and its defaults are the issue's."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from smartcare.core import clock
from smartcare.patients.models import Patient
from smartcare.simulation import foundation
from smartcare.simulation.management.commands import demo_data
from smartcare.simulation.registry import generators

PATIENTS = 120
DAY = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture()
def foundation_only(monkeypatch: Any) -> None:
    """Only the foundation generator: it makes the people; later modules add activity after it."""
    only = [g for g in generators() if g.run is foundation.build_foundation]
    assert len(only) == 1
    monkeypatch.setattr(demo_data, "generators", lambda: only)


def people_for(seed: int) -> list[tuple[str, str, str, str, dt.date]]:
    """Run the command for ``seed`` in a transaction that is rolled back, and return who it made."""
    with transaction.atomic(), clock.frozen_at(DAY):
        call_command("demo_data", "--seed", str(seed), "--patients", str(PATIENTS), stdout=io.StringIO())
        people = [
            (p.medical_record_number, p.name, p.national_id, p.sex, p.birth_date)
            for p in Patient.objects.order_by("medical_record_number")
        ]
        transaction.set_rollback(True)
    assert not Patient.objects.exists()
    return people


def test_same_seed_same_people_other_seed_other_people(db: Any, foundation_only: None) -> None:
    first = people_for(3)
    assert len(first) == PATIENTS
    assert people_for(3) == first
    other = people_for(4)
    assert len(other) == PATIENTS
    assert [p[1:3] for p in other] != [p[1:3] for p in first]
    # Not merely reordered: the two populations hardly share a resident ID.
    assert len({p[2] for p in other} & {p[2] for p in first}) < PATIENTS // 10


def test_patient_count_follows_the_option(db: Any, foundation_only: None) -> None:
    with transaction.atomic():
        call_command("demo_data", "--seed", "9", "--patients", "25", stdout=io.StringIO())
        assert Patient.objects.count() == 25
        transaction.set_rollback(True)


def test_defaults_meet_the_issue() -> None:
    """The demo hospital has at least 5000 patients by default (too many to build in unit tests)."""
    parser = demo_data.Command().create_parser("smartcare", "demo_data")
    defaults = parser.parse_args([])
    assert defaults.patients >= 5000
    assert defaults.patients == 5000
    assert defaults.if_missing is False
    assert isinstance(defaults.seed, int)
