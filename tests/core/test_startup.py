"""Start-up stays light: the heavy numerical libraries load when a model needs them, not when a
process imports the URL configuration (every CLI command, worker and server process does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("scipy", "sklearn", "pandas", "ortools", "weasyprint")

PROBE = f"""
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcare.settings")
import django
django.setup()
import smartcare.urls  # noqa: F401
print("LOADED:" + ",".join(name for name in {HEAVY!r} if name in sys.modules))
"""


def test_importing_the_urls_does_not_load_the_numerical_libraries(tmp_path: Path) -> None:
    env = {**os.environ, "SMARTCARE_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOADED:"))
    loaded = [name for name in line.removeprefix("LOADED:").split(",") if name]
    assert loaded == [], f"imported at start-up: {loaded}; import them inside the function that needs them"
