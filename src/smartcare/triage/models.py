"""One row per triage: what was asked, what the engine answered and which department was chosen.

The complaint text is health information, so it is encrypted at rest; the findings, red flags and
suggestions are knowledge-graph keys and department codes, kept in the clear for evaluation.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.fields import EncryptedTextField
from smartcare.triage.choices import TriageChannel, TriageStatus


class TriageRecord(models.Model):
    created_at = models.DateTimeField(_("created at"), default=clock.now, editable=False, db_index=True)
    channel = models.CharField(_("channel"), max_length=10, choices=TriageChannel.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    # Set only when a signed-in patient triages for themself.
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="triage_records",
        verbose_name=_("patient"),
    )
    language = models.CharField(_("language"), max_length=10)
    age = models.PositiveSmallIntegerField(_("age"), null=True, blank=True)
    age_months = models.PositiveSmallIntegerField(_("age in months"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=6, blank=True)
    pregnant = models.BooleanField(_("pregnant"), null=True, blank=True)
    text = EncryptedTextField(_("complaint"))
    status = models.CharField(_("status"), max_length=12, choices=TriageStatus.choices)
    findings = models.JSONField(_("findings"), default=list, blank=True)
    negated = models.JSONField(_("findings said to be absent"), default=list, blank=True)
    red_flags = models.JSONField(_("red flags"), default=list, blank=True)
    action = models.CharField(_("action"), max_length=12, blank=True)
    suggested_departments = models.JSONField(_("suggested departments"), default=list, blank=True)
    question = models.CharField(_("question asked"), max_length=80, blank=True)
    # Follow-up question id -> true / false, or null for "not sure".
    answers = models.JSONField(_("answers"), default=dict, blank=True)
    chosen_department = models.CharField(_("chosen department"), max_length=10, blank=True)
    chosen_at = models.DateTimeField(_("chosen at"), null=True, blank=True)
    model_version = models.CharField(_("model version"), max_length=80, blank=True)
    elapsed_ms = models.FloatField(_("elapsed (ms)"), default=0)

    class Meta:
        verbose_name = _("triage record")
        verbose_name_plural = _("triage records")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.pk} {self.status} {self.created_at:%Y-%m-%d %H:%M}"
