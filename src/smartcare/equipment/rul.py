"""Remaining-useful-life model: gradient boosting on rolling-window features.

The same pipeline serves the hospital's equipment (one row per device and day, the day's telemetry
aggregates as sensors) and the NASA C-MAPSS benchmark (one row per engine and cycle), which is how
the method is evaluated (``smartcare equipment rul-eval``).

* Sensors that do not vary in the training data are dropped (they carry no degradation signal).
* For each sensor: the current value, rolling means over several windows, the rolling standard
  deviation and the least-squares slope over the longest window, and an exponentially weighted mean.
  Windows only look back, so a unit's features at cycle t use nothing after t.
* The target is the remaining life capped at ``cap`` (125 cycles is standard for C-MAPSS): early in
  life a unit shows no sign of wear, and a piecewise-linear target is what the data can support.
* scikit-learn's ``HistGradientBoostingRegressor`` (gradient boosting on binned features; fast on
  tens of thousands of rows, no extra dependency).
* Confidence of "fails within N cycles": the residuals of a model fitted on 80% of the units and
  checked on the other 20% give an error spread per predicted-life band; the chance that the true
  life is at most N is read from a normal distribution with that spread.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_CAP = 125
DEFAULT_WINDOWS = (5, 10, 20, 30)
CMAPSS_COLUMNS = ["unit", "cycle", "setting1", "setting2", "setting3"] + [f"s{i}" for i in range(1, 22)]


@contextmanager
def _threads() -> Iterator[None]:
    """OpenMP threads of the gradient boosting (``SMARTCARE_EQUIPMENT_ML_THREADS``, default 1): on a busy
    machine with few cores, spinning OpenMP threads make it ten times slower, not faster."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(os.environ.get("SMARTCARE_EQUIPMENT_ML_THREADS", "1"))):
        yield


def load_cmapss(path: Path) -> pd.DataFrame:
    """One C-MAPSS text file (26 space-separated columns) as a frame."""
    frame = pd.read_csv(path, sep=r"\s+", header=None)
    frame = frame.iloc[:, : len(CMAPSS_COLUMNS)]
    frame.columns = CMAPSS_COLUMNS
    return frame


def benchmark_score(predicted: np.ndarray, actual: np.ndarray) -> float:
    """The PHM08 asymmetric score: late predictions (d > 0) cost more than early ones."""
    d = np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def _slope(values: np.ndarray) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    x = np.arange(n, dtype=float)
    x -= x.mean()
    return float(np.dot(x, values - values.mean()) / np.dot(x, x))


def rolling_features(
    frame: pd.DataFrame, sensors: list[str], windows: tuple[int, ...] = DEFAULT_WINDOWS
) -> pd.DataFrame:
    """Backward-looking features per unit (frame sorted by unit, cycle)."""
    frame = frame.sort_values(["unit", "cycle"]).reset_index(drop=True)
    grouped = frame.groupby("unit", sort=False)
    columns: dict[str, Any] = {"cycle": frame["cycle"].to_numpy(dtype=float)}
    longest = max(windows)
    for sensor in sensors:
        series = grouped[sensor]
        columns[sensor] = frame[sensor].to_numpy(dtype=float)
        for window in windows:
            columns[f"{sensor}_mean{window}"] = (
                series.rolling(window, min_periods=1).mean().reset_index(level=0, drop=True).to_numpy()
            )
        columns[f"{sensor}_std{longest}"] = (
            series.rolling(longest, min_periods=2).std().reset_index(level=0, drop=True).fillna(0).to_numpy()
        )
        columns[f"{sensor}_slope{longest}"] = (
            series.rolling(longest, min_periods=2)
            .apply(_slope, raw=True)
            .reset_index(level=0, drop=True)
            .fillna(0)
            .to_numpy()
        )
        columns[f"{sensor}_ewm"] = series.transform(
            lambda s: s.ewm(alpha=0.1, adjust=False).mean()
        ).to_numpy()
    features = pd.DataFrame(columns)
    features.insert(0, "unit", frame["unit"].to_numpy())
    return features


def remaining_life(frame: pd.DataFrame, cap: int, end_offset: int = 0) -> np.ndarray:
    """Training target: cycles left until the unit's last cycle, capped. ``end_offset``: cycles
    from the last recorded one to the failure (C-MAPSS: 0, the last cycle is the failure; a device
    whose last day of telemetry is the day before it failed: 1)."""
    frame = frame.sort_values(["unit", "cycle"]).reset_index(drop=True)
    last = frame.groupby("unit")["cycle"].transform("max")
    return np.minimum((last - frame["cycle"] + end_offset).to_numpy(dtype=float), cap)


