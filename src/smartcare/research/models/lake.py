"""The analytics lake's run log: one row per ``smartcare lake build``.

A run remembers where the previous one stopped (the start time it used as the watermark for
``updated_at`` and the largest primary key it saw in append-only tables), so the next run reads
only what changed since. See ``smartcare.research.lake``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock

__all__ = ["LakeRun", "LakeRunStatus"]


class LakeRunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class LakeRun(models.Model):
    started_at = models.DateTimeField(_("started at"), default=clock.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=LakeRunStatus.choices, default=LakeRunStatus.RUNNING
    )
    full = models.BooleanField(_("full rebuild"), default=False)
    lake_dir = models.CharField(_("lake directory"), max_length=500)
    # Rows read as changed since the previous run: updated_at >= watermark, or pk > the high-water mark.
    watermark = models.DateTimeField(_("changes since"), null=True, blank=True)
    high_water = models.JSONField(_("largest id per source"), default=dict, blank=True)
    # table -> {"upserted": n, "deleted": n, "rows": n (rows in the lake after the run)}
    tables = models.JSONField(_("rows per table"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("lake build")
        verbose_name_plural = _("lake builds")
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"lake {self.started_at:%Y-%m-%d %H:%M} ({self.status})"
