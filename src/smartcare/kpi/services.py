"""Writes of the operations cockpit: indicator settings (targets, thresholds, weights, baseline
year) with their history, management actions, fact backfills. Every write is atomic, checks the
caller's capability and is audited."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from smartcare.accounts.choices import Role
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.kpi import facts
from smartcare.kpi.errors import ActionClosed, InvalidAction, InvalidSetting, UnknownDepartment
from smartcare.kpi.indicators import get
from smartcare.kpi.models import ActionStatus, IndicatorSetting, ManagementAction, SettingChange
from smartcare.kpi.selectors import sees_hospital, visible_departments

SETTING_FIELDS = ("target", "target_high", "at_risk_margin", "weight", "baseline_year")


def _number(field: str, value: Any) -> float | int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidSetting(problem=_("%(field)s is not a number") % {"field": field}, field=field) from None
    if not math.isfinite(number):
        raise InvalidSetting(problem=_("%(field)s is not a number") % {"field": field}, field=field)
    if field == "baseline_year":
        if number != int(number) or not 2000 <= number <= 2100:
            raise InvalidSetting(
                problem=_("the baseline year must be a year between 2000 and 2100"), field=field
            )
        return int(number)
    if field == "weight" and not 0 <= number <= 1:
        raise InvalidSetting(problem=_("a weight is between 0 and 1"), field=field)
    if field == "at_risk_margin" and not 0 <= number <= 1:
        raise InvalidSetting(problem=_("the at-risk margin is between 0 and 1"), field=field)
    if field in ("target", "target_high") and number < 0:
        raise InvalidSetting(problem=_("%(field)s cannot be negative") % {"field": field}, field=field)
    return number


def _text(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@transaction.atomic
def update_setting(user: Any, code: str, changes: dict[str, Any], reason: str = "") -> IndicatorSetting:
    """Change an indicator's target, thresholds, score weight or baseline year (an empty value
    returns to the plan's default). Every changed field is written to the history and audited;
    nothing is written when any value is invalid (KPI-003)."""
    require_capability(user, "kpi.configure")
    indicator = get(code)
    unknown = set(changes) - set(SETTING_FIELDS)
    if unknown:
        raise InvalidSetting(problem=_("unknown field %(field)s") % {"field": sorted(unknown)[0]})
    values = {f: _number(f, v) for f, v in changes.items()}
    if indicator.baseline_change is not None and values.get("target") is not None:
        raise InvalidSetting(
            problem=_("this indicator's target comes from its baseline year"), field="target"
        )
    setting, _created = IndicatorSetting.objects.select_for_update().get_or_create(code=indicator.code)
    high = values.get("target_high", setting.target_high)
    low = values.get("target", setting.target)
    if high is not None and low is not None and high < low:
        raise InvalidSetting(problem=_("the upper target is below the target"), field="target_high")
    changed = []
    for field_name, value in values.items():
        old = getattr(setting, field_name)
        if old == value:
            continue
        setattr(setting, field_name, value)
        changed.append(
            SettingChange(
                code=indicator.code,
                field=field_name,
                old_value=_text(old),
                new_value=_text(value),
                reason=reason[:300],
                changed_by=user,
            )
        )
    if changed:
        setting.updated_by = user
        setting.save()
        SettingChange.objects.bulk_create(changed)
        record(
            user,
            AuditAction.UPDATE,
            obj=setting,
            reason=reason[:300],
            detail={
                "indicator": indicator.code,
                "changes": {c.field: [c.old_value, c.new_value] for c in changed},
            },
        )
        cache.delete_many([f"kpi:baseline:{indicator.code}:{y}:None" for y in range(2000, 2101)])
    return setting


@transaction.atomic
def create_action(
    user: Any,
    *,
    code: str,
    title: str,
    owner_id: Any,
    due_on: Any,
    department_id: Any = None,
    report: Any = None,
) -> ManagementAction:
    """Record a management action about an indicator with its owner and due date. Department
    heads record actions for their own department."""
    require_capability(user, "management.cockpit")
    indicator = get(code)
    title = (title or "").strip()
    if not title:
        raise InvalidAction(problem=_("the action needs a title"), field="title")
    if len(title) > 200:
        raise InvalidAction(problem=_("the title is longer than 200 characters"), field="title")
    if isinstance(due_on, str):
        try:
            due_on = dt.date.fromisoformat(due_on)
        except ValueError:
            raise InvalidAction(problem=_("the due date is not a date"), field="due_on") from None
    if not isinstance(due_on, dt.date):
        raise InvalidAction(problem=_("the due date is missing"), field="due_on")
    owner = (
        get_user_model()
        .objects.filter(
            pk=int(owner_id) if str(owner_id).isdigit() else 0,
            is_active=True,
            role__in=(Role.OPERATIONS_MANAGER, Role.DEPARTMENT_HEAD),
        )
        .first()
    )
    if owner is None:
        raise InvalidAction(
            problem=_("the owner must be an operations manager or department head"), field="owner"
        )
    department = None
    allowed = {d.pk: d for d in visible_departments(user)}
    if department_id not in (None, ""):
        department = allowed.get(int(department_id)) if str(department_id).isdigit() else None
        if department is None:
            raise UnknownDepartment(department=str(department_id)[:40])
    elif not sees_hospital(user):
        if not allowed:
            raise UnknownDepartment(department="-")
        department = next(iter(allowed.values()))
    action = ManagementAction.objects.create(
        code=indicator.code,
        department=department,
        title=title,
        owner=owner,
        due_on=due_on,
        created_by=user,
        report=report,
    )
    record(
        user,
        AuditAction.CREATE,
        obj=action,
        detail={"indicator": indicator.code, "owner": owner.pk, "due_on": due_on.isoformat()},
    )
    return action


@transaction.atomic
def close_action(user: Any, action_id: Any, status: str, outcome: str = "") -> ManagementAction:
    """Mark an action done or dropped, with what came of it."""
    require_capability(user, "management.cockpit")
    from smartcare.kpi.selectors import actions_for

    if status not in (ActionStatus.DONE, ActionStatus.DROPPED):
        raise InvalidAction(problem=_("an action is closed as done or dropped"), field="status")
    allowed = {a.pk for a in actions_for(user)}
    action = (
        ManagementAction.objects.select_for_update()
        .filter(pk=int(action_id) if str(action_id).isdigit() else 0)
        .first()
    )
    if action is None or action.pk not in allowed:
        from smartcare.core.errors import NotFound

        raise NotFound()
    if action.status != ActionStatus.OPEN:
        raise ActionClosed()
    action.status = status
    action.outcome = (outcome or "").strip()[:500]
    action.closed_at = clock.now()
    action.save(update_fields=["status", "outcome", "closed_at", "updated_at"])
    record(user, AuditAction.UPDATE, obj=action, detail={"status": status})
    return action


def backfill(user: Any, start: dt.date, end: dt.date) -> int:
    """Recompute the daily facts of a date range (operators: the command line; managers: the page)."""
    rows = facts.build_facts(start, end)
    record(
        user,
        AuditAction.SYSTEM,
        actor_username="kpi-backfill" if user is None else "",
        detail={
            "event": "kpi facts computed",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "rows": rows,
        },
    )
    return rows
