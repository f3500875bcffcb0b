"""Forecasting: the Chinese working calendar, the seasonal naive baseline, MAPE, the backtest of
the gradient boosting model against the baseline, and the stored forecast of a department."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
import pytest

from smartcare.simulation.workload_patterns import generate
from smartcare.workforce import forecasting, services
from smartcare.workforce.calendar import WorkingCalendar
from smartcare.workforce.choices import ForecastMethod
from smartcare.workforce.errors import NotEnoughHistory
from smartcare.workforce.models import CalendarOverride, ForecastPoint
from tests.workforce.world import add_history

LAST = dt.date(2026, 10, 31)


def test_calendar_knows_holidays_and_adjusted_working_days() -> None:
    calendar = WorkingCalendar()
    spring = calendar.day(dt.date(2024, 2, 12))  # Spring Festival, a Monday
    assert spring.is_holiday and not spring.is_working_day
    swapped = calendar.day(dt.date(2024, 2, 4))  # a Sunday worked in exchange
    assert swapped.is_adjusted_workday and swapped.is_working_day and not swapped.is_holiday
    assert calendar.day(dt.date(2025, 9, 28)).is_adjusted_workday  # Sunday before National Day
    assert calendar.day(dt.date(2026, 10, 10)).is_adjusted_workday
    ordinary = calendar.day(dt.date(2026, 3, 7))  # a Saturday
    assert not ordinary.is_working_day and not ordinary.is_holiday


def test_operator_overrides_win(db: Any) -> None:
    CalendarOverride.objects.create(date=dt.date(2027, 2, 7), kind="workday", name="春节调休")
    CalendarOverride.objects.create(date=dt.date(2027, 2, 8), kind="holiday", name="春节")
    calendar = WorkingCalendar.from_database()
    assert calendar.day(dt.date(2027, 2, 7)).is_adjusted_workday
    assert calendar.day(dt.date(2027, 2, 8)).is_holiday


def test_seasonal_naive_repeats_the_last_observed_week() -> None:
    history = {}
    day = dt.date(2026, 1, 5)
    for n in range(21):
        for half, extra in (("am", 0), ("pm", 100)):
            history[(day + dt.timedelta(days=n), half)] = float(n + extra)
    frame = forecasting.grid(history, day, day + dt.timedelta(days=34))  # two weeks to predict
    origin = 2 * 21 - 1
    predicted = forecasting.seasonal_naive(frame, origin, np.arange(origin + 1, origin + 29))
    # Day 21 (a Monday) takes day 14; day 28 takes day 14 too (the last observed Monday).
    assert predicted[0] == 14.0 and predicted[1] == 114.0
    assert predicted[14] == 14.0
    assert predicted[13 * 2] == 20.0  # the Sunday of the second week: day 20


def test_mape_skips_zero_actuals() -> None:
    actual = np.array([10.0, 0.0, 20.0, np.nan])
    predicted = np.array([12.0, 5.0, 10.0, 3.0])
    assert forecasting.mape(actual, predicted) == pytest.approx((20 + 50) / 2)
    assert forecasting.mape(np.array([0.0]), np.array([1.0])) is None


def _frame(code: str, metric: str, days: int = 730, seed: int = 7) -> Any:
    rows = generate(code, LAST - dt.timedelta(days=days - 1), LAST, random.Random(seed))
    history = {(r["date"], r["half_day"]): float(r[metric]) for r in rows}
    return forecasting.grid(history, LAST - dt.timedelta(days=days - 1), LAST)


def test_backtest_model_beats_the_baseline_where_holidays_matter() -> None:
    """Two years of outpatient visits with the National Day week in the last backtest window."""
    result = forecasting.backtest(_frame("03.04", "outpatient_visits"), WorkingCalendar(), 28, 4)
    assert len(result.folds) == 4
    assert result.mape_model is not None and result.mape_baseline is not None
    assert result.mape_model < result.mape_baseline
    assert result.use_model


def test_the_baseline_is_kept_when_the_model_does_not_beat_it() -> None:
    """A pure weekly pattern: the seasonal naive forecast is exact, the model cannot beat it."""
    first = LAST - dt.timedelta(days=400)
    history = {}
    for n in range(401):
        day = first + dt.timedelta(days=n)
        for half in ("am", "pm"):
            history[(day, half)] = float(10 + 3 * day.weekday() + (5 if half == "am" else 0))
    result = forecasting.backtest(forecasting.grid(history, first, LAST), WorkingCalendar(), 28, 3)
    assert result.mape_baseline == 0
    assert not result.use_model
    forecast = forecasting.forecast(
        forecasting.grid(history, first, LAST), WorkingCalendar(), 14, result.use_model
    )
    assert forecast.values == forecast.baseline
    assert forecast.values[0] == history[(LAST - dt.timedelta(days=6), "am")]


def test_train_forecast_stores_the_backtest_and_the_points(hospital: Any) -> None:
    add_history(hospital.cardiology, LAST, 400)
    run = services.train_forecast(
        hospital.user("head"), hospital.cardiology, "inpatients", horizon_days=14, folds=3
    )
    assert run.history_to == LAST and run.horizon_days == 14
    assert run.mape_model is not None and run.mape_baseline is not None
    expected = ForecastMethod.MODEL if run.mape_model < run.mape_baseline else ForecastMethod.BASELINE
    assert run.method == expected
    points = list(ForecastPoint.objects.filter(run=run))
    assert len(points) == 28
    assert points[0].date == LAST + dt.timedelta(days=1)
    chosen = "model_value" if run.method == ForecastMethod.MODEL else "baseline_value"
    assert all(p.value == getattr(p, chosen) for p in points)
    assert len(run.details["folds"]) == 3


def test_too_little_history_is_refused(hospital: Any) -> None:
    add_history(hospital.cardiology, LAST, 90)
    with pytest.raises(NotEnoughHistory) as caught:
        services.train_forecast(hospital.user("head"), hospital.cardiology, "inpatients")
    assert caught.value.code == "WORK-003"
    assert not ForecastPoint.objects.exists()


def test_history_rows_come_from_the_demo_patterns() -> None:
    rows = generate("07", dt.date(2025, 1, 6), dt.date(2025, 7, 6), random.Random(1))
    winter = np.mean([r["outpatient_visits"] for r in rows if r["date"].month == 1 and r["half_day"] == "am"])
    summer = np.mean([r["outpatient_visits"] for r in rows if r["date"].month == 6 and r["half_day"] == "am"])
    assert winter > summer * 1.2  # paediatrics: the winter peak
    assert {r["half_day"] for r in rows} == {"am", "pm"}
