"""Where a diagnostic report came from and who was told about it.

The report itself is ``DiagnosticReport`` (with its results, the EMR observations). This table
adds what the push to the patient and the critical-value notice need: the source (HL7 ORU, FHIR,
a clinician), the sending system's filler order number (so a corrected result updates the report
instead of adding one), the order and the doctor who ordered it, the imaging study, and when the
patient and the doctor were notified.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock


class ReportSource(models.TextChoices):
    HL7 = "hl7", _("HL7 v2 result (ORU)")
    FHIR = "fhir", _("FHIR DiagnosticReport")
    CLINICIAN = "clinician", _("Written by a clinician")


class ReportKind(models.TextChoices):
    LAB = "lab", _("Laboratory report")
    IMAGING = "imaging", _("Imaging report")


class ReportDelivery(models.Model):
    report = models.OneToOneField(
        "interop.DiagnosticReport",
        on_delete=models.CASCADE,
        related_name="delivery",
        verbose_name=_("report"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ReportKind.choices)
    source = models.CharField(_("source"), max_length=10, choices=ReportSource.choices)
    system = models.ForeignKey(
        "interop.ConnectedSystem", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    filler_number = models.CharField(_("filler order number"), max_length=199, blank=True)
    order = models.ForeignKey("emr.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    ordering_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ordered by"),
    )
    imaging_study = models.ForeignKey(
        "interop.ImagingStudy", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    abnormal_count = models.PositiveIntegerField(_("abnormal results"), default=0)
    critical_count = models.PositiveIntegerField(_("critical results"), default=0)
    published_at = models.DateTimeField(_("sent to the patient at"), null=True, blank=True)
    published_status = models.CharField(_("status when sent"), max_length=20, blank=True)
    patient_notification = models.ForeignKey(
        "notifications.Notification", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Results the sender marked critical beyond HH/LL (HL7 abnormal flag AA).
    marked_critical = models.JSONField(_("marked critical by the sender"), default=list, blank=True)
    critical_signature = models.CharField(max_length=40, blank=True, editable=False)
    critical_notified_at = models.DateTimeField(_("doctor told of critical values at"), null=True, blank=True)
    critical_notified_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("report delivery")
        verbose_name_plural = _("report deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["system", "filler_number"],
                condition=~Q(filler_number=""),
                name="interop_one_report_per_filler_number",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.report_id} ({self.source})"


__all__ = ["ReportDelivery", "ReportKind", "ReportSource"]
