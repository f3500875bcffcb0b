"""A device's machine identity sees the one patient it is paired with, and nobody else."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from smartcare.accounts.choices import Role


def device_visibility(user: Any) -> Q | None:
    if getattr(user, "role", "") != Role.DEVICE:
        return None
    from smartcare.monitoring.choices import DeviceStatus
    from smartcare.monitoring.models import Device

    return Q(
        pk__in=Device.objects.filter(identity=user, status=DeviceStatus.ACTIVE, patient__isnull=False).values(
            "patient_id"
        )
    )
