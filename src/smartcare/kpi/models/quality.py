"""Quality control: the review of a case that failed a guideline-adherence measure.

The measures themselves are computed from the EMR, decision-support rules, reports and monitoring
data in ``smartcare.kpi.quality``; a failed case is stored only once somebody assigns it for
review (who reviews it, where the review stands, what they found)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock

__all__ = ["QualityReview", "ReviewState"]


class ReviewState(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned")
    IN_REVIEW = "in_review", _("In review")
    JUSTIFIED = "justified", _("Justified (no deviation)")
    ACTION_NEEDED = "action_needed", _("Deviation, action needed")
    CLOSED = "closed", _("Closed")


class QualityReview(models.Model):
    measure = models.CharField(_("measure"), max_length=40, db_index=True)
    case_key = models.CharField(_("case"), max_length=80)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period to"))
    occurred_at = models.DateTimeField(_("occurred at"), null=True, blank=True)
    detail = models.JSONField(_("why it failed"), default=dict, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    state = models.CharField(
        _("state"), max_length=20, choices=ReviewState.choices, default=ReviewState.ASSIGNED
    )
    comment = models.TextField(_("comment"), blank=True)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(_("assigned at"), default=clock.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("quality case review")
        verbose_name_plural = _("quality case reviews")
        ordering = ["-assigned_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["measure", "case_key", "period_start", "period_end"], name="kpi_one_review_per_case"
            )
        ]
        indexes = [models.Index(fields=["reviewer", "state"])]

    def __str__(self) -> str:
        return f"{self.measure} {self.case_key}"
