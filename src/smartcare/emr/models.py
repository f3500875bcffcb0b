"""Electronic medical records: encounters, notes with their signed versions, diagnoses, orders,
allergies, vital signs, the problem list and results.

Invariants the database enforces: one encounter per appointment, one occupant per bed, one
primary diagnosis per encounter, one active problem per code, one version number per note, and
the numeric ranges of doses and measurements. Note text is health information: encrypted at rest.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.fields import EncryptedJSONField, EncryptedTextField
from smartcare.core.models import BilingualNameMixin, TimeStampedModel
from smartcare.emr.choices import (
    SECTION_KEYS,
    AllergySeverity,
    AllergyStatus,
    DiagnosisStatus,
    EncounterKind,
    EncounterStatus,
    MovementKind,
    NoteKind,
    NoteStatus,
    ObservationFlag,
    ObservationSource,
    OrderKind,
    OrderStatus,
    ProblemStatus,
    Route,
    VitalKind,
)


class Icd10Code(BilingualNameMixin):
    """One ICD-10 (WHO) code with its Chinese and English title, shipped in ``data/icd10.csv``."""

    code = models.CharField(_("code"), max_length=16, primary_key=True)
    chapter = models.CharField(_("chapter"), max_length=8, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("ICD-10 code")
        verbose_name_plural = _("ICD-10 codes")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Encounter(TimeStampedModel):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="encounters", verbose_name=_("patient")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=EncounterKind.choices)
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, related_name="+", verbose_name=_("department")
    )
    attending = models.ForeignKey(
        "organization.Practitioner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="encounters",
        verbose_name=_("attending practitioner"),
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="encounters",
        verbose_name=_("appointment"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=EncounterStatus.choices, default=EncounterStatus.PLANNED
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    admitted_at = models.DateTimeField(_("admitted at"), null=True, blank=True)
    discharged_at = models.DateTimeField(_("discharged at"), null=True, blank=True)
    bed = models.ForeignKey(
        "organization.Bed",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("bed"),
    )
    reason = models.CharField(_("reason for the encounter"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("encounter")
        verbose_name_plural = _("encounters")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status"]), models.Index(fields=["department", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment"],
                condition=Q(appointment__isnull=False) & ~Q(status=EncounterStatus.CANCELLED),
                name="emr_one_encounter_per_appointment",
            ),
            # One occupant per bed: the bed of an open stay is nobody else's.
            models.UniqueConstraint(
                fields=["bed"],
                condition=Q(bed__isnull=False, status=EncounterStatus.IN_PROGRESS),
                name="emr_one_patient_per_bed",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(ended_at__gte=F("started_at")),
                name="emr_encounter_ends_after_start",
            ),
            # One open inpatient stay per patient.
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(kind=EncounterKind.INPATIENT, status=EncounterStatus.IN_PROGRESS),
                name="emr_one_open_stay_per_patient",
            ),
            models.CheckConstraint(
                condition=Q(bed__isnull=True) | Q(kind=EncounterKind.INPATIENT),
                name="emr_bed_only_for_inpatients",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.patient_id} {self.started_at or ''}"

    @property
    def is_open(self) -> bool:
        return self.status == EncounterStatus.IN_PROGRESS


class EncounterMovement(models.Model):
    """Admission, transfer and discharge of an inpatient stay: where from, where to, when."""

    encounter = models.ForeignKey(
        Encounter, on_delete=models.CASCADE, related_name="movements", verbose_name=_("encounter")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=MovementKind.choices)
    from_department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_bed = models.ForeignKey(
        "organization.Bed", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_bed = models.ForeignKey(
        "organization.Bed", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("at"), default=clock.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("encounter movement")
        verbose_name_plural = _("encounter movements")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.encounter_id} {self.at:%Y-%m-%d %H:%M}"


class Diagnosis(TimeStampedModel):
    encounter = models.ForeignKey(
        Encounter, on_delete=models.CASCADE, related_name="diagnoses", verbose_name=_("encounter")
    )
    icd10 = models.ForeignKey(Icd10Code, on_delete=models.PROTECT, related_name="+", verbose_name=_("ICD-10"))
    is_primary = models.BooleanField(_("primary"), default=False)
    status = models.CharField(
        _("status"), max_length=12, choices=DiagnosisStatus.choices, default=DiagnosisStatus.CONFIRMED
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("diagnosis")
        verbose_name_plural = _("diagnoses")
        ordering = ["-is_primary", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["encounter", "icd10"], name="emr_one_diagnosis_per_code"),
            models.UniqueConstraint(
                fields=["encounter"], condition=Q(is_primary=True), name="emr_one_primary_diagnosis"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.icd10_id} ({self.encounter_id})"


class NoteTemplate(BilingualNameMixin, TimeStampedModel):
    """Prompts per section for one kind of note in one department (no department: hospital default).

    ``sections``: ``[{"key": "history", "prompt_zh": "...", "prompt_en": "..."}]``.
    """

    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=NoteKind.choices, default=NoteKind.PROGRESS)
    sections = models.JSONField(_("sections"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("note template")
        verbose_name_plural = _("note templates")
        constraints = [
            models.UniqueConstraint(
                fields=["department", "kind"], name="emr_one_template_per_department_kind"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def prompts(self, language: str) -> dict[str, str]:
        field = "prompt_en" if language.lower().startswith("en") else "prompt_zh"
        return {
            s.get("key", ""): s.get(field, "") for s in self.sections or [] if s.get("key") in SECTION_KEYS
        }


class Note(TimeStampedModel):
    encounter = models.ForeignKey(
        Encounter, on_delete=models.PROTECT, related_name="notes", verbose_name=_("encounter")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("author")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=NoteKind.choices, default=NoteKind.PROGRESS)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    chief_complaint = EncryptedTextField(_("chief complaint"), blank=True)
    history = EncryptedTextField(_("history of present illness"), blank=True)
    examination = EncryptedTextField(_("examination"), blank=True)
    assessment = EncryptedTextField(_("assessment"), blank=True)
    plan = EncryptedTextField(_("plan"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=NoteStatus.choices, default=NoteStatus.DRAFT
    )
    opened_at = models.DateTimeField(_("opened at"), default=clock.now)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    # The record-writing-time indicator: seconds from opening the note to signing it.
    writing_seconds = models.PositiveIntegerField(_("writing time (seconds)"), null=True, blank=True)
    drafted_from = models.JSONField(_("drafted from"), default=list, blank=True)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["opened_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=NoteStatus.DRAFT)
                | (Q(signed_at__isnull=False) & Q(writing_seconds__isnull=False)),
                name="emr_signed_note_has_signing_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.encounter_id} ({self.status})"

    def sections(self) -> dict[str, str]:
        return {key: getattr(self, key) or "" for key in SECTION_KEYS}

    @property
    def writing_time(self) -> str:
        """Writing time as minutes:seconds ("" before signing)."""
        if self.writing_seconds is None:
            return ""
        minutes, seconds = divmod(self.writing_seconds, 60)
        return f"{minutes}:{seconds:02d}"

    def current_version(self) -> NoteVersion | None:
        return self.versions.order_by("-number").first()


NEVER_CHANGED = "A note version is never changed; amend the note instead."


class NoteVersionQuerySet(models.QuerySet["NoteVersion"]):
    """Signed versions are only ever added: a queryset refuses update() and delete() (and so
    bulk_update(), which updates through a queryset), as the model refuses save() and delete()."""

    def update(self, **kwargs: Any) -> int:
        raise ValueError(NEVER_CHANGED)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ValueError(NEVER_CHANGED)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise ValueError(NEVER_CHANGED)  # before Django opens its transaction for the update

    def _rewrite_encrypted(self, **kwargs: Any) -> int:
        """Key rotation only (``NoteVersion.reencrypt``): the same values, encrypted again."""
        return super().update(**kwargs)


class NoteVersion(models.Model):
    """The text of a note as signed, and of every amendment: rows are only ever added."""

    note = models.ForeignKey(Note, on_delete=models.PROTECT, related_name="versions", verbose_name=_("note"))
    number = models.PositiveIntegerField(_("version"))
    content = EncryptedJSONField(_("content"))  # section key -> text, encrypted like the note
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(_("signed at"), default=clock.now)
    reason = models.CharField(_("reason for the amendment"), max_length=500, blank=True)

    objects = NoteVersionQuerySet.as_manager()

    class Meta:
        verbose_name = _("note version")
        verbose_name_plural = _("note versions")
        ordering = ["note", "number"]
        constraints = [
            models.UniqueConstraint(fields=["note", "number"], name="emr_one_note_version_number"),
            models.CheckConstraint(condition=Q(number=1) | ~Q(reason=""), name="emr_amendment_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.note_id} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.pop("force_insert", False):
            raise ValueError(NEVER_CHANGED)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError(NEVER_CHANGED)

    def reencrypt(self, names: list[str]) -> None:
        """Key rotation only: the same content, encrypted again under the current field key."""
        NoteVersion.objects.filter(pk=self.pk)._rewrite_encrypted(
            **{name: getattr(self, name) for name in names}
        )


class Order(TimeStampedModel):
    encounter = models.ForeignKey(
        Encounter, on_delete=models.PROTECT, related_name="orders", verbose_name=_("encounter")
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=OrderKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=OrderStatus.choices, default=OrderStatus.DRAFT
    )
    item = models.CharField(
        _("knowledge key"), max_length=120, blank=True, help_text=_("drug:<slug> or exam:<slug>")
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(_("code (ATC or LOINC)"), max_length=20, blank=True)
    dose = models.DecimalField(_("dose"), max_digits=10, decimal_places=3, null=True, blank=True)
    dose_unit = models.CharField(_("dose unit"), max_length=10, blank=True)
    route = models.CharField(_("route"), max_length=12, choices=Route.choices, blank=True)
    frequency_per_day = models.DecimalField(
        _("times per day"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    duration_days = models.PositiveSmallIntegerField(_("duration (days)"), null=True, blank=True)
    instructions = models.CharField(_("instructions"), max_length=300, blank=True)
    ordered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ordered_at = models.DateTimeField(_("ordered at"), default=clock.now)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["ordered_at", "pk"]
        indexes = [models.Index(fields=["patient", "kind", "status"])]
        constraints = [
            models.CheckConstraint(condition=Q(dose__isnull=True) | Q(dose__gt=0), name="emr_dose_positive"),
            models.CheckConstraint(
                condition=Q(frequency_per_day__isnull=True) | Q(frequency_per_day__gt=0),
                name="emr_frequency_positive",
            ),
            models.CheckConstraint(
                condition=Q(duration_days__isnull=True) | Q(duration_days__gt=0), name="emr_duration_positive"
            ),
            models.CheckConstraint(
                condition=Q(status=OrderStatus.DRAFT)
                | Q(status=OrderStatus.CANCELLED)
                | Q(signed_at__isnull=False),
                name="emr_signed_order_has_signing_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class Allergy(TimeStampedModel):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="allergies")
    substance = models.CharField(
        _("substance"), max_length=120, blank=True, help_text=_("drug:<slug> or drug_class:<slug>")
    )
    name = models.CharField(_("name"), max_length=200)
    reaction = models.CharField(_("reaction"), max_length=300, blank=True)
    severity = models.CharField(_("severity"), max_length=10, choices=AllergySeverity.choices, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=AllergyStatus.choices, default=AllergyStatus.ACTIVE
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("allergy")
        verbose_name_plural = _("allergies")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "substance", "name"],
                condition=Q(status=AllergyStatus.ACTIVE),
                name="emr_one_active_allergy_per_substance",
            )
        ]

    def __str__(self) -> str:
        return self.name


class VitalSign(models.Model):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="vital_signs")
    encounter = models.ForeignKey(
        Encounter, on_delete=models.SET_NULL, null=True, blank=True, related_name="vitals"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=VitalKind.choices)
    value = models.FloatField(_("value"))  # systolic for blood pressure
    value2 = models.FloatField(_("second value"), null=True, blank=True)  # diastolic
    unit = models.CharField(_("unit"), max_length=10)
    measured_at = models.DateTimeField(_("measured at"), default=clock.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("vital sign")
        verbose_name_plural = _("vital signs")
        ordering = ["-measured_at", "-pk"]
        indexes = [models.Index(fields=["patient", "kind", "measured_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="emr_vital_positive"),
            models.CheckConstraint(
                condition=Q(value2__isnull=True) | Q(kind=VitalKind.BLOOD_PRESSURE),
                name="emr_second_value_only_bp",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


class Problem(TimeStampedModel):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="problems")
    icd10 = models.ForeignKey(Icd10Code, on_delete=models.PROTECT, related_name="+", verbose_name=_("ICD-10"))
    status = models.CharField(
        _("status"), max_length=10, choices=ProblemStatus.choices, default=ProblemStatus.ACTIVE
    )
    onset = models.DateField(_("onset"), null=True, blank=True)
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)
    comment = models.CharField(_("comment"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("problem")
        verbose_name_plural = _("problem list")
        ordering = ["status", "icd10"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "icd10"],
                condition=Q(status=ProblemStatus.ACTIVE),
                name="emr_one_active_problem_per_code",
            )
        ]

    def __str__(self) -> str:
        return f"{self.icd10_id} ({self.status})"


class Observation(models.Model):
    """A result: a lab value, a measured exam finding. Filled by hand, by the lab interface (HL7 v2)
    or by FHIR import, so it stays general: a LOINC code or an exam key, a number or a text."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="observations")
    encounter = models.ForeignKey(
        Encounter, on_delete=models.SET_NULL, null=True, blank=True, related_name="observations"
    )
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="results")
    code = models.CharField(_("code"), max_length=120, help_text=_("LOINC code or exam:<slug>"))
    name = models.CharField(_("name"), max_length=200)
    value = models.FloatField(_("value"), null=True, blank=True)
    value_text = models.CharField(_("value (text)"), max_length=500, blank=True)
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    reference_low = models.FloatField(_("reference low"), null=True, blank=True)
    reference_high = models.FloatField(_("reference high"), null=True, blank=True)
    flag = models.CharField(_("flag"), max_length=2, choices=ObservationFlag.choices, blank=True)
    observed_at = models.DateTimeField(_("observed at"), default=clock.now)
    source = models.CharField(
        _("source"), max_length=10, choices=ObservationSource.choices, default=ObservationSource.MANUAL
    )
    external_id = models.CharField(_("external id"), max_length=120, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("result")
        verbose_name_plural = _("results")
        ordering = ["observed_at", "pk"]
        indexes = [models.Index(fields=["patient", "code", "observed_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(value__isnull=False) | ~Q(value_text=""), name="emr_observation_has_value"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.value if self.value is not None else self.value_text}"
