"""Raising equipment alerts: one open alert per asset, rule and metric; repeats count on it; a new
critical alert (or a warning turning critical) opens a work order for the engineers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import capabilities_of
from smartcare.equipment.choices import AlertRule, AlertStatus, Severity, WorkOrderKind, WorkOrderStatus
from smartcare.equipment.models import Asset, EquipmentAlert, FailurePrediction, WorkOrder
from smartcare.notifications.services import notify

# How long an engineer has for a work order opened by an alert.
DUE_DAYS: dict[str, int] = {Severity.CRITICAL: 1, Severity.WARNING: 3}


def engineers() -> list[User]:
    roles = [role for role in _roles() if "equipment.maintain" in capabilities_of(role)]
    return list(User.objects.filter(role__in=roles, is_active=True).order_by("pk"))


def _roles() -> list[str]:
    from smartcare.accounts.choices import Role

    return [str(r) for r in Role]


def raise_alert(
    asset: Asset,
    *,
    rule: str,
    metric: str,
    severity: str,
    detail: str,
    value: float | None = None,
    limit: float | None = None,
    at: dt.datetime | None = None,
    actor: Any = None,
    prediction: FailurePrediction | None = None,
) -> tuple[EquipmentAlert, bool]:
    """Raise (or repeat) an alert inside the caller's transaction. Returns (alert, is_new_or_upgraded)."""
    now = at or clock.now()
    with transaction.atomic():
        alert = (
            EquipmentAlert.objects.select_for_update()
            .filter(asset=asset, rule=rule, metric=metric, status=AlertStatus.OPEN)
            .first()
        )
        if alert is not None:
            upgraded = alert.severity == Severity.WARNING and severity == Severity.CRITICAL
            alert.repeat_count += 1
            alert.last_seen_at = now
            if upgraded:
                alert.severity = Severity.CRITICAL
                alert.value, alert.limit, alert.detail = value, limit, detail[:300]
            alert.save(update_fields=["repeat_count", "last_seen_at", "severity", "value", "limit", "detail"])
            if upgraded:
                _open_work_order(alert, actor, prediction)
            return alert, upgraded
        alert = EquipmentAlert.objects.create(
            asset=asset,
            rule=rule,
            metric=metric,
            severity=severity,
            value=value,
            limit=limit,
            detail=detail[:300],
            raised_at=now,
            last_seen_at=now,
        )
        record(
            actor,
            AuditAction.CREATE,
            obj=alert,
            detail={"event": "equipment_alert", "asset": asset.pk, "rule": rule, "severity": severity},
        )
        if severity == Severity.CRITICAL or rule in (AlertRule.PREDICTION, AlertRule.HEARTBEAT):
            _open_work_order(alert, actor, prediction)
        return alert, True


def _open_work_order(alert: EquipmentAlert, actor: Any, prediction: FailurePrediction | None) -> WorkOrder:
    asset = alert.asset
    existing = WorkOrder.objects.filter(
        asset=asset, alert=alert, status__in=[WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS]
    ).first()
    if existing is not None:
        return existing
    kind = (
        WorkOrderKind.PREDICTIVE
        if alert.rule in (AlertRule.PREDICTION, AlertRule.ANOMALY)
        else (WorkOrderKind.CORRECTIVE)
    )
    title = _("%(rule)s: %(asset)s") % {"rule": alert.get_rule_display(), "asset": asset.name}
    now = clock.now()
    order = WorkOrder.objects.create(
        asset=asset,
        kind=kind,
        title=title[:200],
        description=alert.detail,
        alert=alert,
        prediction=prediction,
        due_on=(clock.local_now() + dt.timedelta(days=DUE_DAYS.get(alert.severity, 3))).date(),
        opened_at=now,
        opened_by=actor if getattr(actor, "pk", None) else None,
    )
    record(
        actor,
        AuditAction.CREATE,
        obj=order,
        detail={"event": "work_order_opened", "asset": asset.pk, "alert": alert.pk, "kind": kind},
    )
    link = reverse("equipment:work_order", args=[order.pk])
    for engineer in engineers():
        notify(
            engineer,
            category="equipment",
            subject=_("Work order for %(asset)s") % {"asset": asset.name},
            body=f"{alert.get_severity_display()}: {alert.detail}",
            link=link,
        )
    return order


def close_alert(alert: EquipmentAlert, *, at: dt.datetime | None = None) -> None:
    EquipmentAlert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
        status=AlertStatus.CLOSED, closed_at=at or clock.now()
    )
