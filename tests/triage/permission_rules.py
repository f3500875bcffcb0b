"""Permission rules for smart triage: the pages under /triage/ and the API under /api/triage/.

Loaded by tests/test_permissions.py. Triage is public: everyone, signed in or not, may describe a
complaint on the page or through the API, and every triage is recorded under the caller (a patient's
own triage is linked to their record). The kiosk page needs ``triage.kiosk_page`` (kiosk devices and
the front desk). A booking link of a triage record takes anyone to the department's booking page
(which asks for sign-in itself) but remembers the choice only on the caller's own record.

``setup`` gives every signed-in caller a triage record of their own suggesting cardiology.
"""

from __future__ import annotations

from typing import Any

from smartcare.accounts.choices import Role
from smartcare.triage.models import TriageRecord
from tests.test_permissions import ANON, DEVICE, EVERYONE, FRONT_DESK, Rule, World

KIOSK = frozenset({DEVICE, FRONT_DESK})
COMPLAINT = "心慌，有时候胸口闷，走路快了就喘"

assert ANON not in KIOSK


def setup(world: World) -> None:
    world.extra["triage_record"] = TriageRecord.objects.create(
        channel="portal",
        user=world.user,
        language="zh-hans",
        text="心慌",
        status="departments",
        suggested_departments=["03.04", "03.01"],
    )


def _record(world: World, missing: bool) -> dict[str, Any]:
    return {"record_id": world.extra["triage_record"].pk, "code": "03.04"}


def _new_record(world: World) -> TriageRecord:
    record = TriageRecord.objects.exclude(pk=world.extra["triage_record"].pk).get()
    assert record.user == world.user
    role = getattr(world.user, "role", "")
    assert record.patient == (world.h.own_patient if role == Role.PATIENT else None)
    assert record.text == COMPLAINT
    return record


def _triaged(world: World, kind: str, response: Any) -> None:
    record = _new_record(world)
    role = getattr(world.user, "role", "")
    assert record.channel == {Role.DEVICE: "kiosk", Role.FRONT_DESK: "desk"}.get(role, "portal")


def _triaged_at_kiosk(world: World, kind: str, response: Any) -> None:
    assert _new_record(world).channel == "kiosk"


def _triaged_by_api(world: World, kind: str, response: Any) -> None:
    record = _new_record(world)
    assert record.channel == "api"
    assert response.json()["record_id"] == record.pk


def _choice(world: World, kind: str, response: Any) -> None:
    assert response["Location"] == "/booking/department/03.04/"
    record = world.extra["triage_record"]
    record.refresh_from_db()
    # Signed-in callers follow their own record; the anonymous caller's session made none.
    assert record.chosen_department == ("03.04" if kind != ANON else "")


RULES: list[Rule] = [
    Rule("GET", "/triage/", EVERYONE),
    Rule("POST", "/triage/", EVERYONE, payload=lambda w, m: {"text": COMPLAINT}, effect=_triaged),
    Rule("GET", "/triage/kiosk/", KIOSK),
    Rule(
        "POST",
        "/triage/kiosk/",
        KIOSK,
        payload=lambda w, m: {"text": COMPLAINT},
        effect=_triaged_at_kiosk,
    ),
    Rule("GET", "/triage/{record_id}/book/{code}/", EVERYONE, ok=302, params=_record, effect=_choice),
    Rule(
        "POST",
        "/api/triage/",
        EVERYONE,
        payload=lambda w, m: {"text": COMPLAINT},
        effect=_triaged_by_api,
    ),
]
