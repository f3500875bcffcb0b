"""Formatting of indicator values for the cockpit pages and reports."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def format_value(value: float | None, unit: str) -> str:
    """A value in its unit: shares as percentages, minutes and days with one decimal."""
    if value is None:
        return _("No data")
    if unit == "share":
        return f"{value * 100:.1f} %"
    if unit == "minutes":
        return _("%(n)s min") % {"n": f"{value:.1f}"}
    if unit == "days":
        return _("%(n)s days") % {"n": f"{value:.1f}"}
    if unit == "yuan":
        return f"¥{value:,.0f}"
    return f"{value:.1f}"


@register.simple_tag
def target_text(result: Any) -> str:
    """The target as text: "≥ 95.0 %", "≤ 30.0 min", "80.0 %–90.0 %", or "no baseline"."""
    indicator = result.indicator
    if result.target is None:
        return _("No baseline")
    low = format_value(result.target, indicator.unit)
    if indicator.direction == "range" and result.target_high is not None:
        return f"{low}–{format_value(result.target_high, indicator.unit)}"
    return ("≤ " if indicator.direction == "lower" else "≥ ") + low
