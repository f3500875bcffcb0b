from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from smartcare.knowledge import selectors
from smartcare.knowledge.seed import ensure_seed

SAMPLE = Path(__file__).parent / "data" / "sample_medical.jsonl"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """These tests are not about passwords: a cheap hasher keeps building users fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _seed(db: Any) -> None:
    """The migrated test database has the seed; a transactional test elsewhere may have flushed it."""
    ensure_seed()


@pytest.fixture(autouse=True)
def _fresh_graph_cache() -> Iterator[None]:
    """Rolled-back tests can leave the graph in a state whose signature a later test reproduces."""
    selectors.forget_graph()
    yield
    selectors.forget_graph()


@pytest.fixture()
def sample() -> bytes:
    return SAMPLE.read_bytes()


def client_for(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture()
def curator(db: Any) -> Any:
    """A data steward, who may import knowledge files."""
    from smartcare.accounts.choices import Role
    from tests.factories import UserFactory

    return UserFactory(username="steward-knowledge", role=Role.DATA_STEWARD)
