"""Template helpers of home monitoring."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def as_json(value: Any) -> str:
    """JSON for a ``data-chart`` attribute (the template's autoescaping keeps it in the attribute)."""
    return json.dumps(value, ensure_ascii=False, default=str)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def flag_class(flag: str) -> str:
    return {"C": "text-bg-danger", "W": "text-bg-warning"}.get(flag or "", "text-bg-light")
