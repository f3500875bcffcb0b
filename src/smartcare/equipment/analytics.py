"""Anomaly detection (isolation forest on hourly telemetry) and failure prediction (the RUL model of
``rul`` trained on the hospital's own run-to-failure histories) for each device kind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils.translation import gettext as _

from smartcare.core import clock
from smartcare.equipment import alerts as alerting
from smartcare.equipment import rul
from smartcare.equipment.choices import METRICS, AlertRule, AssetStatus, Severity
from smartcare.equipment.errors import NotEnoughFailureHistory
from smartcare.equipment.models import Asset, FailurePrediction, TelemetryRollup, WorkOrder

ANOMALY_TRAIN_DAYS = 30
ANOMALY_RECENT_HOURS = 3
MIN_TRAIN_HOURS = 48
RUL_CAP_DAYS = 60
RUL_WINDOWS = (3, 7, 14, 21)
MIN_FAILURE_HISTORIES = 3
HORIZON_DAYS = 3
WARN_PROBABILITY = 0.5
CRITICAL_PROBABILITY = 0.8


def _hourly_frame(assets: list[Asset], since: dt.datetime) -> pd.DataFrame:
    rows = TelemetryRollup.objects.filter(asset__in=assets, hour__gte=since).values_list(
        "asset_id", "hour", "metric", "mean"
    )
    frame = pd.DataFrame(list(rows), columns=["asset", "hour", "metric", "mean"])
    if frame.empty:
        return pd.DataFrame(columns=["asset", "hour", *METRICS])
    wide = frame.pivot_table(index=["asset", "hour"], columns="metric", values="mean").reset_index()
    for metric in METRICS:
        if metric not in wide:
            wide[metric] = np.nan
    return wide[["asset", "hour", *METRICS]]


@dataclass
class AnomalyResult:
    asset_id: int
    hour: dt.datetime
    score: float


def find_anomalies(kind: str, *, now: dt.datetime | None = None, seed: int = 7) -> list[AnomalyResult]:
    """Isolation forest on the hourly means of a kind's assets over the last 30 days, each metric
    scaled per asset (devices differ in their normal levels); the last hours are judged against the
    rest. An hour counts as anomalous below the 1% score quantile of the training hours."""
    from sklearn.ensemble import IsolationForest

    now = now or clock.now()
    assets = list(Asset.objects.filter(kind=kind).exclude(status=AssetStatus.RETIRED))
    frame = _hourly_frame(assets, now - dt.timedelta(days=ANOMALY_TRAIN_DAYS))
    metrics = [m for m in METRICS if frame[m].notna().mean() > 0.8] if not frame.empty else []
    if not metrics:
        return []
    frame = frame.dropna(subset=metrics).copy()
    grouped = frame.groupby("asset")[metrics]
    scale = grouped.transform("std").replace(0, 1).fillna(1)
    frame[metrics] = (frame[metrics] - grouped.transform("median")) / scale
    recent_from = now - dt.timedelta(hours=ANOMALY_RECENT_HOURS)
    recent = frame["hour"] >= recent_from
    training = frame[~recent]
    if len(training) < MIN_TRAIN_HOURS or not recent.any():
        return []
    forest = IsolationForest(n_estimators=200, contamination=0.01, random_state=seed)
    forest.fit(training[metrics].to_numpy())
    threshold = float(np.quantile(forest.score_samples(training[metrics].to_numpy()), 0.01))
    scores = forest.score_samples(frame.loc[recent, metrics].to_numpy())
    found = []
    for (_index, row), score in zip(frame[recent].iterrows(), scores, strict=True):
        if score < threshold:
            found.append(AnomalyResult(int(row["asset"]), row["hour"], float(score)))
    return found


def raise_anomaly_alerts(kind: str, *, actor: Any = None, now: dt.datetime | None = None) -> int:
    results = find_anomalies(kind, now=now)
    worst: dict[int, AnomalyResult] = {}
    for result in results:
        if result.asset_id not in worst or result.score < worst[result.asset_id].score:
            worst[result.asset_id] = result
    with transaction.atomic():
        for asset_id, result in worst.items():
            alerting.raise_alert(
                Asset.objects.get(pk=asset_id),
                rule=AlertRule.ANOMALY,
                metric="multivariate",
                severity=Severity.WARNING,
                value=round(result.score, 4),
                detail=f"unusual combination of readings at {result.hour:%Y-%m-%d %H:00} UTC",
                at=now,
                actor=actor,
            )
    return len(worst)


# --- Remaining useful life -----------------------------------------------------------------------


def _daily_frame(assets: list[Asset], until: dt.date) -> pd.DataFrame:
    """Per asset and local day: the day's mean of each metric and the maximum temperature."""
    wide = _hourly_frame(assets, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    if wide.empty:
        return wide
    zone = clock.local_now().tzinfo
    wide["day"] = pd.to_datetime(wide["hour"], utc=True).dt.tz_convert(zone).dt.date
    wide = wide[wide["day"] <= until]
    daily = wide.groupby(["asset", "day"])[METRICS].mean()
    daily["temperature_max"] = wide.groupby(["asset", "day"])["temperature"].max()
    return daily.reset_index().ffill().fillna(0)


SENSORS = [*METRICS, "temperature_max"]


def _failures(assets: list[Asset]) -> dict[int, list[dt.date]]:
    found: dict[int, list[dt.date]] = {}
    for order in WorkOrder.objects.filter(
        asset__in=assets, is_failure=True, downtime_started_at__isnull=False
    ).order_by("downtime_started_at"):
        assert order.downtime_started_at is not None
        found.setdefault(order.asset_id, []).append(
            order.downtime_started_at.astimezone(clock.local_now().tzinfo).date()
        )
    return found


def _trajectories(daily: pd.DataFrame, failures: dict[int, list[dt.date]]) -> pd.DataFrame:
    """Run-to-failure trajectories: each failure with the days since the previous one."""
    pieces = []
    unit = 0
    for asset_id, dates in failures.items():
        rows = daily[daily["asset"] == asset_id]
        start = dt.date.min
        for failed in dates:
            piece = rows[(rows["day"] > start) & (rows["day"] < failed)]
            start = failed
            if len(piece) < 5:
                continue
            unit += 1
            piece = piece.assign(unit=unit, cycle=range(1, len(piece) + 1))
            pieces.append(piece)
    if not pieces:
        return pd.DataFrame()
    return pd.concat(pieces, ignore_index=True)


def _since_last_failure(daily: pd.DataFrame, asset_id: int, failures: list[dt.date]) -> pd.DataFrame:
    rows = daily[daily["asset"] == asset_id]
    if failures:
        rows = rows[rows["day"] > failures[-1]]
    return rows.assign(unit=asset_id, cycle=range(1, len(rows) + 1))


def train_kind(
    kind: str, *, until: dt.date | None = None
) -> tuple[rul.RulModel, list[Asset], pd.DataFrame, dict[int, list[dt.date]]]:
    until = until or clock.today()
    assets = list(Asset.objects.filter(kind=kind))
    daily = _daily_frame(assets, until)
    failures = _failures(assets)
    trajectories = _trajectories(daily, failures) if not daily.empty else pd.DataFrame()
    units = int(trajectories["unit"].nunique()) if not trajectories.empty else 0
    if units < MIN_FAILURE_HISTORIES:
        raise NotEnoughFailureHistory(kind=kind, units=units, needed=MIN_FAILURE_HISTORIES)
    # The last day of a history is the day before the failure (the failure day is down).
    model = rul.train(
        trajectories[["unit", "cycle", *SENSORS]],
        SENSORS,
        cap=RUL_CAP_DAYS,
        windows=RUL_WINDOWS,
        end_offset=1,
    )
    return model, assets, daily, failures


def predict_kind(kind: str, *, actor: Any = None, until: dt.date | None = None) -> list[FailurePrediction]:
    """Train on the kind's failure histories and predict every asset in service; a likely failure
    within ``HORIZON_DAYS`` raises a prediction alert (and so a predictive work order)."""
    model, assets, daily, failures = train_kind(kind, until=until)
    now = clock.now()
    made = []
    with transaction.atomic():
        for asset in assets:
            if asset.status != AssetStatus.IN_SERVICE:
                continue
            current = _since_last_failure(daily, asset.pk, failures.get(asset.pk, []))
            if len(current) < 3:
                continue
            predicted = float(model.predict_frame(current[["unit", "cycle", *SENSORS]])["rul"].iloc[0])
            probability = model.probability_within(predicted, HORIZON_DAYS)
            prediction = FailurePrediction.objects.create(
                asset=asset,
                predicted_at=now,
                rul_days=round(predicted, 1),
                horizon_days=HORIZON_DAYS,
                probability=round(probability, 3),
                trained_units=model.trained_units,
                model_rmse=model.validation_rmse,
            )
            made.append(prediction)
            if probability >= WARN_PROBABILITY:
                alerting.raise_alert(
                    asset,
                    rule=AlertRule.PREDICTION,
                    metric="rul",
                    severity=Severity.CRITICAL if probability >= CRITICAL_PROBABILITY else Severity.WARNING,
                    value=round(predicted, 1),
                    limit=HORIZON_DAYS,
                    detail=_("likely to fail within %(days)s days (confidence %(pct)s%%)")
                    % {"days": HORIZON_DAYS, "pct": round(probability * 100)},
                    actor=actor,
                    prediction=prediction,
                )
    return made
