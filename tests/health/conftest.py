from __future__ import annotations

from typing import Any

import pytest

from smartcare.emr.icd10 import ensure_icd10
from smartcare.followup.seed import ensure_followup_content
from smartcare.health.seed import ensure_programmes
from tests.factories import TestHospital, build_hospital


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture()
def h(db: Any) -> TestHospital:
    ensure_icd10()
    ensure_followup_content()
    ensure_programmes()
    return build_hospital()
