from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import get_resolver

from smartcare.accounts.choices import Role
from smartcare.interop.hl7 import mllp
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


@pytest.fixture()
def listener(transactional_db: Any) -> Iterator[mllp.MllpServer]:
    """The MLLP listener in a thread on a free port."""
    get_resolver().url_patterns  # noqa: B018 (load the URLconf now, not inside the first message)
    server = mllp.MllpServer(("127.0.0.1", 0), idle_timeout=10)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def send(server: mllp.MllpServer, text: str, encoding: str = "utf-8") -> str:
    return mllp.send("127.0.0.1", server.port, text.encode(encoding), timeout=120).decode(encoding)
