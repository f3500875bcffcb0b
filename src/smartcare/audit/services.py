"""Writing to the audit trail.

``record`` appends one event to the hash chain inside the caller's transaction, so an
audited write and its event commit or roll back together. Appends are serialised by locking
the ``AuditHead`` row (PostgreSQL) or by SQLite's single writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from smartcare.core import clock, context


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
) -> AuditEvent:
    """Append an audit event. ``patient`` may be a Patient or its id; ``obj`` a model instance
    or an ``(type, id)`` pair. The client address and channel come from the request context."""
    ctx = context.current()
    object_type, object_id = _object_ref(obj)
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    patient_id = getattr(patient, "pk", patient)
    with transaction.atomic():
        head, _created = AuditHead.objects.select_for_update().get_or_create(
            id=1, defaults={"last_sequence": 0, "last_hash": GENESIS_HASH}
        )
        event = AuditEvent(
            sequence=head.last_sequence + 1,
            occurred_at=clock.now(),
            actor=actor if authenticated else None,
            actor_username=(actor.get_username() if authenticated else actor_username)[:150],
            actor_role=getattr(actor, "role", "") if authenticated else "",
            patient_id=patient_id,
            action=str(action),
            object_type=object_type,
            object_id=object_id,
            reason=reason,
            client_address=ctx.client_address,
            channel=ctx.channel,
            request_id=ctx.request_id,
            detail=detail or {},
            prev_hash=head.last_hash,
        )
        event.hash = event.compute_hash()
        event.save(force_insert=True)
        AuditHead.objects.filter(id=1).update(last_sequence=event.sequence, last_hash=event.hash)
    return event


@dataclass
class VerificationResult:
    ok: bool
    checked: int
    first_bad_sequence: int | None = None
    problem: str = ""

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
    return VerificationResult(True, checked)