@dataclass
class RulModel:
    """A fitted model with the sensors it uses and its error spread per predicted-life band."""

    sensors: list[str]
    cap: int = DEFAULT_CAP
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    estimator: Any = None
    # (upper bound of the predicted-life band, standard deviation of the error in that band)
    spread: list[tuple[float, float]] = field(default_factory=list)
    trained_units: int = 0
    validation_rmse: float | None = None

    def _matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        return rolling_features(frame, self.sensors, self.windows).drop(columns=["unit"])

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predicted remaining life at the last cycle of every unit in ``frame``."""
        frame = frame.sort_values(["unit", "cycle"]).reset_index(drop=True)
        features = rolling_features(frame, self.sensors, self.windows)
        last = features.groupby("unit", sort=False).tail(1)
        with _threads():
            predicted = np.clip(self.estimator.predict(last.drop(columns=["unit"])), 0, self.cap)
        return pd.DataFrame({"unit": last["unit"].to_numpy(), "rul": predicted})

    def sigma(self, predicted: float) -> float:
        for upper, sd in self.spread:
            if predicted <= upper:
                return sd
        return self.spread[-1][1] if self.spread else self.cap / 4

    def probability_within(self, predicted: float, horizon: float) -> float:
        """Chance that the true remaining life is at most ``horizon`` (normal error model)."""
        sd = max(self.sigma(predicted), 1e-6)
        z = (horizon + 0.5 - predicted) / sd
        return float(0.5 * (1 + math.erf(z / math.sqrt(2))))


def _estimator(seed: int, rows: int) -> Any:
    """40 samples per leaf on benchmark-sized data; fewer on a hospital's few failure histories,
    where the last days before a failure are only a handful of rows."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        learning_rate=0.05,
        max_iter=400,
        max_leaf_nodes=15,
        min_samples_leaf=max(5, min(40, rows // 250)),
        l2_regularization=1.0,
        random_state=seed,
    )


def varying_sensors(frame: pd.DataFrame, candidates: list[str]) -> list[str]:
    return [c for c in candidates if frame[c].std() > 1e-4 * max(1.0, abs(frame[c].mean()))]


def train(
    frame: pd.DataFrame,
    sensors: list[str],
    *,
    cap: int = DEFAULT_CAP,
    windows: tuple[int, ...] = DEFAULT_WINDOWS,
    seed: int = 7,
    calibrate: bool = True,
    end_offset: int = 0,
) -> RulModel:
    """Fit on run-to-failure trajectories (every unit's last row is its failure)."""
    frame = frame.sort_values(["unit", "cycle"]).reset_index(drop=True)
    sensors = varying_sensors(frame, sensors)
    model = RulModel(sensors=sensors, cap=cap, windows=windows)
    features = model._matrix(frame)
    target = remaining_life(frame, cap, end_offset)
    units = frame["unit"].to_numpy()
    unique = np.unique(units)
    model.trained_units = len(unique)
    if calibrate and len(unique) >= 3:
        rng = np.random.default_rng(seed)
        held = set(rng.choice(unique, size=max(1, len(unique) // 5), replace=False).tolist())
        mask = np.array([u in held for u in units])
        with _threads():
            probe = _estimator(seed, int((~mask).sum())).fit(features[~mask], target[~mask])
            predicted = np.clip(probe.predict(features[mask]), 0, cap)
        errors = target[mask] - predicted
        model.validation_rmse = float(np.sqrt(np.mean(errors**2)))
        bands = [cap * f for f in (0.1, 0.2, 0.4, 0.7)] + [float(cap)]
        lower = -1.0
        for upper in bands:
            in_band = (predicted > lower) & (predicted <= upper)
            sd = float(np.std(errors[in_band])) if in_band.sum() >= 10 else model.validation_rmse
            model.spread.append((upper, max(sd, 1.0)))
            lower = upper
    with _threads():
        model.estimator = _estimator(seed, len(target)).fit(features, target)
    return model


def evaluate_cmapss(
    directory: Path, subset: str = "FD001", *, units: int | None = None, cap: int = DEFAULT_CAP
) -> dict[str, Any]:
    """Train on ``train_<subset>.txt``, predict the test units, compare with ``RUL_<subset>.txt``.

    ``units`` limits training and test to the first N units of each (a small slice for tests)."""
    started = time.perf_counter()
    train_frame = load_cmapss(directory / f"train_{subset}.txt")
    test_frame = load_cmapss(directory / f"test_{subset}.txt")
    truth = pd.read_csv(directory / f"RUL_{subset}.txt", sep=r"\s+", header=None).iloc[:, 0].to_numpy()
    if units is not None:
        train_frame = train_frame[train_frame["unit"] <= units]
        test_frame = test_frame[test_frame["unit"] <= units]
        truth = truth[:units]
    sensors = [c for c in CMAPSS_COLUMNS if c.startswith("s") and c != "setting"]
    sensors = [c for c in sensors if not c.startswith("setting")]
    model = train(train_frame, sensors, cap=cap, calibrate=False)
    predicted = model.predict_frame(test_frame).sort_values("unit")["rul"].to_numpy()
    actual = truth[: len(predicted)].astype(float)
    rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
    return {
        "units": len(predicted),
        "rmse": round(rmse, 3),
        "score": round(benchmark_score(predicted, actual), 1),
        "seconds": round(time.perf_counter() - started, 2),
    }
