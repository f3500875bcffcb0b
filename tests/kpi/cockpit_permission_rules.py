"""Permission rules of the operations cockpit (pages under /kpi/, API under /api/kpi/).

``management.cockpit`` (operations managers; department heads for their own department) opens
the cockpit, indicators, actions and the targets page; ``kpi.configure`` (operations managers
only) changes targets and weights and makes quarterly reports. Among the test callers only the
cardiology head has the cockpit; no caller configures, so those routes are 403 for everyone.
``setup`` adds an open action of cardiology and a stored report (written directly)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.core import clock
from smartcare.kpi.models import ActionStatus, ManagementAction, QuarterlyReport, SettingChange
from tests.test_permissions import HEAD, Rule, World

COCKPIT = frozenset({HEAD})
NOBODY: frozenset[str] = frozenset()


def setup(world: World) -> None:
    head = world.h.user("head")
    action = ManagementAction.objects.create(
        code="arrival_wait",
        title="Open a second room on Monday mornings",
        owner=head,
        department=world.h.cardiology,
        due_on=clock.today() + dt.timedelta(days=30),
        created_by=head,
    )
    report = QuarterlyReport.objects.create(
        period="2026-Q1",
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 3, 31),
        html="<html><body>2026-Q1</body></html>",
        pdf=b"%PDF-1.7 test",
    )
    world.extra.update(kpi_action=action, kpi_report=report)


def _indicator(world: World, missing: bool) -> dict[str, Any]:
    return {"code": "nope" if missing else "arrival_wait"}


def _action(world: World, missing: bool) -> dict[str, Any]:
    return {"action_id": world.extra["kpi_action"].pk}


def _report(world: World, missing: bool) -> dict[str, Any]:
    return {"report_id": world.extra["kpi_report"].pk}


def _new_action(world: World, missing: bool) -> dict[str, Any]:
    return {
        "code": "booking_success",
        "title": "Text reminders for telephone bookings",
        "owner": world.h.user("head").pk,
        "due_on": (clock.today() + dt.timedelta(days=60)).isoformat(),
    }


def _recorded(world: World, kind: str, response: Any) -> None:
    assert ManagementAction.objects.filter(title="Text reminders for telephone bookings").exists()


def _closed(world: World, kind: str, response: Any) -> None:
    assert ManagementAction.objects.get(pk=world.extra["kpi_action"].pk).status == ActionStatus.DONE


def _never_changed(world: World, kind: str, response: Any) -> None:
    assert not SettingChange.objects.exists()


RULES: list[Rule] = [
    Rule("GET", "/kpi/", COCKPIT),
    Rule("GET", "/kpi/indicators/{code}/", COCKPIT, params=_indicator),
    Rule("GET", "/kpi/targets/", COCKPIT),
    Rule("POST", "/kpi/targets/", NOBODY, payload=lambda w, m: {"code": "tele_volume", "weight": "0.3"}),
    Rule("GET", "/kpi/actions/", COCKPIT),
    Rule("POST", "/kpi/actions/", COCKPIT, ok=302, payload=_new_action, effect=_recorded),
    Rule(
        "POST",
        "/kpi/actions/{action_id}/close/",
        COCKPIT,
        ok=302,
        params=_action,
        payload=lambda w, m: {"status": "done", "outcome": "Room 2 opens on Mondays"},
        effect=_closed,
    ),
    Rule("GET", "/kpi/reports/", NOBODY),
    Rule("POST", "/kpi/reports/", NOBODY, payload=lambda w, m: {"quarter": "2026-Q1"}),
    Rule("GET", "/kpi/reports/{report_id}/", NOBODY, params=_report),
    Rule("GET", "/kpi/reports/{report_id}/pdf/", NOBODY, params=_report),
    Rule("GET", "/api/kpi/indicators", COCKPIT),
    Rule("GET", "/api/kpi/indicators/{code}/breakdown", COCKPIT, params=_indicator),
    Rule(
        "PATCH", "/api/kpi/settings/{code}", NOBODY, params=_indicator, payload=lambda w, m: {"weight": 0.3}
    ),
    Rule("GET", "/api/kpi/actions", COCKPIT),
    Rule("POST", "/api/kpi/actions", COCKPIT, ok=201, payload=_new_action, effect=_recorded),
]
