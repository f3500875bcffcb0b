from __future__ import annotations

import secrets
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock, crypto
from smartcare.core.fields import EncryptedTextField
from smartcare.core.models import TimeStampedModel
from smartcare.organization.choices import Sex
from smartcare.patients.choices import ConsentKind, InsuranceType


def new_one_code() -> str:
    """128 random bits, URL-safe: the patient's one code for every desk (not guessable)."""
    return "P" + secrets.token_urlsafe(16)


class PatientQuerySet(models.QuerySet["Patient"]):
    def visible_to(self, user: Any) -> PatientQuerySet:
        """The patients ``user`` may open, as a query (see ``smartcare.patients.access``)."""
        from smartcare.patients.access import visibility_filter

        condition = visibility_filter(user)
        if condition is None:
            return self.none()
        return self.filter(condition) if condition != Q() else self.all()

    def by_national_id(self, national_id: str) -> PatientQuerySet:
        return self.filter(national_id_hash__in=crypto.blind_indexes(national_id))

    def by_phone(self, phone: str) -> PatientQuerySet:
        return self.filter(phone_hash__in=crypto.blind_indexes(phone))


class Patient(TimeStampedModel):
    medical_record_number = models.CharField(_("medical record number"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100, db_index=True)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    national_id = EncryptedTextField(_("resident ID"))
    national_id_hash = models.CharField(max_length=64, unique=True, editable=False)
    phone = EncryptedTextField(_("phone"), blank=True)
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    address = models.CharField(_("address"), max_length=300, blank=True)
    emergency_contact_name = models.CharField(_("emergency contact"), max_length=100, blank=True)
    emergency_contact_phone = EncryptedTextField(_("emergency contact phone"), blank=True)
    insurance_type = models.CharField(
        _("insurance type"), max_length=20, choices=InsuranceType.choices, default=InsuranceType.SELF_PAY
    )
    insurance_number = EncryptedTextField(_("insurance number"), blank=True)
    one_code = models.CharField(
        _("one code"), max_length=40, unique=True, default=new_one_code, editable=False
    )
    user = models.OneToOneField(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient_record",
        verbose_name=_("portal account"),
    )
    is_deceased = models.BooleanField(_("deceased"), default=False)

    objects = PatientQuerySet.as_manager()

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        indexes = [models.Index(fields=["birth_date"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.medical_record_number})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The keyed hashes follow the plaintext, so lookups by ID or phone stay exact.
        self.national_id_hash = crypto.blind_index(self.national_id) if self.national_id else ""
        self.phone_hash = crypto.blind_index(self.phone) if self.phone else ""
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = set(kwargs["update_fields"]) | {"national_id_hash", "phone_hash"}
        super().save(*args, **kwargs)

    @property
    def age(self) -> int:
        today = clock.today()
        born = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def masked_national_id(self) -> str:
        value = self.national_id or ""
        return value[:4] + "*" * 10 + value[-4:] if len(value) == 18 else "****"

    @property
    def masked_phone(self) -> str:
        value = self.phone or ""
        return value[:3] + "****" + value[-4:] if len(value) >= 7 else ""


class Consent(TimeStampedModel):
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="consents", verbose_name=_("patient")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ConsentKind.choices)
    granted = models.BooleanField(_("granted"))
    recorded_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.granted}"


class FamilyLink(TimeStampedModel):
    """A portal user who may act for another patient (a parent for a child, a child for a parent)."""

    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.CASCADE,
        related_name="family_links",
        verbose_name=_("family member"),
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="family_links", verbose_name=_("patient")
    )
    relationship = models.CharField(_("relationship"), max_length=40)
    verified_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("verified by")
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("family link")
        verbose_name_plural = _("family links")
        constraints = [models.UniqueConstraint(fields=["user", "patient"], name="one_family_link")]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.patient_id}"


class ChannelBinding(TimeStampedModel):
    """An external channel (app, mini-program) acting for a patient who signed in through it."""

    channel_user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="channel_bindings", verbose_name=_("channel")
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="channel_bindings", verbose_name=_("patient")
    )
    external_id = models.CharField(_("channel's user id"), max_length=100, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("channel binding")
        verbose_name_plural = _("channel bindings")
        constraints = [
            models.UniqueConstraint(fields=["channel_user", "patient"], name="one_channel_binding")
        ]

    def __str__(self) -> str:
        return f"{self.channel_user_id} -> {self.patient_id}"
