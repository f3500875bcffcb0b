from __future__ import annotations

from typing import Any

import pytest

from smartcare.emr.icd10 import ensure_icd10
from smartcare.followup.seed import ensure_followup_content
from smartcare.knowledge.seed import ensure_seed
from tests.factories import TestHospital, build_hospital


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _reference_data(db: Any) -> None:
    """The migrated test database has them; a transactional test elsewhere may have flushed them."""
    ensure_seed()
    ensure_icd10()
    ensure_followup_content()


@pytest.fixture()
def h(db: Any) -> TestHospital:
    return build_hospital()
