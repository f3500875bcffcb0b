from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smartcare.core import clock
from tests.scheduling.builders import Clinic, build_clinic, now


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """These tests are not about passwords: a cheap hasher keeps building users fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """Every test starts on Monday 2027-03-01 at 07:00 hospital time (see builders)."""
    with clock.frozen_at(now()):
        yield


@pytest.fixture()
def clinic(hospital: Any) -> Clinic:
    """Cardiology with the `doctor` holding a clinic every morning (09:00-11:00, 30-minute slots of
    2 patients), released 7 days ahead at 08:00, sessions for Monday 1 to Tuesday 9 March."""
    return build_clinic(hospital)
