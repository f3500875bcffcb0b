from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.monitoring import services
from smartcare.monitoring.models import Device, Enrollment
from tests.factories import TestHospital, build_hospital


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture()
def h(db: Any) -> TestHospital:
    return build_hospital()


@dataclass
class Monitored:
    """The `patient` user's own record, enrolled by the cardiology doctor, with a paired BP monitor."""

    h: TestHospital
    enrollment: Enrollment
    device: Device
    credential: str

    @property
    def patient(self) -> Any:
        return self.h.own_patient

    def pair(self, kind: str, serial: str) -> tuple[Device, str]:
        return services.register_device(
            self.h.user("nurse"), self.patient.pk, kind=kind, serial_number=serial
        )


@pytest.fixture()
def monitored(h: TestHospital) -> Monitored:
    enrollment = services.enroll_patient(h.user("doctor"), h.own_patient.pk, reason="hypertension")
    device, credential = services.register_device(
        h.user("nurse"), h.own_patient.pk, kind="bp_monitor", serial_number="BP-0001", manufacturer="Omron"
    )
    return Monitored(h, enrollment, device, credential)


def at(hours_ago: float = 0.0) -> dt.datetime:
    return clock.now() - dt.timedelta(hours=hours_ago)


def bp_observation(
    systolic: float, diastolic: float, *, ident: str = "", when: dt.datetime | None = None
) -> dict[str, Any]:
    loinc = "http://loinc.org"
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": loinc, "code": "85354-9", "display": "Blood pressure panel"}]},
        "effectiveDateTime": (when or clock.now()).isoformat(),
        "component": [
            {
                "code": {"coding": [{"system": loinc, "code": "8480-6"}]},
                "valueQuantity": {
                    "value": systolic,
                    "unit": "mmHg",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            },
            {
                "code": {"coding": [{"system": loinc, "code": "8462-4"}]},
                "valueQuantity": {
                    "value": diastolic,
                    "unit": "mmHg",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            },
        ],
    }
    if ident:
        resource["identifier"] = [{"system": "urn:device:bp-0001", "value": ident}]
    return resource


def quantity_observation(
    code: str, value: float, unit: str, *, ident: str = "", when: dt.datetime | None = None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": (when or clock.now()).isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }
    if ident:
        resource["identifier"] = [{"value": ident}]
    return resource
