"""Cockpit models: the configurable part of each indicator (target, thresholds, score weight,
baseline year) with the history of its changes, the daily facts the cockpit reads, management
actions and quarterly evaluation reports.

The indicators themselves (definition, unit, how they are computed) are code, in
``smartcare.kpi.indicators``; a row of ``IndicatorSetting`` only overrides what an operations
manager may change."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.models import TimeStampedModel

__all__ = [
    "ActionStatus",
    "BreakdownFact",
    "DailyFact",
    "FactDay",
    "IndicatorSetting",
    "ManagementAction",
    "QuarterlyReport",
    "SettingChange",
]


class IndicatorSetting(TimeStampedModel):
    """What the operations manager set for one indicator; empty fields use the plan's defaults."""

    code = models.CharField(_("indicator"), max_length=40, unique=True)
    target = models.FloatField(_("target"), null=True, blank=True)
    target_high = models.FloatField(_("upper target"), null=True, blank=True)
    at_risk_margin = models.FloatField(
        _("at-risk margin"),
        null=True,
        blank=True,
        help_text=_("How far from the target (relative: 0.05 = 5 percent) a value is still 'at risk'."),
    )
    weight = models.FloatField(_("score weight"), null=True, blank=True)
    baseline_year = models.PositiveSmallIntegerField(_("baseline year"), null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("indicator setting")
        verbose_name_plural = _("indicator settings")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__isnull=True) | Q(weight__gte=0), name="kpi_weight_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(at_risk_margin__isnull=True) | Q(at_risk_margin__gte=0),
                name="kpi_margin_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class SettingChange(models.Model):
    """One change of a target, threshold, weight or baseline year (the history the plan asks for)."""

    code = models.CharField(_("indicator"), max_length=40, db_index=True)
    field = models.CharField(_("field"), max_length=20)
    old_value = models.CharField(_("old value"), max_length=40, blank=True)
    new_value = models.CharField(_("new value"), max_length=40, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), default=clock.now)

    class Meta:
        verbose_name = _("indicator setting change")
        verbose_name_plural = _("indicator setting changes")
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.code}.{self.field}: {self.old_value} -> {self.new_value}"


class DailyFact(models.Model):
    """One indicator's numerator and denominator for one local day, for one department or (with
    no department) the whole hospital. Indicators are ratios of sums, so any period's value is
    the sum of its days' numerators over the sum of their denominators."""

    date = models.DateField(_("date"))
    department = models.ForeignKey(
        "organization.Department", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    code = models.CharField(_("indicator"), max_length=40)
    numerator = models.FloatField(_("numerator"), default=0)
    denominator = models.FloatField(_("denominator"), default=0)

    class Meta:
        verbose_name = _("daily fact")
        verbose_name_plural = _("daily facts")
        constraints = [
            models.UniqueConstraint(
                fields=["date", "department", "code"], name="kpi_one_fact_per_day_department"
            ),
            models.UniqueConstraint(
                fields=["date", "code"],
                condition=Q(department__isnull=True),
                name="kpi_one_hospital_fact_per_day",
            ),
        ]
        indexes = [models.Index(fields=["code", "date"]), models.Index(fields=["department", "code", "date"])]

    def __str__(self) -> str:
        return f"{self.date} {self.code} {self.numerator}/{self.denominator}"


class BreakdownFact(models.Model):
    """One indicator's numerator and denominator for one day, department and value of a
    breakdown (hour of the day, doctor, booking channel), so that drill-downs over a year read
    a few hundred rows."""

    date = models.DateField(_("date"))
    department = models.ForeignKey(
        "organization.Department", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    code = models.CharField(_("indicator"), max_length=40)
    dimension = models.CharField(_("breakdown"), max_length=10)
    key = models.CharField(_("value"), max_length=40)
    numerator = models.FloatField(_("numerator"), default=0)
    denominator = models.FloatField(_("denominator"), default=0)

    class Meta:
        verbose_name = _("breakdown fact")
        verbose_name_plural = _("breakdown facts")
        indexes = [models.Index(fields=["code", "dimension", "date"])]

    def __str__(self) -> str:
        return f"{self.date} {self.code} {self.dimension}={self.key}"


class FactDay(models.Model):
    """A day whose facts are complete (computed after the day ended)."""

    date = models.DateField(_("date"), unique=True)
    computed_at = models.DateTimeField(_("computed at"), default=clock.now)

    class Meta:
        verbose_name = _("computed day")
        verbose_name_plural = _("computed days")
        ordering = ["date"]

    def __str__(self) -> str:
        return str(self.date)


class ActionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    DROPPED = "dropped", _("Dropped")


class ManagementAction(TimeStampedModel):
    """An action decided by management about an indicator, with its owner and due date."""

    code = models.CharField(_("indicator"), max_length=40, db_index=True)
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    title = models.CharField(_("action"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    due_on = models.DateField(_("due date"))
    status = models.CharField(
        _("status"), max_length=10, choices=ActionStatus.choices, default=ActionStatus.OPEN
    )
    outcome = models.CharField(_("outcome"), max_length=500, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    report = models.ForeignKey(
        "kpi.QuarterlyReport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="actions",
        verbose_name=_("decided in report"),
    )

    class Meta:
        verbose_name = _("management action")
        verbose_name_plural = _("management actions")
        ordering = ["due_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=ActionStatus.OPEN) | Q(closed_at__isnull=False),
                name="kpi_closed_action_has_time",
            )
        ]

    def __str__(self) -> str:
        return self.title


class QuarterlyReport(models.Model):
    """A generated quarterly evaluation: the figures as they were, the HTML and the PDF."""

    period = models.CharField(_("period"), max_length=10, unique=True)
    start = models.DateField(_("from"))
    end = models.DateField(_("to"))
    data = models.JSONField(_("figures"), default=dict)
    html = models.TextField(_("HTML"))
    pdf = models.BinaryField(_("PDF"), null=True, blank=True)
    generated_at = models.DateTimeField(_("generated at"), default=clock.now)
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("quarterly evaluation report")
        verbose_name_plural = _("quarterly evaluation reports")
        ordering = ["-start"]

    def __str__(self) -> str:
        return self.period
