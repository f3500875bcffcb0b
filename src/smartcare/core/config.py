"""Helpers for reading configuration from the environment (used by settings, so no Django here)."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def load_local_secrets(var_dir: Path) -> dict[str, str]:
    """Secrets for the embedded default, created once in ``var/secrets.json``.

    Production sets SMARTCARE_SECRET_KEY and SMARTCARE_FIELD_KEY instead; the file is only
    a convenience so that a fresh clone runs without configuration. It is written with mode
    0600 and must be backed up with the database (the field key decrypts patient identifiers).
    """
    path = var_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    var_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "secret_key": secrets.token_urlsafe(50),
        "field_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
    except FileExistsError:  # another process won the race
        return json.loads(path.read_text())
    return data
