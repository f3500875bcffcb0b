from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from smartcare.core import clock
from smartcare.equipment import services
from smartcare.equipment.models import Asset
from tests.factories import TestHospital, build_hospital


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture()
def h(db: Any) -> TestHospital:
    return build_hospital()


@dataclass
class Registered:
    h: TestHospital
    asset: Asset
    credential: str

    @property
    def engineer(self) -> Any:
        return self.h.user("itadmin")


def message(ident: str, *, at: dt.datetime | None = None, **values: Any) -> dict[str, Any]:
    return {"id": ident, "time": (at or clock.now()).isoformat(), **values}


@pytest.fixture()
def ct(h: TestHospital) -> Registered:
    asset, credential = services.register_asset(
        h.user("itadmin"),
        kind="ct",
        name="CT 1",
        maker="Siemens",
        model_name="SOMATOM go.Up",
        serial_number="CT-0001",
        department_id=h.cardiology.pk,
        location="Building 2, room 105",
        purchase_date=dt.date(2021, 3, 1),
        warranty_until=dt.date(2024, 3, 1),
        heartbeat_seconds=60,
    )
    return Registered(h, asset, credential)
