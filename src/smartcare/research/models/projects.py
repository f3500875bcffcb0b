"""Research projects, their exports and the privacy budget of differentially private queries.

Research consent itself is the patient registry's ``patients.Consent`` of kind ``research`` (one
row per decision, so the history is kept); ``research.consent`` reads it.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from smartcare.core.fields import EncryptedTextField
from smartcare.core.models import TimeStampedModel

__all__ = [
    "ExportFormat",
    "PrivacyBudget",
    "PrivacyQuery",
    "ProjectStatus",
    "ResearchExport",
    "ResearchProject",
]


def new_pseudonym_key() -> str:
    """256 random bits: the key of this project's pseudonymous IDs and date offsets."""
    return secrets.token_hex(32)


class ProjectStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Awaiting review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CLOSED = "closed", _("Closed")


class ExportFormat(models.TextChoices):
    CSV = "csv", _("CSV")
    PARQUET = "parquet", _("Parquet")


class ResearchProject(TimeStampedModel):
    title = models.CharField(_("title"), max_length=200)
    aims = models.TextField(_("aims"))
    ethics_number = models.CharField(_("ethics approval number"), max_length=60)
    ethics_valid_from = models.DateField(_("ethics approval valid from"))
    ethics_valid_until = models.DateField(_("ethics approval valid until"))
    principal_investigator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="research_projects_led",
        verbose_name=_("principal investigator"),
    )
    investigators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="research_projects",
        verbose_name=_("investigators"),
        blank=True,
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ProjectStatus.choices, default=ProjectStatus.SUBMITTED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.CharField(_("decision reason"), max_length=500, blank=True)
    k_anonymity = models.PositiveSmallIntegerField(_("k for k-anonymity"), default=5)
    epsilon_budget = models.FloatField(_("privacy budget (epsilon) per investigator"), default=3.0)
    pseudonym_key = EncryptedTextField(_("pseudonym key"), default=new_pseudonym_key, editable=False)

    class Meta:
        verbose_name = _("research project")
        verbose_name_plural = _("research projects")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ethics_valid_until__gte=F("ethics_valid_from")),
                name="research_ethics_dates_ordered",
            ),
            models.CheckConstraint(condition=Q(k_anonymity__gte=2), name="research_k_at_least_2"),
            models.CheckConstraint(condition=Q(epsilon_budget__gt=0), name="research_budget_positive"),
        ]

    def __str__(self) -> str:
        return self.title

    def is_member(self, user: Any) -> bool:
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        return self.principal_investigator_id == user.pk or self.investigators.filter(pk=user.pk).exists()

    def is_open_on(self, day: date) -> bool:
        """Approved and within its ethics approval on ``day``."""
        return (
            self.status == ProjectStatus.APPROVED and self.ethics_valid_from <= day <= self.ethics_valid_until
        )


class ResearchExport(TimeStampedModel):
    project = models.ForeignKey(
        ResearchProject, on_delete=models.PROTECT, related_name="exports", verbose_name=_("project")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    cohort_label = models.CharField(_("cohort"), max_length=200)
    cohort_ref = models.JSONField(_("cohort reference"), default=dict, blank=True)
    file_format = models.CharField(_("format"), max_length=10, choices=ExportFormat.choices)
    k_anonymity = models.PositiveSmallIntegerField(_("k for k-anonymity"))
    patients = models.PositiveIntegerField(_("patients in the cohort"), default=0)
    rows = models.PositiveIntegerField(_("rows released"), default=0)
    suppressed = models.PositiveIntegerField(_("rows suppressed"), default=0)
    withdrawn_excluded = models.PositiveIntegerField(_("patients excluded (consent withdrawn)"), default=0)
    report = models.JSONField(_("de-identification report"), default=dict, blank=True)
    file_name = models.CharField(_("file"), max_length=300)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    downloads = models.PositiveIntegerField(_("downloads"), default=0)

    class Meta:
        verbose_name = _("research export")
        verbose_name_plural = _("research exports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.pk} {self.file_format}"


class PrivacyBudget(TimeStampedModel):
    """Epsilon a user may spend on noisy releases, per project (or without one)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="privacy_budgets",
        verbose_name=_("user"),
    )
    project = models.ForeignKey(
        ResearchProject,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="privacy_budgets",
        verbose_name=_("project"),
    )
    epsilon_total = models.FloatField(_("epsilon granted"))
    epsilon_spent = models.FloatField(_("epsilon spent"), default=0.0)

    class Meta:
        verbose_name = _("privacy budget")
        verbose_name_plural = _("privacy budgets")
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="research_one_budget_per_project"),
            models.UniqueConstraint(
                fields=["user"], condition=Q(project__isnull=True), name="research_one_budget_without_project"
            ),
            # The database refuses overspending even if two requests race past the check.
            models.CheckConstraint(
                condition=Q(epsilon_spent__lte=F("epsilon_total") + 1e-9),
                name="research_budget_not_overspent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.project_id}: {self.epsilon_spent}/{self.epsilon_total}"

    @property
    def left(self) -> float:
        return max(0.0, self.epsilon_total - self.epsilon_spent)


class PrivacyQuery(models.Model):
    """One release charged to a budget (the accounting ledger)."""

    class Kind(models.TextChoices):
        COUNT = "count", _("Count")
        MEAN = "mean", _("Mean")
        HISTOGRAM = "histogram", _("Histogram")

    budget = models.ForeignKey(PrivacyBudget, on_delete=models.CASCADE, related_name="queries")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    purpose = models.CharField(_("purpose"), max_length=200)
    epsilon = models.FloatField(_("epsilon"))
    released_at = models.DateTimeField(_("released at"))

    class Meta:
        verbose_name = _("private query")
        verbose_name_plural = _("private queries")
        ordering = ["-released_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.epsilon:g}"
