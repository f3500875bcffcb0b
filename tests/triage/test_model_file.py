"""The cached classifier is a pickle: only a file signed by this installation is ever unpickled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib

from smartcare.triage import model


def test_only_a_file_signed_here_is_loaded(tmp_path: Path, settings: Any) -> None:
    path = tmp_path / "model-x.joblib"
    model._write_signed(path, {"classes": ["03", "20"]})
    assert model._read_signed(path) == {"classes": ["03", "20"]}

    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # one byte of the pickle changed
    path.write_bytes(bytes(raw))
    assert model._read_signed(path) is None

    joblib.dump({"classes": ["planted"]}, path)  # a plain pickle put in VAR_DIR by someone else
    assert model._read_signed(path) is None

    model._write_signed(path, {"classes": ["03"]})
    settings.SECRET_KEY = "another installation's key, long enough for Django"
    assert model._read_signed(path) is None
