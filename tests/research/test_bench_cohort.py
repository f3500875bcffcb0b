"""bench/cohort.py on a tiny synthetic lake: it builds a lake with the lake's schema, runs its
cohort definitions through the real compiler and prints the agreed JSON as its last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_prints_its_figures(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "cohort.py"),
            "--patients",
            "400",
            "--repeat",
            "1",
            "--keep",
            str(tmp_path / "lake"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"patients", "queries", "p50_ms", "max_ms", "build_s"} <= set(summary)
    assert summary["patients"] == summary["rows"]["persons"] == 400
    assert summary["queries"] >= 10
    counts = {r["name"]: r["count"] for r in summary["results"]}
    # nested criteria can only narrow their parts
    assert counts["diabetics aged 60+ on insulin since 2023"] <= counts["type 2 diabetes"]
    assert counts["type 2 diabetes"] > 0
    # the synthetic lake is a lake: same layout and schema file
    assert (tmp_path / "lake" / "_schema.json").exists()
    assert list((tmp_path / "lake" / "diagnoses").glob("year=*/*.parquet"))


def test_benchmark_refuses_bad_arguments() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cohort.py"), "--patients", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 2
    assert "--patients at least 100" in done.stderr
