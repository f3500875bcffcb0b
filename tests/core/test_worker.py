"""Background tasks through real worker processes, and the retry policy of deliveries.

The worker tests commit their data (transactional database), start `smartcare worker --burst` as a
child process on the same test database, and check what the worker did to the rows.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from smartcare.core import clock
from smartcare.notifications import services
from smartcare.notifications.choices import Channel, DeliveryStatus
from smartcare.notifications.models import Delivery
from smartcare.notifications.services import MAX_ATTEMPTS, attempt_delivery, notify
from tests.factories import UserFactory, child_env, smartcare_executable


def rq_test_url() -> str:
    """A Redis database for the queue of the RQ test, on the server of REDIS_URL.

    Not the cache's database: every test's teardown clears the cache (FLUSHDB), the other
    pytest-xdist worker's tests too, and that would take the queued job with it.
    """
    parsed = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    cache_db = parsed.path.strip("/") or "0"
    database = os.environ.get("SMARTCARE_TEST_RQ_DB") or ("5" if cache_db != "5" else "15")
    return urlunsplit(parsed._replace(path=f"/{database}"))


TEST_REDIS_URL = rq_test_url()
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
RQ_TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
PHONE = "13912345678"
PROJECT_DIR = Path(__file__).resolve().parents[2]
FAILING_PROVIDER = "tests.core.test_worker.FailingSms"


class FailingSms:
    """An SMS gateway that is down."""

    def send(self, phone: str, text: str) -> str:
        raise ConnectionError("SMS gateway unreachable")


class FlakySms:
    """Fails the first call of each test, then works."""

    calls = 0

    def send(self, phone: str, text: str) -> str:
        type(self).calls += 1
        if type(self).calls == 1:
            raise TimeoutError("gateway timed out")
        return "msg-1"


def sms_delivery(**kwargs: Any) -> Delivery:
    user = UserFactory(role="patient")
    note = notify(
        user,
        category="reminder",
        subject="复诊提醒",
        body="明天上午 9:00 心内科复诊",
        channels=(Channel.IN_APP, Channel.SMS),
        phone=PHONE,
        **kwargs,
    )
    return Delivery.objects.get(notification=note, channel=Channel.SMS)


def run_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [smartcare_executable(), "worker", "--burst"],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


# --- real worker processes ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_database_queue_worker_process_delivers(settings: Any) -> None:
    settings.TASKS = DB_TASKS
    delivery = sms_delivery()
    assert delivery.status == DeliveryStatus.QUEUED
    queued = DBTaskResult.objects.get()
    assert queued.status == TaskResultStatus.READY
    assert queued.args_kwargs["args"] == [delivery.pk]

    result = run_worker(child_env())
    assert "database queue" in result.stdout

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 1, "")
    assert delivery.sent_at is not None
    queued.refresh_from_db()
    assert queued.status == TaskResultStatus.SUCCESSFUL
    assert queued.return_value == DeliveryStatus.SENT
    # The log shows a masked number, never the whole one.
    assert "139****5678" in result.stderr
    assert PHONE not in result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_database_queue_worker_process_schedules_a_retry(settings: Any) -> None:
    settings.TASKS = DB_TASKS
    delivery = sms_delivery()
    run_worker(child_env(SMARTCARE_SMS_PROVIDER=FAILING_PROVIDER, PYTHONPATH=str(PROJECT_DIR)))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 1)
    assert "SMS gateway unreachable" in delivery.last_error
    assert delivery.next_attempt_at is not None
    retry = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    assert retry.run_after == delivery.next_attempt_at
    assert retry.args_kwargs["args"] == [delivery.pk]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_rq_worker_process_delivers(settings: Any) -> None:
    import django_rq

    settings.TASKS = RQ_TASKS
    settings.RQ_QUEUES = {"default": {"URL": TEST_REDIS_URL, "DEFAULT_TIMEOUT": 600}}
    queue = django_rq.get_queue("default")
    queue.empty()
    try:
        delivery = sms_delivery()
        assert delivery.status == DeliveryStatus.QUEUED
        assert queue.count == 1
        job = queue.jobs[0]
        assert job.func_name.endswith("notifications.tasks.deliver")

        result = run_worker(child_env(REDIS_URL=TEST_REDIS_URL))
        assert "RQ on Redis" in result.stdout

        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)
        assert queue.count == 0
        job.refresh()
        assert job.is_finished
        assert job.return_value() == DeliveryStatus.SENT
        assert PHONE not in result.stdout + result.stderr
    finally:
        queue.empty()


# --- retries and backoff ----------------------------------------------------------------------------


def test_failing_provider_backs_off_then_fails(
    settings: Any, db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = DB_TASKS
    settings.SMARTCARE_SMS_PROVIDER = FAILING_PROVIDER
    with django_capture_on_commit_callbacks(execute=True):
        delivery = sms_delivery()
    assert DBTaskResult.objects.count() == 1  # the first attempt, queued after commit
    start = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC)
    waits = []
    for attempt in range(1, MAX_ATTEMPTS):
        now = start + dt.timedelta(hours=attempt)
        with clock.frozen_at(now):
            assert attempt_delivery(delivery.pk) == DeliveryStatus.RETRYING
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.RETRYING
        assert delivery.attempts == attempt
        assert delivery.last_error == "ConnectionError: SMS gateway unreachable"
        assert delivery.sent_at is None
        assert delivery.next_attempt_at is not None and delivery.next_attempt_at > now
        waits.append((delivery.next_attempt_at - now).total_seconds())
        # The next attempt is queued to run no earlier than that.
        assert DBTaskResult.objects.filter(run_after=delivery.next_attempt_at).count() == 1
    assert waits == [30, 60, 120, 240]  # exponential backoff

    with clock.frozen_at(start + dt.timedelta(days=1)):
        assert attempt_delivery(delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        DeliveryStatus.FAILED,
        MAX_ATTEMPTS,
        None,
    )
    assert DBTaskResult.objects.count() == MAX_ATTEMPTS  # no retry after the last attempt

    # A stray late task changes nothing.
    assert attempt_delivery(delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert delivery.attempts == MAX_ATTEMPTS


def test_retry_that_succeeds_clears_the_error(settings: Any, db: Any) -> None:
    settings.TASKS = DB_TASKS
    settings.SMARTCARE_SMS_PROVIDER = "tests.core.test_worker.FlakySms"
    FlakySms.calls = 0
    delivery = sms_delivery()
    assert attempt_delivery(delivery.pk) == DeliveryStatus.RETRYING
    assert attempt_delivery(delivery.pk) == DeliveryStatus.SENT
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 2, "")
    assert delivery.next_attempt_at is None
    assert delivery.sent_at is not None
    # Sent is final: a duplicate task does not send again.
    assert attempt_delivery(delivery.pk) == DeliveryStatus.SENT
    assert FlakySms.calls == 2


def test_missing_delivery_is_reported(db: Any) -> None:
    assert attempt_delivery(987654) == "missing"


def test_delivery_is_queued_only_after_commit(
    settings: Any, db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = DB_TASKS
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sms_delivery()
    assert DBTaskResult.objects.count() == 0
    assert len(callbacks) == 1
    callbacks[0]()
    assert DBTaskResult.objects.count() == 1


def test_enqueue_uses_the_configured_backend(settings: Any, db: Any) -> None:
    settings.TASKS = DB_TASKS
    later = clock.now() + dt.timedelta(minutes=5)
    services._enqueue(42, run_after=later)
    task = DBTaskResult.objects.get()
    assert (task.args_kwargs["args"], task.run_after) == ([42], later)
