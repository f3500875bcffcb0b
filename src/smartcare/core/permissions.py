"""Role-level capabilities ("may open the audit search").

Each app grants its capabilities to roles at start-up (see ``accounts/roles.py``). Whether a
user may see one particular patient is a separate question answered by
``smartcare.patients.access``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

_CAPABILITIES: dict[str, set[str]] = defaultdict(set)


def grant(capability: str, *roles: str) -> None:
    for role in roles:
        _CAPABILITIES[str(role)].add(capability)


def has_capability(user: Any, capability: str) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return capability in _CAPABILITIES.get(getattr(user, "role", ""), set())


def capabilities_of(role: str) -> frozenset[str]:
    return frozenset(_CAPABILITIES.get(str(role), set()))


def require_capability(user: Any, capability: str) -> None:
    from smartcare.core.errors import NotAuthenticated, PermissionDenied

    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAuthenticated()
    if not has_capability(user, capability):
        raise PermissionDenied()
