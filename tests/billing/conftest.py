from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smartcare.core import clock
from tests.billing.builders import BillingWorld, build_world, now


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """Every test starts on Monday 2027-03-01 at 07:00 hospital time."""
    with clock.frozen_at(now()):
        yield


@pytest.fixture()
def world(hospital: Any) -> BillingWorld:
    return build_world(hospital)
