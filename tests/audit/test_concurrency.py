"""Many writers appending to the audit trail at once (PostgreSQL: real concurrent transactions)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent, AuditHead
from smartcare.audit.services import record, verify_chain

THREADS = 8
EVENTS_EACH = 15

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_threads(work: Any, count: int) -> list[BaseException]:
    """Start ``count`` threads (each with its own database connection) together; return their errors."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def test_concurrent_appends_leave_an_intact_contiguous_chain() -> None:
    # No head row yet: the first appends also race to create it.
    assert not AuditHead.objects.exists()

    def append(index: int) -> None:
        for n in range(EVENTS_EACH):
            record(None, AuditAction.SYSTEM, actor_username=f"writer-{index}", detail={"n": n})

    errors = run_in_threads(append, THREADS)
    assert errors == []
    total = THREADS * EVENTS_EACH
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, total + 1)
    )
    for index in range(THREADS):
        assert AuditEvent.objects.filter(actor_username=f"writer-{index}").count() == EVENTS_EACH
    head = AuditHead.objects.get()
    assert head.last_sequence == total
    result = verify_chain()
    assert result.ok, result.problem
    assert result.checked == total


def test_concurrent_appends_inside_longer_transactions() -> None:
    """Appends inside callers' transactions (some of which roll back) keep the chain whole."""
    from django.db import transaction

    class Abandon(Exception):
        pass

    def append(index: int) -> None:
        for n in range(5):
            try:
                with transaction.atomic():
                    record(None, AuditAction.UPDATE, actor_username=f"tx-{index}", detail={"n": n})
                    if (index + n) % 3 == 0:
                        raise Abandon
            except Abandon:
                pass

    errors = run_in_threads(append, THREADS)
    assert errors == []
    committed = sum(1 for i in range(THREADS) for n in range(5) if (i + n) % 3)
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, committed + 1)
    )
    assert verify_chain().ok


def test_concurrent_transactions_linking_after_commit_leave_an_intact_chain() -> None:
    """As bookings do: each transaction writes its event pending and links after its commit, some
    roll back, some plain appends run beside them; every committed event ends up linked once."""
    from django.db import transaction

    class Abandon(Exception):
        pass

    def append(index: int) -> None:
        for n in range(EVENTS_EACH):
            try:
                with transaction.atomic():
                    record(None, AuditAction.CREATE, actor_username=f"b-{index}", chain_after_commit=True)
                    if (index + n) % 5 == 0:
                        raise Abandon
            except Abandon:
                pass
            if n % 4 == 0:
                record(None, AuditAction.SYSTEM, actor_username=f"s-{index}")

    errors = run_in_threads(append, THREADS)
    assert errors == []
    committed = sum(1 for i in range(THREADS) for n in range(EVENTS_EACH) if (i + n) % 5)
    plain = THREADS * len(range(0, EVENTS_EACH, 4))
    assert not AuditEvent.objects.filter(sequence__isnull=True).exists()
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, committed + plain + 1)
    )
    result = verify_chain()
    assert result.ok, result.problem
    assert result.checked == committed + plain
