from __future__ import annotations

from typing import Any

import pytest

from tests.factories import TestHospital, build_hospital

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture()
def hospital(db: Any, settings: Any) -> TestHospital:
    """The shared test hospital, with a fast password hasher.

    Argon2 costs a few seconds per hospital of fifteen users; the tests about password storage
    create their own users under the real settings.
    """
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build_hospital()
