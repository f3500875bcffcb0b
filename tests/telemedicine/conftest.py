from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.emr.icd10 import ensure_icd10
from smartcare.telemedicine import services
from smartcare.telemedicine.models import Consultation
from tests.factories import TestHospital, build_hospital

# A Monday morning in hospital time (UTC+8), after the test hospital was built (real time).
MONDAY_9 = dt.datetime(2030, 3, 4, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _reference_data(db: Any) -> None:
    ensure_icd10()


@pytest.fixture()
def h(db: Any) -> TestHospital:
    return build_hospital()


def ask(h: TestHospital, *, urgency: str = "routine", expert: bool = True, **extra: Any) -> Consultation:
    """The cardiologist asks neurology (the neurologist by name, or the pool) about the patient in care."""
    data: dict[str, Any] = {
        "patient_id": h.patient_in_care.pk,
        "specialty_id": h.neurology.pk,
        "question": "Sudden weakness of the left arm, resolved after 2 hours. Stroke or TIA?",
        "working_diagnosis": "G45.9",
        "urgency": urgency,
        "expert_id": h.user("neurologist").pk if expert else None,
        "consent_given": True,
        **extra,
    }
    return services.request_consultation(h.user("doctor"), **data)


@pytest.fixture()
def frozen() -> Any:
    with clock.frozen_at(MONDAY_9):
        yield MONDAY_9
