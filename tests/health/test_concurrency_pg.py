"""Invariants under concurrency on PostgreSQL: one active enrolment per programme and patient, one
promoted model version per outcome."""

from __future__ import annotations

from typing import Any

import pytest

from smartcare.health import services
from smartcare.health.models import Enrolment, Programme, TrainedModel
from tests.factories import TestHospital
from tests.health.helpers import fill_record
from tests.scheduling.test_concurrency_pg import kinds, together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_five_doctors_enrol_the_same_patient_at_once(h: TestHospital) -> None:
    patient = fill_record(h)
    programme = Programme.objects.get(key="cardiovascular-risk")

    def enrol(i: int) -> Any:
        return services.enrol(h.user("doctor" if i % 2 else "head"), programme.pk, patient.pk)

    results = together(5, enrol)
    assert kinds(results) == {"Enrolment": 1, "AlreadyEnrolled": 4}
    assert Enrolment.objects.filter(patient=patient).count() == 1


def test_two_versions_promoted_at_once_leave_one_promoted(h: TestHospital) -> None:
    models = [
        TrainedModel.objects.create(
            outcome="new_diabetes",
            algorithm="logistic_regression",
            version=v,
            horizon_years=5,
            artifact=b"-",
            artifact_sha256="0" * 64,
        )
        for v in (1, 2, 3, 4)
    ]

    def promote(i: int) -> Any:
        return services.promote_model(h.user("head"), models[i].pk)

    results = together(4, promote)
    assert kinds(results).get("TrainedModel", 0) >= 1
    assert TrainedModel.objects.filter(status="promoted").count() == 1
