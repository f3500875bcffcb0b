"""The anomaly detector, the remaining-useful-life model on the hospital's own failure histories,
and `smartcare equipment rul-eval` on a small slice of C-MAPSS FD001."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from smartcare.core import clock
from smartcare.equipment import analytics, rul
from smartcare.equipment.choices import AlertRule, WorkOrderKind
from smartcare.equipment.errors import NotEnoughFailureHistory
from smartcare.equipment.models import Asset, EquipmentAlert, FailurePrediction, TelemetryRollup, WorkOrder
from tests.equipment.conftest import Registered

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")

CMAPSS = Path(__file__).resolve().parents[3] / "shared" / "data" / "cmapss"
if not CMAPSS.exists():
    CMAPSS = Path("/work/shared/data/cmapss")


def _asset(h: Any, kind: str, serial: str) -> Asset:
    return Asset.objects.create(
        kind=kind,
        name=serial,
        maker="M",
        model_name="X",
        serial_number=serial,
        department=h.cardiology,
        uid=serial[-12:].rjust(12, "0"),
    )


def _rollups(asset: Asset, hour: dt.datetime, values: dict[str, float]) -> list[TelemetryRollup]:
    return [
        TelemetryRollup(asset=asset, metric=m, hour=hour, count=60, mean=v, minimum=v, maximum=v)
        for m, v in values.items()
    ]


def test_isolation_forest_flags_an_unusual_combination_only(ct: Registered) -> None:
    rng = random.Random(5)
    now = clock.now().replace(minute=0, second=0, microsecond=0)
    first = _asset(ct.h, "ventilator", "VENT-A")
    second = _asset(ct.h, "ventilator", "VENT-B")
    rows = []
    for asset, base in ((first, 35.0), (second, 33.0)):
        for n in range(240, 0, -1):
            load = rng.gauss(50, 5)
            values = {
                "temperature": base + 0.05 * load + rng.gauss(0, 0.3),
                "voltage": rng.gauss(230, 1.5),
                "current": 600 + 8 * load + rng.gauss(0, 15),
                "load": load,
            }
            if asset is first and n <= 2:  # high current with a light load: each value is normal
                values = {"temperature": base + 2.6, "voltage": 230, "current": 1150, "load": 22}
            rows += _rollups(asset, now - dt.timedelta(hours=n - 1), values)
    TelemetryRollup.objects.bulk_create(rows)
    results = analytics.find_anomalies("ventilator", now=now + dt.timedelta(minutes=30))
    assert {r.asset_id for r in results} == {first.pk}
    assert analytics.raise_anomaly_alerts("ventilator", now=now + dt.timedelta(minutes=30)) == 1
    alert = EquipmentAlert.objects.get(rule=AlertRule.ANOMALY)
    assert (alert.asset_id, alert.severity) == (first.pk, "warning")


def _degrading_history(asset: Asset, start: dt.date, days: int, rng: random.Random) -> list[TelemetryRollup]:
    """Daily telemetry of a tube wearing out over ``days``: temperature and current drift up."""
    rows = []
    zone = clock.local_now().tzinfo
    for d in range(days):
        left = days - d
        wear = math.exp(-left / 6)
        moment = dt.datetime.combine(start + dt.timedelta(days=d), dt.time(12), tzinfo=zone)
        rows += _rollups(
            asset,
            moment,
            {
                "temperature": 32 + 9 * wear + rng.gauss(0, 0.4),
                "voltage": 230 + rng.gauss(0, 1),
                "current": 300 + 120 * wear + rng.gauss(0, 5),
                "load": 55 + rng.gauss(0, 4),
            },
        )
    return rows


def test_rul_model_trained_on_failures_warns_ahead_with_confidence(ct: Registered) -> None:
    rng = random.Random(11)
    today = clock.today()
    zone = clock.local_now().tzinfo
    rows = []
    fleet = [_asset(ct.h, "ct", f"CT-H{n}") for n in range(3)]
    for n, asset in enumerate(fleet):
        cursor = today - dt.timedelta(days=200 + 7 * n)
        for length in (45 + 5 * n, 38 + 3 * n):
            rows += _degrading_history(asset, cursor, length, rng)
            failed = cursor + dt.timedelta(days=length)
            WorkOrder.objects.create(
                asset=asset,
                kind=WorkOrderKind.CORRECTIVE,
                title="tube failure",
                due_on=failed,
                opened_at=dt.datetime.combine(failed, dt.time(9), tzinfo=zone),
                downtime_started_at=dt.datetime.combine(failed, dt.time(9), tzinfo=zone),
                downtime_ended_at=dt.datetime.combine(failed, dt.time(17), tzinfo=zone),
                is_failure=True,
                status="done",
            )
            cursor = failed + dt.timedelta(days=1)
    # CT 1 is two days from the end of a similar history now; the new one is healthy.
    rows += _degrading_history(ct.asset, today - dt.timedelta(days=38), 40, rng)[: 38 * 4]
    healthy = _asset(ct.h, "ct", "CT-NEW")
    for d in range(20):
        moment = dt.datetime.combine(today - dt.timedelta(days=20 - d), dt.time(12), tzinfo=zone)
        rows += _rollups(
            healthy,
            moment,
            {"temperature": 32.0 + rng.gauss(0, 0.4), "voltage": 230, "current": 300, "load": 55},
        )
    TelemetryRollup.objects.bulk_create(rows)

    made = {p.asset_id: p for p in analytics.predict_kind("ct", until=today)}
    failing, fine = made[ct.asset.pk], made[healthy.pk]
    assert failing.rul_days < 8 < fine.rul_days
    assert failing.probability >= 0.5 > fine.probability
    assert failing.trained_units == 6
    alert = EquipmentAlert.objects.get(asset=ct.asset, rule=AlertRule.PREDICTION)
    order = WorkOrder.objects.get(asset=ct.asset, alert=alert)
    assert (order.kind, order.prediction_id) == (WorkOrderKind.PREDICTIVE, failing.pk)
    assert "3 days" in alert.detail
    assert not EquipmentAlert.objects.filter(asset=healthy, rule=AlertRule.PREDICTION).exists()


def test_rul_needs_failure_histories(ct: Registered) -> None:
    with pytest.raises(NotEnoughFailureHistory) as caught:
        analytics.predict_kind("ct")
    assert caught.value.code == "EQ-009"
    out = io.StringIO()
    call_command("equipment", "predict", stdout=out)  # the periodic job skips that type
    assert json.loads(out.getvalue()) == {"predictions": 0}
    assert not FailurePrediction.objects.exists()


def test_benchmark_score_is_asymmetric() -> None:
    late = rul.benchmark_score(np.array([110.0]), np.array([100.0]))
    early = rul.benchmark_score(np.array([90.0]), np.array([100.0]))
    assert late == pytest.approx(math.e - 1)
    assert early == pytest.approx(math.exp(10 / 13) - 1)
    assert late > early


def test_rolling_features_only_look_back() -> None:
    frame = rul.load_cmapss(CMAPSS / "train_FD001.txt")
    unit = frame[frame["unit"] == 1]
    full = rul.rolling_features(unit, ["s2", "s7"])
    cut = rul.rolling_features(unit.iloc[:50], ["s2", "s7"])
    assert np.allclose(full.iloc[:50].to_numpy(dtype=float), cut.to_numpy(dtype=float))


@pytest.mark.skipif(not CMAPSS.exists(), reason="C-MAPSS data not available")
def test_rul_eval_command_on_a_small_slice() -> None:
    out = io.StringIO()
    call_command("equipment", "rul-eval", str(CMAPSS), "--units", "12", stdout=out)
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(result) == {"units", "rmse", "score", "seconds"}
    assert result["units"] == 12
    assert 0 < result["rmse"] < 60  # trained on 12 engines only; the full benchmark is in docs
    assert result["score"] > 0


def test_rul_eval_refuses_a_directory_without_the_data(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="EQ-010"):
        call_command("equipment", "rul-eval", str(tmp_path))
