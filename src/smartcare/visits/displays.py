"""Waiting-room displays are opened with a signed token naming a department (no sign-in on the
screen itself). Tokens are made by staff on the displays page, expire after SMARTCARE_DISPLAY_TOKEN_DAYS, and can all
be revoked at once by rotating SMARTCARE_SECRET_KEY."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing

from smartcare.core import clock

SALT = "smartcare.visits.display"


def make_token(department_id: int) -> str:
    return signing.dumps({"department": department_id}, salt=SALT, compress=True)


def department_for_token(token: str) -> int | None:
    try:
        data = signing.loads(
            token, salt=SALT, max_age=dt.timedelta(days=settings.SMARTCARE_DISPLAY_TOKEN_DAYS)
        )
    except signing.BadSignature:
        return None
    value = data.get("department") if isinstance(data, dict) else None
    return int(value) if isinstance(value, int) else None


def sessions_for_token(token: str) -> list[int] | None:
    from smartcare.scheduling.models import ClinicSession

    department_id = department_for_token(token)
    if department_id is None:
        return None
    return list(
        ClinicSession.objects.filter(department_id=department_id, date=clock.local_now().date())
        .order_by("starts_at")
        .values_list("pk", flat=True)
    )
