"""DICOM images: the index of studies, series and instances (the files themselves are on disk
under ``SMARTCARE_DICOM_DIR`` or on a PACS reached over DICOMweb).

The three tables follow the DICOM information model and map one to one onto FHIR ImagingStudy
(study UID, series with modality and body part, instances with SOP class and number of frames).
Only the index is in the database; pixel data stays in the files.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock


class StudySource(models.TextChoices):
    UPLOAD = "upload", _("Uploaded on the page")
    STOW = "stow", _("Stored over DICOMweb (STOW-RS)")
    DICOMWEB = "dicomweb", _("Read from the PACS over DICOMweb")
    DEMO = "demo", _("Demo data")


class InstanceStorage(models.TextChoices):
    LOCAL = "local", _("Stored by smartcare")
    REMOTE = "remote", _("On the PACS (DICOMweb)")


class SpacingSource(models.TextChoices):
    """Where an instance's pixel spacing came from. Empty: not known yet (indexed before spacing was
    stored; read lazily from the file)."""

    PIXEL_SPACING = "pixel", _("Pixel Spacing (0028,0030): in the patient")
    # At the detector, not corrected for the beam's magnification: distances are approximate.
    IMAGER = "imager", _("Imager Pixel Spacing (0018,1164): at the detector")
    NONE = "none", _("No spacing in the file")


class ImagingStudy(models.Model):
    study_uid = models.CharField(_("study instance UID"), max_length=64, unique=True)
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        related_name="imaging_studies",
        verbose_name=_("patient"),
    )
    order = models.ForeignKey(
        "emr.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="imaging_studies",
        verbose_name=_("order"),
    )
    accession_number = models.CharField(_("accession number"), max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    modalities = models.CharField(
        _("modalities"), max_length=100, blank=True, help_text=_("Space-separated DICOM modality codes")
    )
    started_at = models.DateTimeField(_("study date"), null=True, blank=True)
    referring_physician = models.CharField(_("referring physician"), max_length=200, blank=True)
    number_of_series = models.PositiveIntegerField(_("series"), default=0)
    number_of_instances = models.PositiveIntegerField(_("instances"), default=0)
    source = models.CharField(_("source"), max_length=10, choices=StudySource.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    updated_at = models.DateTimeField(_("updated at"), default=clock.now)

    class Meta:
        verbose_name = _("imaging study")
        verbose_name_plural = _("imaging studies")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["patient", "started_at"]), models.Index(fields=["started_at"])]

    def __str__(self) -> str:
        return f"{self.modalities or '?'} {self.description} {self.started_at or ''}".strip()

    @property
    def modality_list(self) -> list[str]:
        return [m for m in self.modalities.split() if m]


class ImagingSeries(models.Model):
    study = models.ForeignKey(
        ImagingStudy, on_delete=models.CASCADE, related_name="series", verbose_name=_("study")
    )
    series_uid = models.CharField(_("series instance UID"), max_length=64, unique=True)
    number = models.IntegerField(_("series number"), null=True, blank=True)
    modality = models.CharField(_("modality"), max_length=16, db_index=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    body_part = models.CharField(_("body part"), max_length=64, blank=True)
    started_at = models.DateTimeField(_("series date"), null=True, blank=True)
    number_of_instances = models.PositiveIntegerField(_("instances"), default=0)

    class Meta:
        verbose_name = _("imaging series")
        verbose_name_plural = _("imaging series")
        ordering = ["study", "number", "pk"]

    def __str__(self) -> str:
        return f"{self.modality} {self.number or ''} {self.description}".strip()


class ImagingInstance(models.Model):
    """One DICOM object (an image, possibly with many frames)."""

    series = models.ForeignKey(
        ImagingSeries, on_delete=models.CASCADE, related_name="instances", verbose_name=_("series")
    )
    sop_instance_uid = models.CharField(_("SOP instance UID"), max_length=64, unique=True)
    sop_class_uid = models.CharField(_("SOP class UID"), max_length=64)
    instance_number = models.IntegerField(_("instance number"), null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(_("frames"), default=1)
    rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    columns = models.PositiveIntegerField(_("columns"), null=True, blank=True)
    transfer_syntax_uid = models.CharField(_("transfer syntax"), max_length=64, blank=True)
    photometric = models.CharField(_("photometric interpretation"), max_length=16, blank=True)
    # The first window of the file (DICOM VOI LUT module); the viewer starts with it.
    window_center = models.FloatField(_("window centre"), null=True, blank=True)
    window_width = models.FloatField(_("window width"), null=True, blank=True)
    # Where the slice lies along the stack (image position, or slice location), for scrolling.
    slice_position = models.FloatField(_("slice position"), null=True, blank=True)
    # Millimetres between the centres of adjacent rows and of adjacent columns (the two values of
    # Pixel Spacing, or of Imager Pixel Spacing as a flagged fallback): turns the viewer's
    # distances into mm. Null: unknown (see spacing_source).
    row_spacing = models.FloatField(_("row spacing (mm)"), null=True, blank=True)
    column_spacing = models.FloatField(_("column spacing (mm)"), null=True, blank=True)
    spacing_source = models.CharField(
        _("spacing from"), max_length=8, choices=SpacingSource.choices, blank=True
    )
    storage = models.CharField(_("storage"), max_length=10, choices=InstanceStorage.choices)
    file_path = models.CharField(_("file"), max_length=300, blank=True)
    file_size = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("imaging instance")
        verbose_name_plural = _("imaging instances")
        ordering = ["series", "slice_position", "instance_number", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(storage="remote") | ~Q(file_path=""), name="interop_local_instance_has_file"
            ),
            models.CheckConstraint(condition=Q(number_of_frames__gte=1), name="interop_instance_has_frames"),
            models.CheckConstraint(
                condition=Q(row_spacing__isnull=True, column_spacing__isnull=True)
                | Q(row_spacing__gt=0, column_spacing__gt=0, spacing_source__in=["pixel", "imager"]),
                name="interop_instance_spacing_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.sop_instance_uid


__all__ = [
    "ImagingInstance",
    "ImagingSeries",
    "ImagingStudy",
    "InstanceStorage",
    "SpacingSource",
    "StudySource",
]
