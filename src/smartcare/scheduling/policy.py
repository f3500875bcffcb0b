from __future__ import annotations

from smartcare.scheduling.models import BookingPolicy


def policy_for(department_id: int | None) -> BookingPolicy:
    """The department's booking policy, else the hospital default, else the built-in defaults."""
    if department_id is not None:
        own = BookingPolicy.objects.filter(department_id=department_id).first()
        if own is not None:
            return own
    default = BookingPolicy.objects.filter(department__isnull=True).first()
    return default or BookingPolicy()
