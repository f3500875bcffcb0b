"""Formatting of effect estimates: percentage points for risks, plain numbers for measures."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def points(value: Any) -> str:
    """A risk fraction (or a change of one) in percentage points, one decimal."""
    if value is None:
        return "—"
    return f"{float(value) * 100:+.1f}"


@register.filter
def percent(value: Any) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.0f}%"


@register.filter
def signed(value: Any) -> str:
    if value is None:
        return "—"
    return f"{float(value):+.1f}"
