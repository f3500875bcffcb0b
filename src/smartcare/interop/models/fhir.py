"""FHIR interop data: the lossless resource store, where imported resources came from, and the
clinical records smartcare had no table for (immunizations, diagnostic reports).

* ``FhirResource`` keeps a FHIR resource as JSON (encrypted: it is patient data) when smartcare has
  no table for its type (Claim, ExplanationOfBenefit, DocumentReference, Provenance...) or when its
  own tables cannot hold this instance (a condition coded only in SNOMED CT, another hospital's
  practitioner). Search runs on a few columns extracted at write time.
* ``SourceRecord`` and ``SourceKey`` remember each imported resource (by fullUrl, source id and
  identifiers, stored as keyed hashes) and what smartcare made of it, so importing the same data
  again updates instead of duplicating, and ``identifier`` search finds imported records.
* ``ImportRun`` is one run of ``smartcare import-fhir`` (or one Bundle posted by an importer): the
  counts per type and the report of each rejected resource.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.fields import EncryptedJSONField, EncryptedTextField


class FhirResource(models.Model):
    """The current version of a resource kept as FHIR JSON. Older versions are in
    ``FhirResourceVersion``; ``version`` counts from 1."""

    resource_type = models.CharField(_("resource type"), max_length=64)
    fhir_id = models.CharField(_("id"), max_length=64)
    version = models.PositiveIntegerField(_("version"), default=1)
    content = EncryptedJSONField(_("resource"))
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("patient"),
    )
    # Search columns, extracted from the content when it is written.
    codes = models.TextField(_("codes"), blank=True, help_text=_("space-separated system|code tokens"))
    date = models.DateTimeField(_("date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=40, blank=True)
    reason = models.CharField(_("why kept as FHIR"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    last_updated = models.DateTimeField(_("last updated"), default=clock.now)

    class Meta:
        verbose_name = _("stored FHIR resource")
        verbose_name_plural = _("stored FHIR resources")
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "fhir_id"], name="interop_one_stored_resource_per_id"
            )
        ]
        indexes = [
            models.Index(fields=["resource_type", "patient"]),
            models.Index(fields=["resource_type", "date"]),
            models.Index(fields=["resource_type", "last_updated"]),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.fhir_id}/_history/{self.version}"


class FhirResourceVersion(models.Model):
    """A replaced version of a stored resource (for ``vread``)."""

    resource = models.ForeignKey(FhirResource, on_delete=models.CASCADE, related_name="history")
    version = models.PositiveIntegerField(_("version"))
    content = EncryptedJSONField(_("resource"))
    last_updated = models.DateTimeField(_("last updated"))

    class Meta:
        verbose_name = _("stored FHIR resource version")
        verbose_name_plural = _("stored FHIR resource versions")
        constraints = [
            models.UniqueConstraint(fields=["resource", "version"], name="interop_one_stored_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} v{self.version}"


class SourceRecord(models.Model):
    """One resource received from elsewhere and the row smartcare keeps it in.

    ``key`` is the resource's identity in its source: SHA-256 of its fullUrl (``urn:uuid:...``)
    or of ``source|Type/id`` (bulk files), unique per type, so a resource received again is found.
    Not keyed with the field key: these names are not secret, and a field key rotation must not
    make earlier imports unrecognisable. ``payload`` (encrypted) is the resource as received
    (references rewritten to smartcare ids) for rows of smartcare's own tables, so that what those
    tables cannot hold is still returned by the API.
    """

    resource_type = models.CharField(_("resource type"), max_length=64)
    key = models.CharField(_("source identity"), max_length=64, blank=True)
    target_model = models.CharField(_("kept in"), max_length=60)
    target_pk = models.BigIntegerField(_("row"))
    fhir_id = models.CharField(_("id in smartcare"), max_length=64)
    content_hash = models.CharField(_("content hash"), max_length=64)
    payload = EncryptedJSONField(_("resource as received"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    updated_at = models.DateTimeField(_("updated at"), default=clock.now)

    class Meta:
        verbose_name = _("FHIR source record")
        verbose_name_plural = _("FHIR source records")
        constraints = [
            models.UniqueConstraint(fields=["target_model", "target_pk"], name="interop_one_source_per_row"),
            models.UniqueConstraint(
                fields=["resource_type", "key"], condition=~Q(key=""), name="interop_one_source_per_identity"
            ),
        ]
        indexes = [models.Index(fields=["resource_type", "fhir_id"])]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.fhir_id} -> {self.target_model}:{self.target_pk}"

    def received(self) -> dict[str, Any] | None:
        """The resource as received: the payload, or the stored resource itself."""
        resource = (self.payload or {}).get("resource")
        if isinstance(resource, dict):
            return resource
        if self.target_model == "interop.FhirResource":
            row = FhirResource.objects.filter(pk=self.target_pk).first()
            return dict(row.content or {}) if row is not None else None
        return None

    def reencrypt(self, names: list[str]) -> None:
        """Key rotation: the payload under the current key, and the identifier hashes (keyed with
        the field key) recomputed from the identifiers of the resource as received."""
        from smartcare.interop.fhir.datatypes import identifiers
        from smartcare.interop.fhir.keys import identifier_key, key_hash

        type(self).objects.filter(pk=self.pk).update(payload=self.payload)
        received = self.received() or {}
        self.keys.all().delete()
        SourceKey.objects.bulk_create(
            [
                SourceKey(
                    record=self, resource_type=self.resource_type, key=key_hash(identifier_key(system, value))
                )
                for system, value in dict.fromkeys(identifiers(received))
            ]
        )


class SourceKey(models.Model):
    """A keyed hash (HMAC under the field key, like the patients' blind indexes) of one identifier
    ``system|value`` of a received resource: identifiers may be social security or passport
    numbers. Not unique: systems reuse identifiers (Synthea gives every claim of a patient the same
    group number), so they serve identifier search, and matching only for patients and the
    directory."""

    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="keys")
    resource_type = models.CharField(_("resource type"), max_length=64)
    key = models.CharField(_("identifier hash"), max_length=64)

    class Meta:
        verbose_name = _("FHIR source identifier")
        verbose_name_plural = _("FHIR source identifiers")
        indexes = [models.Index(fields=["resource_type", "key"])]

    def __str__(self) -> str:
        return f"{self.resource_type}:{self.key[:12]}"


class ImportRun(models.Model):
    """One import: of files (``smartcare import-fhir``) or of a Bundle posted by an importer."""

    started_at = models.DateTimeField(_("started at"), default=clock.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("imported by"),
    )
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    source = models.CharField(_("source"), max_length=100, blank=True)
    files = models.JSONField(_("files"), default=list, blank=True)
    counts = models.JSONField(_("counts per type"), default=dict, blank=True)
    rejected = models.JSONField(_("rejected resources"), default=list, blank=True)

    class Meta:
        verbose_name = _("FHIR import")
        verbose_name_plural = _("FHIR imports")
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"import {self.pk} {self.started_at:%Y-%m-%d %H:%M}"

    def total(self, outcome: str) -> int:
        return sum(int(c.get(outcome, 0)) for c in (self.counts or {}).values())


class ImmunizationStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    ENTERED_IN_ERROR = "entered-in-error", _("Entered in error")
    NOT_DONE = "not-done", _("Not done")


class Immunization(models.Model):
    """A vaccination given (or not given) to a patient. The EMR had no table for it; FHIR
    Immunization maps here one to one."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="immunizations", verbose_name=_("patient")
    )
    encounter = models.ForeignKey(
        "emr.Encounter",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="immunizations",
        verbose_name=_("encounter"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ImmunizationStatus.choices, default=ImmunizationStatus.COMPLETED
    )
    vaccine_system = models.CharField(_("vaccine code system"), max_length=200, blank=True)
    vaccine_code = models.CharField(_("vaccine code"), max_length=64, blank=True)
    vaccine_name = models.CharField(_("vaccine"), max_length=200)
    occurred_at = models.DateTimeField(_("given at"))
    primary_source = models.BooleanField(_("recorded by who gave it"), default=True)
    lot_number = models.CharField(_("lot number"), max_length=64, blank=True)
    dose_value = models.DecimalField(_("dose"), max_digits=10, decimal_places=3, null=True, blank=True)
    dose_unit = models.CharField(_("dose unit"), max_length=20, blank=True)
    site = models.CharField(_("site"), max_length=100, blank=True)
    route = models.CharField(_("route"), max_length=100, blank=True)
    performer = models.CharField(_("given by"), max_length=200, blank=True)
    status_reason = models.CharField(_("reason not given"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    updated_at = models.DateTimeField(_("updated at"), default=clock.now)

    class Meta:
        verbose_name = _("immunization")
        verbose_name_plural = _("immunizations")
        ordering = ["-occurred_at", "-pk"]
        indexes = [models.Index(fields=["patient", "occurred_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(dose_value__isnull=True) | Q(dose_value__gt=0), name="interop_dose_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.vaccine_name} {self.occurred_at:%Y-%m-%d}"


class ReportStatus(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    PARTIAL = "partial", _("Partial")
    PRELIMINARY = "preliminary", _("Preliminary")
    FINAL = "final", _("Final")
    AMENDED = "amended", _("Amended")
    CORRECTED = "corrected", _("Corrected")
    APPENDED = "appended", _("Appended")
    CANCELLED = "cancelled", _("Cancelled")
    ENTERED_IN_ERROR = "entered-in-error", _("Entered in error")


class DiagnosticReport(models.Model):
    """A lab, imaging or clinical report: its results (EMR observations) and its text."""

    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        related_name="diagnostic_reports",
        verbose_name=_("patient"),
    )
    encounter = models.ForeignKey(
        "emr.Encounter",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="diagnostic_reports",
        verbose_name=_("encounter"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ReportStatus.choices, default=ReportStatus.FINAL
    )
    category_system = models.CharField(_("category system"), max_length=200, blank=True)
    category_code = models.CharField(_("category"), max_length=64, blank=True)
    code_system = models.CharField(_("code system"), max_length=200, blank=True)
    code = models.CharField(_("code"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=200)
    effective_at = models.DateTimeField(_("taken at"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    performer = models.CharField(_("performed by"), max_length=200, blank=True)
    conclusion = EncryptedTextField(_("conclusion"), blank=True)
    # [{"contentType": ..., "data": base64, "title": ...}]: the report's text or document, encrypted.
    presented_form = EncryptedJSONField(_("report document"), null=True, blank=True)
    results = models.ManyToManyField(
        "emr.Observation", blank=True, related_name="diagnostic_reports", verbose_name=_("results")
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    updated_at = models.DateTimeField(_("updated at"), default=clock.now)

    class Meta:
        verbose_name = _("diagnostic report")
        verbose_name_plural = _("diagnostic reports")
        ordering = ["-effective_at", "-pk"]
        indexes = [models.Index(fields=["patient", "effective_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    def result_ids(self) -> list[Any]:
        return list(self.results.values_list("pk", flat=True))


__all__ = [
    "DiagnosticReport",
    "FhirResource",
    "FhirResourceVersion",
    "Immunization",
    "ImmunizationStatus",
    "ImportRun",
    "ReportStatus",
    "SourceKey",
    "SourceRecord",
]
