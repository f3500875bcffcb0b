from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from smartcare.notifications.selectors import unread_count
from smartcare.web.navigation import items_for


def shell(request: HttpRequest) -> dict[str, Any]:
    user: Any = getattr(request, "user", None)
    elderly = bool(getattr(user, "elderly_mode", False)) or request.COOKIES.get("elderly") == "1"
    return {
        "nav_items": items_for(user),
        "elderly_mode": elderly,
        "unread_notifications": unread_count(user) if user is not None else 0,
        "hospital_name": settings.SMARTCARE_HOSPITAL_NAME,
        "is_patient_user": getattr(user, "role", "") == "patient",
    }
