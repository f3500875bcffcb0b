from __future__ import annotations

from django.db.models import F, Q

from smartcare.scheduling.models import BookingPolicy


def policy_for(department_id: int | None) -> BookingPolicy:
    """The department's booking policy, else the hospital default, else the built-in defaults.
    One query: both candidate rows at once."""
    candidates = Q(department__isnull=True)
    if department_id is not None:
        candidates |= Q(department_id=department_id)
    # The department's own row first, then the newest default: the same answer every time, even
    # if the database ever held two defaults (see migration 0003).
    rows = list(
        BookingPolicy.objects.filter(candidates).order_by(
            F("department_id").asc(nulls_last=True), "-created_at", "-pk"
        )[:2]
    )
    own = next((p for p in rows if department_id is not None and p.department_id == department_id), None)
    default = next((p for p in rows if p.department_id is None), None)
    return own or default or BookingPolicy()
