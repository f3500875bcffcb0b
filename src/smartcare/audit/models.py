from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from smartcare.audit.choices import AuditAction

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One audited action. Rows are chained: ``hash = SHA-256(prev_hash || canonical fields)``.

    ``sequence`` has no gaps, so a deleted row shows as a gap or a broken link, and the
    ``AuditHead`` row records the last sequence and hash, so a deleted tail shows too.
    Identifiers are copied (not only linked) so the event survives the deletion of the user or
    patient it names.

    An event written with ``record(..., chain_after_commit=True)`` is inserted with its audited
    write, without ``sequence`` and hashes ("pending"), and linked into the chain right after
    the commit (see ``audit.services``).
    """

    sequence = models.BigIntegerField(_("sequence"), unique=True, null=True, blank=True)
    occurred_at = models.DateTimeField(_("time"), db_index=True)
    # No database constraint and no SET_NULL: the actor id is part of the hashed content, so
    # deleting a user must not rewrite their events (that would read as tampering).
    actor = models.ForeignKey(
        "accounts.User",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    actor_username = models.CharField(_("username"), max_length=150, blank=True, db_index=True)
    actor_role = models.CharField(_("role"), max_length=32, blank=True)
    patient_id = models.BigIntegerField(_("patient"), null=True, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=20, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=100, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    client_address = models.CharField(_("client address"), max_length=64, blank=True)
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64, blank=True)
    hash = models.CharField(_("hash"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-sequence"]
        indexes = [
            models.Index(fields=["patient_id", "occurred_at"]),
            models.Index(fields=["actor", "occurred_at"]),
            # The events still to be linked into the chain (few, and only for moments).
            models.Index(
                fields=["id"], condition=models.Q(sequence__isnull=True), name="audit_event_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"

    def canonical(self) -> bytes:
        payload: dict[str, Any] = {
            "sequence": self.sequence,
            "occurred_at": self.occurred_at.isoformat(),
            "actor": self.actor_id,
            "actor_username": self.actor_username,
            "actor_role": self.actor_role,
            "patient_id": self.patient_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "reason": self.reason,
            "client_address": self.client_address,
            "channel": self.channel,
            "request_id": self.request_id,
            "detail": self.detail,
        }
        return json.dumps(
            payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
        ).encode()

    def compute_hash(self) -> str:
        return hashlib.sha256(self.prev_hash.encode() + self.canonical()).hexdigest()


class AuditHead(models.Model):
    """Singleton: the end of the chain. Locked while an event is appended."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = _("audit chain head")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_singleton")]

    def __str__(self) -> str:
        return f"head #{self.last_sequence}"
