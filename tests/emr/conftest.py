from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smartcare.emr import hooks
from smartcare.emr.icd10 import ensure_icd10
from smartcare.knowledge.seed import ensure_seed
from tests.factories import TestHospital, build_hospital


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _reference_data(db: Any) -> None:
    """The migrated test database has both; a transactional test elsewhere may have flushed them."""
    ensure_seed()
    ensure_icd10()


@pytest.fixture(autouse=True)
def _no_advisors() -> Iterator[None]:
    saved = hooks.registered()
    hooks.unregister_all()
    yield
    hooks.restore(saved)


@pytest.fixture()
def h(db: Any) -> TestHospital:
    return build_hospital()
