"""What-if scenarios saved by managers and the runs that compared them with the current setup."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.simulation.choices import RunStatus


class SavedScenario(models.Model):
    """A scenario kept for reuse (its body is the documented scenario format, already checked)."""

    name = models.CharField(_("name"), max_length=200)
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    body = models.JSONField(_("scenario"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("what-if scenario")
        verbose_name_plural = _("what-if scenarios")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class WhatIfRun(models.Model):
    """One comparison of the current setup with a scenario for a department."""

    department = models.ForeignKey(
        "organization.Department", on_delete=models.CASCADE, related_name="+", verbose_name=_("department")
    )
    scenario = models.JSONField(_("scenario"), default=dict)
    runs = models.PositiveSmallIntegerField(_("repeated runs"), default=10)
    weeks = models.PositiveSmallIntegerField(_("weeks per run"), default=4)
    seed = models.PositiveIntegerField(_("seed"), default=1)
    status = models.CharField(_("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("what-if run")
        verbose_name_plural = _("what-if runs")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.department_id} {self.created_at:%Y-%m-%d %H:%M}"
