"""Writing to the audit trail.

``record`` writes one event inside the caller's transaction, so an audited write and its event
commit or roll back together, and links it into the hash chain. Links are made under a lock on
the ``AuditHead`` row (PostgreSQL) or SQLite's single writer, in one of two ways:

* by default, at once: the head stays locked until the caller's transaction ends, so every
  audited write of the hospital takes its turn there for the rest of its transaction;
* with ``chain_after_commit=True`` (bookings: many at once, each holding a slot's row), the event
  is inserted "pending" (no sequence, no hashes yet) and linked right after the caller's commit,
  in a short transaction of its own that links every pending event in one go. Bookings then
  never wait for each other at the head, and one commit (one disk flush) links many of them.

A pending event is never lost: it is a row of the committed transaction. If the process stops
between the commit and the link, the next append (of either kind), the periodic
``audit.chain_pending`` job or ``smartcare audit verify`` links it. Until it is linked it is not
yet protected by the chain, so the window is kept to the moments after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from smartcare.core import clock, context

logger = logging.getLogger("smartcare.audit")

# Pending events linked per transaction (one head lock and one commit for all of them).
CHAIN_BATCH = 500


def _object_ref(obj: Any) -> tuple[str, str]:
    if obj is None:
        return "", ""
    if isinstance(obj, tuple):
        return str(obj[0]), str(obj[1])
    meta = getattr(obj, "_meta", None)
    if meta is not None:
        return meta.label, str(obj.pk)
    return type(obj).__name__, str(obj)


def record(
    actor: Any,
    action: str | AuditAction,
    *,
    patient: Any = None,
    obj: Any = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    actor_username: str = "",
    chain_after_commit: bool = False,
) -> AuditEvent:
    """Append an audit event. ``patient`` may be a Patient or its id; ``obj`` a model instance
    or an ``(type, id)`` pair. The client address and channel come from the request context.

    ``chain_after_commit``: inside a transaction, insert the event now and link it into the
    chain after the commit (see the module's docstring); the returned event has no sequence
    yet. Outside a transaction it makes no difference."""
    ctx = context.current()
    object_type, object_id = _object_ref(obj)
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        occurred_at=clock.now(),
        actor=actor if authenticated else None,
        actor_username=(actor.get_username() if authenticated else actor_username)[:150],
        actor_role=getattr(actor, "role", "") if authenticated else "",
        patient_id=getattr(patient, "pk", patient),
        action=str(action),
        object_type=object_type,
        object_id=object_id,
        reason=reason,
        client_address=ctx.client_address,
        channel=ctx.channel,
        request_id=ctx.request_id,
        detail=detail or {},
    )
    if chain_after_commit and transaction.get_connection().in_atomic_block:
        event.save(force_insert=True)
        _link_after_commit()
        return event
    with transaction.atomic():
        head = _locked_head()
        # Committed events still waiting for their link go first (a link after some commit
        # failed, or is queued behind this one): the chain stays in one order.
        pending = _pending()
        _link(head, [*pending, event])
        if pending:
            AuditEvent.objects.bulk_update(pending, ["sequence", "prev_hash", "hash"])
        event.save(force_insert=True)
        _save_head(head)
    return event


def chain_pending() -> int:
    """Link every committed pending event into the chain, in the order they were written.
    Returns how many were linked. Safe to run anywhere and any time (it is what every append
    does first)."""
    linked = 0
    for _ in range(10_000):  # bounded; each round links up to CHAIN_BATCH events
        with transaction.atomic():
            head = _locked_head()
            pending = _pending()
            if not pending:
                # Nothing written: roll back instead of committing, so no disk flush is waited
                # for (the requests queued behind a batch mostly find their event linked).
                transaction.set_rollback(True)
                return linked
            _link(head, pending)
            AuditEvent.objects.bulk_update(pending, ["sequence", "prev_hash", "hash"])
            _save_head(head)
        linked += len(pending)
        if len(pending) < CHAIN_BATCH:
            break
    return linked


def _chain_after_commit() -> None:
    try:
        chain_pending()
    except Exception:
        # The audited write has committed and its event is stored: the next append, the periodic
        # job or `smartcare audit verify` links it.
        logger.exception("audit events left pending; the next append links them")


def _link_after_commit() -> None:
    """Link the pending events after the commit. One callback per event: with several events in
    a transaction the first links them all and the others find nothing (and roll back)."""
    transaction.on_commit(_chain_after_commit)


def _locked_head() -> AuditHead:
    head, _created = AuditHead.objects.select_for_update().get_or_create(
        id=1, defaults={"last_sequence": 0, "last_hash": GENESIS_HASH}
    )
    return head


def _pending() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__isnull=True).order_by("pk")[:CHAIN_BATCH])


def _link(head: AuditHead, events: list[AuditEvent]) -> None:
    for event in events:
        event.sequence = head.last_sequence + 1
        event.prev_hash = head.last_hash
        event.hash = event.compute_hash()
        head.last_sequence, head.last_hash = event.sequence, event.hash


def _save_head(head: AuditHead) -> None:
    AuditHead.objects.filter(id=1).update(last_sequence=head.last_sequence, last_hash=head.last_hash)


@dataclass
class VerificationResult:
    ok: bool
    checked: int
    first_bad_sequence: int | None = None
    problem: str = ""
    # Committed events not linked yet (normally none, or a few for a moment): see chain_pending.
    pending: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_sequence": self.first_bad_sequence,
            "problem": self.problem,
        }


def verify_chain(batch_size: int = 5000) -> VerificationResult:
    """Walk the chain in order and report the first changed, inserted or deleted event."""
    expected_prev = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    last_seen = 0
    while True:
        batch = list(
            AuditEvent.objects.filter(sequence__gte=expected_sequence).order_by("sequence")[:batch_size]
        )
        if not batch:
            break
        for event in batch:
            if event.sequence != expected_sequence:
                return VerificationResult(
                    False,
                    checked,
                    expected_sequence,
                    f"event {expected_sequence} is missing (next present is {event.sequence}): deleted",
                )
            if event.prev_hash != expected_prev:
                return VerificationResult(
                    False,
                    checked,
                    event.sequence,
                    f"event {event.sequence} does not link to event {event.sequence - 1}: inserted or replaced",
                )
            if event.compute_hash() != event.hash:
                return VerificationResult(
                    False, checked, event.sequence, f"event {event.sequence} was changed after it was written"
                )
            expected_prev = event.hash
            expected_sequence += 1
            last_seen = event.sequence
            checked += 1
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.last_sequence != last_seen or head.last_hash != expected_prev):
        if head.last_sequence > last_seen:
            return VerificationResult(
                False,
                checked,
                last_seen + 1,
                f"events {last_seen + 1} to {head.last_sequence} are missing: deleted from the end",
            )
        if head.last_sequence < last_seen:
            return VerificationResult(
                False,
                checked,
                head.last_sequence + 1,
                f"events after {head.last_sequence} are not covered by the chain head: inserted",
            )
        # Same length, other hash: the last event was rewritten (with its own hash recomputed,
        # which no later link can reveal) or the head itself was changed.
        return VerificationResult(
            False,
            checked,
            last_seen or 1,
            f"event {last_seen} does not match the chain head: changed or replaced",
        )
    if head is None and checked:
        return VerificationResult(False, checked, 1, "the chain head is missing")
    return VerificationResult(True, checked, pending=AuditEvent.objects.filter(sequence__isnull=True).count())
