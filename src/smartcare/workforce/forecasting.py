"""Workload forecasting per department and half-day, with an honest baseline.

The model is scikit-learn's histogram gradient boosting (Poisson loss, for counts) on calendar
features: half-day, weekday, day of the year, month, Chinese public holidays, adjusted working
days (调休), days to the next and since the last holiday, and the department's recent level (the
mean of the same half-day over 28 days, taken ``horizon`` days back so it is known at the time of
forecasting). The baseline is the seasonal naive forecast: the same half-day of the last observed
week.

Both are backtested on rolling origins: the last ``folds`` windows of ``horizon`` days, each
predicted from the history before it. The mean absolute percentage error (MAPE) is computed over
the half-days with at least one unit of actual workload (it is undefined at zero). The model is
used only where its MAPE beats the baseline's; otherwise the baseline is the forecast.

No database access here: ``services`` reads the history and stores the results.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from smartcare.workforce.calendar import WorkingCalendar

HALF_DAYS = ("am", "pm")
LEVEL_DAYS = 28
HOLIDAY_REACH = 14
MIN_HISTORY_DAYS = 180
FEATURES = (
    "half",
    "weekday",
    "is_weekend",
    "is_holiday",
    "is_adjusted_workday",
    "is_working_day",
    "doy_sin",
    "doy_cos",
    "month",
    "days_to_holiday",
    "days_after_holiday",
    "level",
)


@dataclass
class Backtest:
    mape_model: float | None
    mape_baseline: float | None
    folds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def use_model(self) -> bool:
        return (
            self.mape_model is not None
            and self.mape_baseline is not None
            and self.mape_model < self.mape_baseline
        )


@dataclass
class Forecast:
    dates: list[dt.date]
    half_days: list[str]
    model: list[float]
    baseline: list[float]
    use_model: bool

    @property
    def values(self) -> list[float]:
        return self.model if self.use_model else self.baseline


def grid(history: dict[tuple[dt.date, str], float], first: dt.date, last: dt.date) -> pd.DataFrame:
    """Every half-day from ``first`` to ``last`` with its value (NaN where nothing was recorded)."""
    rows = []
    day = first
    while day <= last:
        for half in HALF_DAYS:
            rows.append((day, half, history.get((day, half), math.nan)))
        day += dt.timedelta(days=1)
    return pd.DataFrame(rows, columns=["date", "half_day", "y"])


def _calendar_columns(frame: pd.DataFrame, calendar: WorkingCalendar) -> pd.DataFrame:
    dates = sorted(set(frame["date"]))
    if not dates:
        return frame
    span_first = dates[0] - dt.timedelta(days=HOLIDAY_REACH)
    span_last = dates[-1] + dt.timedelta(days=HOLIDAY_REACH)
    info = {}
    holiday_days = []
    day = span_first
    while day <= span_last:
        item = calendar.day(day)
        info[day] = item
        if item.is_holiday:
            holiday_days.append(day)
        day += dt.timedelta(days=1)
    holiday_ordinals = np.array([d.toordinal() for d in holiday_days], dtype=np.int64)

    def distance(day: dt.date) -> tuple[int, int]:
        if holiday_ordinals.size == 0:
            return HOLIDAY_REACH, HOLIDAY_REACH
        ordinal = day.toordinal()
        after = holiday_ordinals[holiday_ordinals > ordinal]
        before = holiday_ordinals[holiday_ordinals < ordinal]
        to_next = int(after[0] - ordinal) if after.size else HOLIDAY_REACH
        since = int(ordinal - before[-1]) if before.size else HOLIDAY_REACH
        return min(to_next, HOLIDAY_REACH), min(since, HOLIDAY_REACH)

    per_day = {}
    for day in dates:
        item = info[day]
        to_next, since = distance(day)
        doy = day.timetuple().tm_yday
        per_day[day] = (
            day.weekday(),
            int(day.weekday() >= 5),
            int(item.is_holiday),
            int(item.is_adjusted_workday),
            int(item.is_working_day),
            math.sin(2 * math.pi * doy / 365.25),
            math.cos(2 * math.pi * doy / 365.25),
            day.month,
            0 if item.is_holiday else to_next,
            0 if item.is_holiday else since,
        )
    columns = list(zip(*(per_day[d] for d in frame["date"]), strict=True))
    names = (
        "weekday",
        "is_weekend",
        "is_holiday",
        "is_adjusted_workday",
        "is_working_day",
        "doy_sin",
        "doy_cos",
        "month",
        "days_to_holiday",
        "days_after_holiday",
    )
    out = frame.copy()
    for name, values in zip(names, columns, strict=True):
        out[name] = list(values)
    out["half"] = (out["half_day"] == "pm").astype(int)
    return out


def _levels(values: np.ndarray, lag_days: int) -> np.ndarray:
    """Per row: the mean of the same half-day over the 28 days ending ``lag_days`` days earlier."""
    n = values.size
    level = np.full(n, np.nan)
    step = 2  # two half-days per day
    for i in range(n):
        end = i - lag_days * step
        if end < 0:
            continue
        window = values[max(0, end - (LEVEL_DAYS - 1) * step) : end + 1 : step]
        window = window[~np.isnan(window)]
        if window.size:
            level[i] = window.mean()
    return level


def features(frame: pd.DataFrame, calendar: WorkingCalendar, lag_days: int) -> pd.DataFrame:
    out = _calendar_columns(frame, calendar)
    out["level"] = _levels(out["y"].to_numpy(dtype=float), lag_days)
    return out


def seasonal_naive(frame: pd.DataFrame, origin: int, targets: np.ndarray) -> np.ndarray:
    """Same half-day of the last observed week: row ``t`` takes row ``t - 14k`` with the smallest
    k that reaches back to the origin (the last known row) or before it."""
    values = frame["y"].to_numpy(dtype=float)
    out = np.empty(targets.size)
    for n, t in enumerate(targets):
        k = max(1, math.ceil((t - origin) / 14))
        source = t - 14 * k
        value = values[source] if source >= 0 else math.nan
        while math.isnan(value) and source - 14 >= 0:
            source -= 14
            value = values[source]
        out[n] = 0.0 if math.isnan(value) else value
    return out


def _fit(train: pd.DataFrame, seed: int = 0) -> HistGradientBoostingRegressor:
    model = HistGradientBoostingRegressor(
        loss="poisson",
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=15,
        min_samples_leaf=10,
        l2_regularization=1.0,
        random_state=seed,
    )
    rows = train.dropna(subset=["y", "level"])
    # One thread: OpenMP threads spin while waiting and crawl on a busy shared machine, and the
    # data is small enough that more threads would not help.
    with threadpool_limits(limits=1):
        model.fit(rows[list(FEATURES)].to_numpy(dtype=float), rows["y"].to_numpy(dtype=float))
    return model


def _predict(model: HistGradientBoostingRegressor, rows: pd.DataFrame) -> np.ndarray:
    matrix = rows[list(FEATURES)].to_numpy(dtype=float)
    with threadpool_limits(limits=1):
        return np.clip(model.predict(matrix), 0, None)


def mape(actual: np.ndarray, predicted: np.ndarray) -> float | None:
    """Mean absolute percentage error (in %) over the points with an actual value of at least 1."""
    mask = ~np.isnan(actual) & (actual >= 1)
    if not mask.any():
        return None
    return float(np.mean(np.abs(actual[mask] - predicted[mask]) / actual[mask]) * 100)


def backtest(frame: pd.DataFrame, calendar: WorkingCalendar, horizon_days: int, folds: int) -> Backtest:
    data = features(frame, calendar, horizon_days)
    n = len(data)
    step = horizon_days * 2
    actual_all, model_all, baseline_all = [], [], []
    details = []
    for fold in range(folds, 0, -1):
        test_start = n - fold * step
        test_end = test_start + step
        if test_start <= step:
            continue
        train = data.iloc[:test_start]
        if train.dropna(subset=["y", "level"]).shape[0] < 60:
            continue
        test = data.iloc[test_start:test_end]
        model = _fit(train)
        predicted = _predict(model, test.fillna({"level": train["y"].mean()}))
        baseline = seasonal_naive(data, test_start - 1, np.arange(test_start, test_end))
        actual = test["y"].to_numpy(dtype=float)
        details.append(
            {
                "from": str(test["date"].iloc[0]),
                "to": str(test["date"].iloc[-1]),
                "mape_model": mape(actual, predicted),
                "mape_baseline": mape(actual, baseline),
            }
        )
        actual_all.append(actual)
        model_all.append(predicted)
        baseline_all.append(baseline)
    if not actual_all:
        return Backtest(None, None, details)
    actual = np.concatenate(actual_all)
    return Backtest(
        mape(actual, np.concatenate(model_all)), mape(actual, np.concatenate(baseline_all)), details
    )


def forecast(frame: pd.DataFrame, calendar: WorkingCalendar, horizon_days: int, use_model: bool) -> Forecast:
    """The next ``horizon_days`` after the last row of ``frame``, by model and by baseline."""
    last_date = frame["date"].iloc[-1]
    future = grid({}, last_date + dt.timedelta(days=1), last_date + dt.timedelta(days=horizon_days))
    combined = pd.concat([frame, future], ignore_index=True)
    data = features(combined, calendar, horizon_days)
    origin = len(frame) - 1
    targets = np.arange(len(frame), len(combined))
    baseline = seasonal_naive(combined, origin, targets)
    history = data.iloc[: len(frame)]
    model_values = _predict(_fit(history), data.iloc[len(frame) :].fillna({"level": history["y"].mean()}))
    return Forecast(
        dates=list(future["date"]),
        half_days=list(future["half_day"]),
        model=[round(float(v), 2) for v in model_values],
        baseline=[round(float(v), 2) for v in baseline],
        use_model=use_model,
    )
