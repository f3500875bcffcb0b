"""Periodic equipment work: heartbeats, anomalies, failure predictions, preventive orders, pruning."""

from __future__ import annotations

import logging

from django_tasks import task

logger = logging.getLogger("smartcare.equipment")


@task()
def check_heartbeats() -> int:
    from smartcare.equipment import services

    return len(services.check_heartbeats())


@task()
def detect_anomalies() -> int:
    from smartcare.equipment.analytics import raise_anomaly_alerts
    from smartcare.equipment.choices import AssetKind

    return sum(raise_anomaly_alerts(kind) for kind in AssetKind.values)


@task()
def predict_failures() -> int:
    from smartcare.equipment.analytics import predict_kind
    from smartcare.equipment.choices import AssetKind
    from smartcare.equipment.errors import NotEnoughFailureHistory

    made = 0
    for kind in AssetKind.values:
        try:
            made += len(predict_kind(kind))
        except NotEnoughFailureHistory as exc:
            logger.info("%s %s", exc.code, exc.detail)
    return made


@task()
def open_preventive_work_orders() -> int:
    from smartcare.equipment import services

    return services.open_due_preventive_orders()


@task()
def compact_telemetry() -> int:
    from smartcare.equipment import services

    return services.compact_telemetry()
