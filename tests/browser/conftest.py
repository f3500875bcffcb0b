"""Browser tests: Playwright (sync API) driving Debian's headless Chromium against pytest-django's
``live_server``.

One Chromium is shared by every test of this package; each test gets a fresh browser context (own
cookies, locale and viewport). Playwright's sync API keeps an asyncio loop running in the main
thread while it is started, which trips Django's async-unsafe guard and would break asyncio users
(``asyncio.run``, ``async_to_sync``) among the other tests. So the browser is package-scoped: it
is stopped, and the guard restored, as soon as the last browser test has finished.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CHROMIUM

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Browser context locale per smartcare language (LocaleMiddleware reads the Accept-Language header).
LOCALES = {"zh-hans": "zh-CN", "en": "en-US"}


@pytest.fixture(scope="package")
def browser(django_db_setup: None) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        # pytest_runtest_setup in tests/conftest.py skips (or fails in CI) before we get here.
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Django keeps database connections in an asgiref Local: once Playwright's loop runs in this
    # thread, the tests get new connection objects, which lack the serialized test database that
    # ``serialized_rollback`` restores from. Hand it over.
    serialized = {
        alias: getattr(connections[alias], "_test_serialized_contents", None) for alias in connections
    }
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        for alias, contents in serialized.items():
            if contents is not None:
                connections[alias]._test_serialized_contents = contents
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        connections.close_all()  # the connections opened while the loop ran
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture()
def hospital(browser: Any, live_server: Any, transactional_db: None, settings: Any) -> Any:
    """The test hospital, committed so that the live server sees it.

    ``serialized_rollback`` brings back the national department catalog (a data migration) that
    the flush after each transactional test removes. Passwords are hashed with a fast hasher: the
    sign-in still goes through the real form and authentication backends.
    """
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]
    from tests.factories import build_hospital

    return build_hospital()


@pytest.fixture()
def new_context(browser: Any, live_server: Any) -> Iterator[Any]:
    """Factory for fresh browser contexts: ``new_context("en", viewport=...)``."""
    contexts: list[Any] = []

    def make(language: str = "zh-hans", **options: Any) -> Any:
        context = browser.new_context(base_url=live_server.url, locale=LOCALES[language], **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
