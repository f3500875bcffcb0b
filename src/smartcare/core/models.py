"""Base model mixins shared by every app."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), default=clock.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class BilingualNameMixin(models.Model):
    """A name in Simplified Chinese and English; ``name`` follows the active language."""

    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)

    class Meta:
        abstract = True

    @property
    def name(self) -> str:
        from django.utils.translation import get_language

        language = (get_language() or "zh-hans").lower()
        return self.name_en if language.startswith("en") and self.name_en else self.name_zh
