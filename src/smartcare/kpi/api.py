"""kpi API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

router = Router(tags=["kpi"])


# --- cockpit -------------------------------------------------------------------------------------
# The indicators of a period with their targets, status and the weighted score; one indicator's
# breakdown; target and weight changes; management actions. Same services, permissions and audit
# as the pages.


class SettingIn(Schema):
    target: float | None = None
    target_high: float | None = None
    at_risk_margin: float | None = None
    weight: float | None = None
    baseline_year: int | None = None
    reason: str = Field(default="", max_length=300)


class ActionIn(Schema):
    code: str = Field(max_length=40)
    title: str = Field(max_length=200)
    owner: int
    due_on: dt.date
    department: int | None = None


class ActionOut(Schema):
    id: int
    code: str
    title: str
    owner: str
    due_on: dt.date
    status: str
    department: str | None


def _action_out(action: Any) -> dict[str, Any]:
    return {
        "id": action.pk,
        "code": action.code,
        "title": action.title,
        "owner": action.owner.get_username(),
        "due_on": action.due_on,
        "status": action.status,
        "department": action.department.national_code_id if action.department_id else None,
    }


@router.get("/indicators", summary="Every indicator of a period with value, target, status and the score")
def indicators(request: HttpRequest, period: str = "", department: str = "") -> dict[str, Any]:
    from smartcare.kpi import selectors
    from smartcare.kpi.periods import parse_period

    scope = selectors.scope_for(request.user, department or None)
    chosen = parse_period(period) if period else selectors.default_period()
    return selectors.evaluate(chosen, scope).as_dict()


@router.get(
    "/indicators/{code}/breakdown",
    summary="One indicator broken down by department, hour, doctor, channel or case",
)
def breakdown(
    request: HttpRequest, code: str, by: str = "", period: str = "", department: str = ""
) -> dict[str, Any]:
    from smartcare.kpi import selectors
    from smartcare.kpi.indicators import get
    from smartcare.kpi.periods import parse_period

    scope = selectors.scope_for(request.user, department or None)
    chosen = parse_period(period) if period else selectors.default_period()
    indicator = get(code)
    if not by:
        by = next((d for d in indicator.drilldowns if scope is None or d != "department"), "")
    result = selectors.drill_down(request.user, indicator, by, chosen, scope)
    return {
        "by": result.by,
        "title": result.title,
        "columns": result.columns,
        "rows": result.rows,
        "note": result.note,
    }


@router.patch(
    "/settings/{code}", summary="Change an indicator's target, thresholds, score weight or baseline year"
)
def update_setting(request: HttpRequest, code: str, payload: SettingIn) -> dict[str, Any]:
    from smartcare.kpi import services

    changes = payload.dict(exclude_unset=True)
    reason = changes.pop("reason", "")
    setting = services.update_setting(request.user, code, changes, reason)
    return {f: getattr(setting, f) for f in ("code", *services.SETTING_FIELDS)}


@router.get("/actions", response=list[ActionOut], summary="Management actions")
def list_actions(request: HttpRequest) -> list[dict[str, Any]]:
    from smartcare.core.permissions import require_capability
    from smartcare.kpi import selectors

    require_capability(request.user, "management.cockpit")
    return [_action_out(a) for a in selectors.actions_for(request.user)]


@router.post("/actions", response={201: ActionOut}, summary="Record a management action")
def create_action(request: HttpRequest, payload: ActionIn) -> tuple[int, dict[str, Any]]:
    from smartcare.kpi import services

    action = services.create_action(
        request.user,
        code=payload.code,
        title=payload.title,
        owner_id=payload.owner,
        due_on=payload.due_on,
        department_id=payload.department,
    )
    return 201, _action_out(action)


# --- end cockpit ---


# --- quality ---
from smartcare.kpi.quality_api import router as quality_router  # noqa: E402

router.add_router("/quality/", quality_router)
# --- end quality ---
