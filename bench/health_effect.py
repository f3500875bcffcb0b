#!/usr/bin/env python
"""Health management at hospital-group scale, without a database: how fast the validated equations
score patients, and how fast the effect evaluation matches and compares groups.

    .venv/bin/python bench/health_effect.py [--patients 100000] [--enrolled 20000]
        [--candidates 100000] [--seed 2026]

Scoring: ``--patients`` PCE, Framingham and FINDRISC results with drivers
(``smartcare.health.equations.compute``, input validation and unit conversion included), on
random plausible inputs in mmol/L. Effect: ``--enrolled`` enrolled pairs and ``--candidates``
comparison candidates, matched on sex and baseline risk (``effect.match``) and evaluated
(``effect.evaluate``: t and Welch intervals, Wilson share).

The last line of stdout is one JSON object: ``{"benchmark": "health_effect", "scores_per_second",
"match_seconds", "evaluate_seconds", "matched", "enrolled", "candidates", "seconds"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--enrolled", type=int, default=20_000)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    import django

    django.setup()
    from smartcare.health import effect, equations

    rng = random.Random(args.seed)
    started = time.perf_counter()
    scored = 0
    score_start = time.perf_counter()
    for _ in range(max(1, args.patients // 3)):
        sex = rng.choice(["male", "female"])
        cv = {
            "age": rng.randint(40, 79),
            "sex": sex,
            "race": "other",
            "total_cholesterol": round(rng.uniform(3.6, 8.0), 2),
            "total_cholesterol_unit": "mmol/L",
            "hdl": round(rng.uniform(0.8, 2.4), 2),
            "hdl_unit": "mmol/L",
            "systolic_bp": rng.randint(95, 195),
            "bp_treated": rng.random() < 0.3,
            "smoker": rng.random() < 0.25,
            "diabetes": rng.random() < 0.1,
        }
        equations.compute("pce", cv)
        equations.compute("framingham", {**cv, "age": min(cv["age"], 74)})
        equations.compute(
            "findrisc",
            {
                "age": cv["age"],
                "sex": sex,
                "bmi": round(rng.uniform(18, 35), 1),
                "waist_cm": rng.randint(65, 115),
                "physically_active": rng.random() < 0.5,
                "daily_vegetables": rng.random() < 0.6,
                "bp_medication": cv["bp_treated"],
                "high_glucose_history": rng.random() < 0.1,
                "family_history": rng.choice(["none", "second_degree", "first_degree"]),
            },
        )
        scored += 3
    score_seconds = time.perf_counter() - score_start

    def pair(pid: int, enrolled: bool) -> effect.Pair:
        base = rng.uniform(0.03, 0.35)
        change = rng.gauss(-0.04 if enrolled else -0.005, 0.03)
        return effect.Pair(
            pid,
            rng.choice(["male", "female"]),
            base,
            max(0.0, base + change),
            {"systolic_bp": 150.0},
            {"systolic_bp": 150.0 + rng.gauss(-8 if enrolled else 0, 6)},
            rng.random(),
        )

    enrolled = [pair(i, True) for i in range(args.enrolled)]
    candidates = [pair(10**7 + i, False) for i in range(args.candidates)]
    t0 = time.perf_counter()
    matched = effect.match(enrolled, candidates)
    match_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = effect.evaluate(enrolled, matched)
    evaluate_seconds = time.perf_counter() - t0
    print(
        f"scored {scored} in {score_seconds:.2f}s; matched {len(matched)}/{len(enrolled)} in {match_seconds:.2f}s; "
        f"difference {result.risk_difference.estimate:.4f} ({result.risk_difference.low:.4f}, {result.risk_difference.high:.4f})"
    )
    print(
        json.dumps(
            {
                "benchmark": "health_effect",
                "scores_per_second": round(scored / score_seconds),
                "match_seconds": round(match_seconds, 3),
                "evaluate_seconds": round(evaluate_seconds, 3),
                "matched": len(matched),
                "enrolled": len(enrolled),
                "candidates": len(candidates),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
