"""Role home pages are built from panels. Each module registers its panels for the roles it serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class Panel:
    template: str
    roles: frozenset[str]
    context: Callable[[HttpRequest], dict[str, Any]] = field(default=lambda request: {})
    order: int = 100


_PANELS: list[Panel] = []


def register_panel(panel: Panel) -> None:
    _PANELS.append(panel)
    _PANELS.sort(key=lambda p: p.order)


def panels_for(request: HttpRequest) -> list[dict[str, Any]]:
    role = getattr(request.user, "role", "")
    return [{"template": p.template, **p.context(request)} for p in _PANELS if role in p.roles]
