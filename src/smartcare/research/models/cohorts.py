"""Saved cohorts: a named cohort, its versions (each an immutable criteria definition with the SQL
it compiled to) and every run of it (what was counted, for whom, and what was shown).

The criteria language and its compiler live in ``smartcare.research.cohorts``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.models import TimeStampedModel

__all__ = ["Cohort", "CohortRun", "CohortVersion"]


class Cohort(TimeStampedModel):
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    is_archived = models.BooleanField(_("archived"), default=False)

    class Meta:
        verbose_name = _("cohort")
        verbose_name_plural = _("cohorts")
        ordering = ["-updated_at", "-pk"]

    def __str__(self) -> str:
        return self.name

    def latest_version(self) -> CohortVersion | None:
        return self.versions.order_by("-number").first()


class CohortVersion(models.Model):
    """One saved definition of a cohort. Versions are only added, never changed, so a run (or a
    project's export) always points at exactly the criteria it used."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    definition = models.JSONField(_("criteria"))
    sql = models.TextField(_("generated SQL"))
    comment = models.CharField(_("what changed"), max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("cohort version")
        verbose_name_plural = _("cohort versions")
        ordering = ["cohort", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "number"], name="research_one_cohort_version_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="research_cohort_version_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.cohort} v{self.number}"


class CohortRun(models.Model):
    """One count of a cohort (saved or a draft being edited). ``true_count`` is the exact count,
    kept for the audit; ``shown_count`` is what the user saw (noisy unless within an approved
    project)."""

    version = models.ForeignKey(
        CohortVersion, on_delete=models.CASCADE, null=True, blank=True, related_name="runs"
    )
    definition = models.JSONField(_("criteria"))
    index_date = models.DateField(_("index date"))
    run_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    run_at = models.DateTimeField(_("run at"), default=clock.now)
    purpose = models.CharField(_("purpose"), max_length=20, default="count")
    true_count = models.PositiveIntegerField(_("exact count"))
    shown_count = models.IntegerField(_("count shown"), null=True, blank=True)
    noisy = models.BooleanField(_("noisy"), default=True)
    excluded_withdrawn = models.PositiveIntegerField(_("excluded (consent withdrawn)"), default=0)
    elapsed_ms = models.FloatField(_("query time (ms)"), default=0)

    class Meta:
        verbose_name = _("cohort run")
        verbose_name_plural = _("cohort runs")
        ordering = ["-run_at", "-pk"]
        indexes = [models.Index(fields=["run_by", "run_at"])]

    def __str__(self) -> str:
        return f"cohort run {self.pk} ({self.run_at:%Y-%m-%d %H:%M})"
