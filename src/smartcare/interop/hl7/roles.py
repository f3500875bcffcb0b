"""HL7 interface capabilities, and what a connected system may see.

A connected system (HIS, LIS, RIS) is an external-channel machine identity registered by the IT
administrator. It is one of the hospital's own systems of record: it registers and updates any
patient and reports results for any patient, so while its registration is active it sees every
patient (for the demographic and update actions an external channel has). Every read and write it
causes is audited under its identity. An external channel that is not a registered system keeps
seeing only the patients bound to it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from smartcare.accounts.choices import Role
from smartcare.core.permissions import grant

grant("interop.hl7.send", Role.CHANNEL)
grant("interop.hl7.monitor", Role.IT_ADMIN)


def connected_system_visibility(user: Any) -> Q | None:
    if getattr(user, "role", "") != Role.CHANNEL:
        return None
    from smartcare.interop.models import ConnectedSystem

    if ConnectedSystem.objects.filter(user=user, is_active=True).exists():
        # Not Q(): an empty Q vanishes when OR-ed with the channel's own (bound patients) rule.
        return Q(pk__isnull=False)
    return None
