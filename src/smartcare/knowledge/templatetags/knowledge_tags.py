"""Template helpers for knowledge pages: a name in the active language, the other one beside it."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

register = template.Library()

COUNT_LABELS = {
    "nodes_created": _("nodes created"),
    "nodes_updated": _("nodes updated"),
    "nodes_retired": _("nodes retired"),
    "edges_created": _("edges created"),
    "edges_updated": _("edges updated"),
    "edges_removed": _("edges removed"),
    "red_flags_created": _("red flags created"),
    "red_flags_written": _("red flags written"),
    "red_flag_links": _("red-flag links to conditions"),
    "red_flags_retired": _("red flags retired"),
    "questions_created": _("questions created"),
    "questions_written": _("questions written"),
    "questions_retired": _("questions retired"),
}


@register.filter
def count_label(name: str) -> str:
    """A release count in words ("nodes created"); unknown counts keep their name."""
    return str(COUNT_LABELS.get(name, name))


@register.filter
def other_name(obj: Any) -> str:
    """The name in the language not shown, or "" when both names are the same."""
    english = (get_language() or "").lower().startswith("en")
    shown, other = (obj.name_en, obj.name_zh) if english else (obj.name_zh, obj.name_en)
    return "" if not other or other == shown else other


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{round(value * 100)}%"


@register.filter
def as_text(value: object) -> str:
    """A report value for people: lists joined, mappings as "key: value" pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {as_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(as_text(v) for v in value)
    return str(value)
