"""Kiosks act for the patient whose one code was just scanned, and only for a few minutes."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from smartcare.accounts.choices import Role
from smartcare.core import clock


def kiosk_visibility(user: Any) -> Q | None:
    if getattr(user, "role", "") != Role.DEVICE:
        return None
    from smartcare.visits.models import KioskPresence

    return Q(pk__in=KioskPresence.objects.filter(kiosk=user, expires_at__gt=clock.now()).values("patient_id"))
