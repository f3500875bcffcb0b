from __future__ import annotations

from typing import Any

import pytest

from smartcare.accounts.choices import Role
from smartcare.interop.models import ConnectedSystem, SystemKind
from tests.factories import UserFactory


def connected(name: str, kind: str, application: str, facility: str, authority: str) -> ConnectedSystem:
    user = UserFactory(username=f"{name.lower()}-interface", role=Role.CHANNEL)
    return ConnectedSystem.objects.create(
        name=name,
        kind=kind,
        user=user,
        sending_application=application,
        sending_facility=facility,
        assigning_authority=authority,
    )


@pytest.fixture()
def his(hospital: Any) -> ConnectedSystem:
    return connected("HIS", SystemKind.HIS, "HIS", "MAIN", "HIS")


@pytest.fixture()
def lis(hospital: Any) -> ConnectedSystem:
    return connected("LIS", SystemKind.LIS, "GHH LAB", "ELAB-3", "LIS")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """The test hospital's users get passwords; these tests never sign in with them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """Messages to patients follow their language (default: the hospital's); these tests read English."""
    settings.LANGUAGE_CODE = "en"
