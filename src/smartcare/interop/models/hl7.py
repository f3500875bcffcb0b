"""HL7 v2 interface data: the hospital systems allowed to send messages, the identifiers those
systems know patients by, and the log of every message received with the answer it got.

* ``ConnectedSystem``: one sending system (HIS, LIS, RIS/PACS, a modality) registered by the IT
  administrator. Its machine identity (an external-channel user) is the actor of every write the
  system causes, so the audit trail names the system. MLLP has no sign-in: a message is matched
  to its system by MSH-3/MSH-4 (and, when configured, by the sender's network address).
* ``ExternalIdentifier``: a patient's identifier in another system (``assigning authority`` +
  value, e.g. the HIS patient number), encrypted, found by its keyed hash.
* ``Hl7Message``: every message received (encrypted raw text for accepted senders), its ACK code
  and, for refusals, the coded reason. Accepted control ids are unique per system, so a message
  sent twice is acknowledged twice but written once.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock, crypto
from smartcare.core.fields import EncryptedTextField


class SystemKind(models.TextChoices):
    HIS = "his", _("Hospital information system (HIS)")
    LIS = "lis", _("Laboratory information system (LIS)")
    RIS = "ris", _("Radiology information system / PACS")
    MODALITY = "modality", _("Imaging modality")
    OTHER = "other", _("Other system")


class ConnectedSystem(models.Model):
    """A hospital system that sends HL7 v2 messages or DICOM images to smartcare."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=SystemKind.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="connected_system",
        verbose_name=_("machine identity"),
        help_text=_("An external-channel user; its API tokens authenticate HTTP posts."),
    )
    sending_application = models.CharField(
        _("sending application (MSH-3)"), max_length=180, help_text=_("Namespace id, e.g. GHH LAB")
    )
    sending_facility = models.CharField(
        _("sending facility (MSH-4)"), max_length=180, blank=True, help_text=_("Empty: any facility")
    )
    assigning_authority = models.CharField(
        _("assigning authority"),
        max_length=60,
        blank=True,
        help_text=_("Namespace of this system's own patient numbers (PID-3 without an authority)"),
    )
    allowed_networks = models.CharField(
        _("allowed networks"),
        max_length=500,
        blank=True,
        help_text=_("Comma-separated addresses or networks (10.1.2.0/24) that may send MLLP; empty: any"),
    )
    language = models.CharField(
        _("language of acknowledgements"), max_length=10, default="en", help_text=_("en or zh-hans")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("connected system")
        verbose_name_plural = _("connected systems")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility"], name="interop_one_system_per_sender"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sending_application})"

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        found = []
        for item in (self.allowed_networks or "").split(","):
            item = item.strip()
            if item:
                try:
                    found.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    continue
        return found

    def allows_address(self, address: str) -> bool:
        networks = self.networks()
        if not networks or not address:
            return not networks
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)


class ExternalIdentifier(models.Model):
    """A patient's identifier in another system, e.g. the HIS patient number. Encrypted; looked up
    by a keyed hash of ``authority|value``."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="external_identifiers"
    )
    authority = models.CharField(_("assigning authority"), max_length=60)
    value = EncryptedTextField(_("identifier"))
    value_hash = models.CharField(max_length=64, editable=False)
    id_type = models.CharField(_("identifier type"), max_length=10, blank=True)
    system = models.ForeignKey(
        ConnectedSystem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("external patient identifier")
        verbose_name_plural = _("external patient identifiers")
        constraints = [
            models.UniqueConstraint(
                fields=["authority", "value_hash"], name="interop_one_patient_per_identifier"
            )
        ]

    def __str__(self) -> str:
        return f"{self.authority}:****"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.authority = self.authority.strip().upper()
        self.value_hash = crypto.blind_index(self.key(self.authority, self.value))
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = set(kwargs["update_fields"]) | {"value_hash"}
        super().save(*args, **kwargs)

    @staticmethod
    def key(authority: str, value: str) -> str:
        return f"{authority.strip().upper()}|{value.strip()}"

    @classmethod
    def lookup(cls, authority: str, value: str) -> models.QuerySet[ExternalIdentifier]:
        return cls.objects.filter(
            authority=authority.strip().upper(),
            value_hash__in=crypto.blind_indexes(cls.key(authority, value)),
        )


class Transport(models.TextChoices):
    MLLP = "mllp", _("MLLP over TCP")
    HTTP = "http", _("HTTP")
    INTERNAL = "internal", _("Internal (demo, tests)")


class MessageStatus(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate (already accepted)")
    ERROR = "error", _("Application error (AE)")
    REJECTED = "rejected", _("Rejected (AR)")


class Hl7Message(models.Model):
    """One HL7 v2 message received, and how it was answered."""

    system = models.ForeignKey(
        ConnectedSystem, on_delete=models.PROTECT, null=True, blank=True, related_name="messages"
    )
    control_id = models.CharField(_("control id (MSH-10)"), max_length=199, blank=True)
    message_type = models.CharField(_("message type"), max_length=10, blank=True)
    trigger = models.CharField(_("trigger event"), max_length=10, blank=True)
    version = models.CharField(_("version"), max_length=10, blank=True)
    batch_id = models.CharField(_("batch control id (BHS-11)"), max_length=199, blank=True)
    transport = models.CharField(_("transport"), max_length=10, choices=Transport.choices)
    remote_address = models.CharField(_("sender address"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("received at"), default=clock.now, db_index=True)
    status = models.CharField(_("status"), max_length=10, choices=MessageStatus.choices)
    ack_code = models.CharField(_("ACK code"), max_length=2)
    error_code = models.CharField(_("error code"), max_length=20, blank=True)
    hl7_error_code = models.CharField(_("HL7 error code (table 0357)"), max_length=5, blank=True)
    error_detail = models.CharField(_("error"), max_length=500, blank=True)
    error_location = models.CharField(_("error location"), max_length=40, blank=True)
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    summary = models.JSONField(_("what was written"), default=dict, blank=True)
    raw = EncryptedTextField(_("message"), blank=True)

    class Meta:
        verbose_name = _("HL7 message")
        verbose_name_plural = _("HL7 messages")
        ordering = ["-received_at", "-pk"]
        indexes = [
            models.Index(fields=["system", "control_id"]),
            models.Index(fields=["status", "received_at"]),
        ]
        constraints = [
            # A message sent again (a lost ACK) is acknowledged but never written twice.
            models.UniqueConstraint(
                fields=["system", "control_id"],
                condition=Q(status="accepted"),
                name="interop_hl7_accepted_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_type}^{self.trigger} {self.control_id} {self.ack_code}"


__all__ = [
    "ConnectedSystem",
    "ExternalIdentifier",
    "Hl7Message",
    "MessageStatus",
    "SystemKind",
    "Transport",
]
