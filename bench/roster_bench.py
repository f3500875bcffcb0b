#!/usr/bin/env python
"""The Curtois & Qu shift-scheduling benchmark: every instance of a folder through
``smartcare roster-bench``, one process per instance.

    .venv/bin/python bench/roster_bench.py [--dir ../shared/data/rostering] [--time-limit 60]
        [--workers 2] [--repeat 1]

For each ``Instance*.txt`` (natural order) it runs ``smartcare roster-bench FILE --time-limit T
--workers W``, reads that command's last JSON line (``instance``, ``objective`` scored by the
benchmark's own definition, ``best_known`` from the CSV beside the files, ``gap``, ``seconds``,
``feasible``) and notes the load average before and after, because the machine may be shared.

The last line of stdout is one JSON object: ``{"benchmark": "roster_bench", "time_limit",
"workers", "instances": [...], "feasible_all", "max_gap", "loadavg_before", "loadavg_after"}``.
Exit status 1 when an instance is infeasible, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def natural(path: Path) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.stem)]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default=str(ROOT.parent / "shared" / "data" / "rostering"))
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs per instance (different seeds)")
    args = parser.parse_args()
    files = sorted(Path(args.dir).glob("Instance*.txt"), key=natural)
    if not files:
        print(f"no Instance*.txt in {args.dir}", file=sys.stderr)
        return 2
    smartcare = ROOT / ".venv" / "bin" / "smartcare"
    env = dict(os.environ)
    env.setdefault("SMARTCARE_VAR_DIR", tempfile.mkdtemp(prefix="roster-bench-"))
    before = os.getloadavg()
    results = []
    for path in files:
        for seed in range(args.repeat):
            command = [
                str(smartcare),
                "roster-bench",
                str(path),
                "--time-limit",
                str(args.time_limit),
                "--workers",
                str(args.workers),
                "--seed",
                str(seed),
            ]
            load = os.getloadavg()[0]
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 2
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["seed"] = seed
            result["loadavg_1min"] = round(load, 2)
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
    after = os.getloadavg()
    gaps = [r["gap"] for r in results if r["gap"] is not None]
    summary = {
        "benchmark": "roster_bench",
        "time_limit": args.time_limit,
        "workers": args.workers,
        "instances": results,
        "feasible_all": all(r["feasible"] for r in results),
        "max_gap": max(gaps) if gaps else None,
        "loadavg_before": [round(v, 2) for v in before],
        "loadavg_after": [round(v, 2) for v in after],
    }
    print(json.dumps(summary))
    return 0 if summary["feasible_all"] else 1


if __name__ == "__main__":
    sys.exit(main())
