"""The PostgreSQL pass: the database itself enforces the foundation's invariants.

Deselected on SQLite; runs when DATABASE_URL points at PostgreSQL.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent, AuditHead
from smartcare.audit.services import record, verify_chain
from smartcare.patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.postgres


def in_other_connection(work: Any) -> BaseException | None:
    """Run ``work`` in a thread (its own connection); return what it raised."""
    raised: list[BaseException] = []

    def body() -> None:
        try:
            work()
        except BaseException as exc:  # handed back to the test
            raised.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    return raised[0] if raised else None


def test_this_pass_runs_on_postgresql(db: Any) -> None:
    assert connection.vendor == "postgresql"
    assert settings.DATABASES["default"]["NAME"].startswith("test_")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 130000


def test_audit_head_is_a_singleton(db: Any) -> None:
    record(None, AuditAction.SYSTEM, actor_username="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditHead.objects.create(id=2, last_sequence=0)


def test_audit_sequence_is_unique(db: Any) -> None:
    event = record(None, AuditAction.SYSTEM, actor_username="x")
    copy = AuditEvent(
        sequence=event.sequence,
        occurred_at=event.occurred_at,
        action=event.action,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save(force_insert=True)


def test_resident_id_is_unique_in_the_database(db: Any) -> None:
    patient = PatientFactory()
    twin = PatientFactory.build(national_id=patient.national_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()
    assert Patient.objects.by_national_id(patient.national_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_appending_holds_the_head_lock_until_commit() -> None:
    """While one transaction appends an event, no other can take the chain head."""
    record(None, AuditAction.SYSTEM, actor_username="first")

    def grab_head() -> None:
        with transaction.atomic():
            AuditHead.objects.select_for_update(nowait=True).get(id=1)

    with transaction.atomic():
        record(None, AuditAction.SYSTEM, actor_username="in progress")
        blocked = in_other_connection(grab_head)
    assert isinstance(blocked, DatabaseError), blocked
    assert in_other_connection(grab_head) is None  # free again after commit
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_uncommitted_event_is_invisible_to_other_connections() -> None:
    def count_events() -> None:
        assert AuditEvent.objects.count() == 0

    with transaction.atomic():
        record(None, AuditAction.SYSTEM, actor_username="not yet")
        assert in_other_connection(count_events) is None
    assert AuditEvent.objects.count() == 1


def test_detail_is_stored_as_json(db: Any) -> None:
    event = record(None, AuditAction.SYSTEM, actor_username="x", detail={"病人": "张三", "n": [1, 2]})
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT detail ->> 'n', pg_typeof(detail)::text FROM {AuditEvent._meta.db_table} WHERE id = %s",  # noqa: S608
            [event.pk],
        )
        n, kind = cursor.fetchone()
    assert (n, kind) == ("[1, 2]", "jsonb")
    event.refresh_from_db()
    assert event.detail == {"病人": "张三", "n": [1, 2]}
    assert verify_chain().ok
