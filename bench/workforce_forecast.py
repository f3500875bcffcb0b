#!/usr/bin/env python
"""Workload forecasting backtest: the gradient boosting model against the seasonal naive
baseline, per department and kind of workload, on the demo hospital's workload patterns.

    .venv/bin/python bench/workforce_forecast.py [--days 730] [--horizon 28] [--folds 4]
        [--end 2026-10-31] [--seed 2026] [--departments 03.04,07,20,28]

History: ``--days`` of the demo generator's patterns (``smartcare.simulation.workload_patterns``:
weekday, season, Chinese public holidays and adjusted working days, Poisson noise) ending on
``--end``. No database: the same functions ``smartcare.workforce.services.train_forecast`` uses.
For each department and each kind of workload with at least one unit per half-day on average, a
rolling-origin backtest over the last ``--folds`` windows of ``--horizon`` days gives the MAPE of
the model and of the baseline (over half-days with an actual value of at least 1).

The last line of stdout is one JSON object: ``{"benchmark": "workforce_forecast", "series",
"model_wins", "mape_model_median", "mape_baseline_median", "results": [...], "seconds"}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcare.settings")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--end", default="2026-10-31")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--departments", default="03.04,07,20,28")
    args = parser.parse_args()

    from smartcare.simulation.workload_patterns import generate
    from smartcare.workforce import forecasting
    from smartcare.workforce.calendar import WorkingCalendar
    from smartcare.workforce.choices import METRICS

    calendar = WorkingCalendar()
    last = dt.date.fromisoformat(args.end)
    first = last - dt.timedelta(days=args.days - 1)
    started = time.monotonic()
    results = []
    for code in args.departments.split(","):
        rows = generate(code, first, last, random.Random(f"{args.seed}-{code}"), calendar)
        for metric in METRICS:
            history = {(r["date"], r["half_day"]): float(r[metric]) for r in rows}
            if sum(history.values()) / len(history) < 1:
                continue
            frame = forecasting.grid(history, first, last)
            t0 = time.monotonic()
            backtest = forecasting.backtest(frame, calendar, args.horizon, args.folds)
            result = {
                "department": code,
                "metric": metric,
                "mape_model": round(backtest.mape_model, 2) if backtest.mape_model is not None else None,
                "mape_baseline": round(backtest.mape_baseline, 2)
                if backtest.mape_baseline is not None
                else None,
                "used": "model" if backtest.use_model else "baseline",
                "seconds": round(time.monotonic() - t0, 2),
            }
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
    models = [r["mape_model"] for r in results if r["mape_model"] is not None]
    baselines = [r["mape_baseline"] for r in results if r["mape_baseline"] is not None]
    print(
        json.dumps(
            {
                "benchmark": "workforce_forecast",
                "days": args.days,
                "horizon": args.horizon,
                "folds": args.folds,
                "series": len(results),
                "model_wins": sum(1 for r in results if r["used"] == "model"),
                "mape_model_median": round(statistics.median(models), 2) if models else None,
                "mape_baseline_median": round(statistics.median(baselines), 2) if baselines else None,
                "results": results,
                "seconds": round(time.monotonic() - started, 1),
                "loadavg": [round(v, 2) for v in os.getloadavg()],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
