from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.accounts.choices import (
    CLINICAL_ROLES,
    MACHINE_ROLES,
    STAFF_ROLES,
    BreakGlassStatus,
    CareRelationshipKind,
    Role,
)
from smartcare.core import clock
from smartcare.core.models import TimeStampedModel


class User(AbstractUser):
    role = models.CharField(
        _("role"), max_length=32, choices=Role.choices, default=Role.PATIENT, db_index=True
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    preferred_language = models.CharField(_("preferred language"), max_length=10, blank=True)
    elderly_mode = models.BooleanField(_("elderly mode"), default=False)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def is_clinician(self) -> bool:
        return self.role in CLINICAL_ROLES

    @property
    def is_staff_member(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_machine(self) -> bool:
        return self.role in MACHINE_ROLES


class ApiToken(TimeStampedModel):
    """A bearer token for an integration. Only a SHA-256 of the secret is stored.

    The token shown once to the operator is ``sc_<prefix>_<secret>``; the prefix finds the row,
    the hash of the whole token proves it.
    """

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    token_hash = models.CharField(_("token hash"), max_length=64)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def new_secret(cls) -> tuple[str, str]:
        prefix = secrets.token_hex(6)
        return prefix, f"sc_{prefix}_{secrets.token_urlsafe(32)}"

    @property
    def is_usable(self) -> bool:
        now = clock.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class CareRelationshipQuerySet(models.QuerySet["CareRelationship"]):
    def active(self) -> CareRelationshipQuerySet:
        now = clock.now()
        return self.filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=now), valid_from__lte=now, ended_at=None
        )


class CareRelationship(TimeStampedModel):
    """Why a department's clinicians may see a patient.

    Registered by the module that creates the reason (booking, encounter, consultation,
    follow-up) through ``smartcare.accounts.services.register_care_relationship``.
    ``practitioner_user`` narrows it to one person (a consulting expert); empty means the whole
    department's care team.
    """

    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.CASCADE,
        related_name="care_relationships",
        verbose_name=_("patient"),
    )
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        related_name="care_relationships",
        verbose_name=_("department"),
    )
    practitioner_user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="care_relationships",
        verbose_name=_("named clinician"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=CareRelationshipKind.choices)
    source = models.CharField(
        _("source"), max_length=100, blank=True, help_text=_("app.model:id that created it")
    )
    valid_from = models.DateTimeField(_("valid from"), default=clock.now)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    objects = CareRelationshipQuerySet.as_manager()

    class Meta:
        verbose_name = _("care relationship")
        verbose_name_plural = _("care relationships")
        indexes = [
            models.Index(fields=["department", "patient"]),
            models.Index(fields=["practitioner_user", "patient"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "department", "kind", "source"], name="care_relationship_unique_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} - {self.department_id} ({self.kind})"


class BreakGlassQuerySet(models.QuerySet["BreakGlassGrant"]):
    def active(self) -> BreakGlassQuerySet:
        return self.filter(expires_at__gt=clock.now())


class BreakGlassGrant(TimeStampedModel):
    """Emergency access to one patient without a care relationship, with a written reason."""

    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="break_glass_grants", verbose_name=_("user")
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        related_name="break_glass_grants",
        verbose_name=_("patient"),
    )
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="break_glass_grants",
        verbose_name=_("department"),
    )
    reason = models.TextField(_("reason"))
    expires_at = models.DateTimeField(_("expires at"))
    status = models.CharField(
        _("review status"),
        max_length=20,
        choices=BreakGlassStatus.choices,
        default=BreakGlassStatus.PENDING_REVIEW,
    )
    reviewed_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("reviewed by")
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_comment = models.TextField(_("review comment"), blank=True)

    objects = BreakGlassQuerySet.as_manager()

    class Meta:
        verbose_name = _("break-the-glass access")
        verbose_name_plural = _("break-the-glass accesses")
        indexes = [models.Index(fields=["user", "patient", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.patient_id}"
