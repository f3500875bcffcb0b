"""Shared fixtures and the rules for tests that need real services.

Marked tests (postgres, redis, mqtt, browser) need the real thing. With CI=true a missing service
is a failure; elsewhere the test is skipped with the reason printed. Tests marked ``postgres``
run in the PostgreSQL pass of CI (DATABASE_URL=postgres://...) and are deselected on SQLite.
"""

from __future__ import annotations

import os
import shutil
import socket
from typing import Any
from urllib.parse import urlparse

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
MQTT_URL = os.environ.get("MQTT_URL") or "mqtt://127.0.0.1:1883"
CHROMIUM = os.environ.get("SMARTCARE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and a required service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if on_postgres:
        return
    selected, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("postgres") else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
        print(
            f"\n{len(deselected)} PostgreSQL tests deselected: they run in the PostgreSQL pass (DATABASE_URL)"
        )


def pytest_runtest_setup(item: Any) -> None:
    if item.get_closest_marker("redis") and not _reachable(REDIS_URL, 6379):
        _missing(f"Redis not reachable at {REDIS_URL}")
    if item.get_closest_marker("mqtt") and not _reachable(MQTT_URL, 1883):
        _missing(f"MQTT broker not reachable at {MQTT_URL}")
    if item.get_closest_marker("browser") and not os.path.exists(CHROMIUM):
        _missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any) -> None:
    """Unit tests run background tasks inline; the worker tests start real workers instead."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}
    }
    settings.AXES_ENABLED = True


@pytest.fixture(autouse=True, scope="session")
def _cache_per_worker() -> Any:
    """Each xdist worker keeps its cache keys under its own prefix.

    With REDIS_URL both workers share one Redis database; ``cache.clear()`` there is FLUSHDB,
    which wiped the other worker's rate-limit counters and lockouts in the middle of its test.
    """
    from django.conf import settings
    from django.test.utils import override_settings

    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    for config in caches.values():
        config["KEY_PREFIX"] = f"test-{worker}-{os.getpid()}"
    with override_settings(CACHES=caches):
        yield


@pytest.fixture(autouse=True)
def _reset_axes_cache(_cache_per_worker: Any) -> Any:
    yield
    from django.core.cache import cache

    if hasattr(cache, "_cache") and hasattr(cache._cache, "get_client"):  # Redis: only our keys
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _research_lake_session(tmp_path_factory: Any) -> Any:
    """Tests never read or write the operator's analytics lake: for the session (module fixtures
    that run the demo generators included) SMARTCARE_LAKE_DIR points into pytest's temporary
    directory; ``_research_lake_dir`` below gives each test a fresh one."""
    previous = os.environ.get("SMARTCARE_LAKE_DIR")
    os.environ["SMARTCARE_LAKE_DIR"] = str(tmp_path_factory.getbasetemp() / "research-lake-session")
    yield
    if previous is None:
        os.environ.pop("SMARTCARE_LAKE_DIR", None)
    else:
        os.environ["SMARTCARE_LAKE_DIR"] = previous


@pytest.fixture(autouse=True)
def _research_lake_dir(_research_lake_session: Any, tmp_path_factory: Any) -> Any:
    """Each test starts with no analytics lake (a fresh, not yet existing directory), so a test
    that builds one cannot change what the next test sees."""
    import uuid

    previous = os.environ["SMARTCARE_LAKE_DIR"]
    os.environ["SMARTCARE_LAKE_DIR"] = str(
        tmp_path_factory.getbasetemp() / f"research-lake-{uuid.uuid4().hex}"
    )
    yield
    os.environ["SMARTCARE_LAKE_DIR"] = previous


@pytest.fixture()
def english(settings: Any) -> Any:
    """English for tests that read English messages: the default language is zh-Hans, and every
    string is translated, so without this they would read Chinese. Covers direct calls and test
    client requests without an Accept-Language header (the middleware falls back to
    LANGUAGE_CODE). Opt in with ``pytestmark = pytest.mark.usefixtures("english")``."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture()
def hospital(db: Any) -> Any:
    from tests.factories import build_hospital

    return build_hospital()
