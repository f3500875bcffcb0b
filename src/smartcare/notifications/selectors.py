from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from smartcare.notifications.models import Notification


def inbox(user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at")


def unread_count(user: Any) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, read_at=None).count()
