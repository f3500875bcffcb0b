"""Where DICOM files live: ``SMARTCARE_DICOM_DIR`` (default ``<var>/dicom``), one file per SOP
instance under ``<study UID>/<series UID>/<SOP instance UID>.dcm``; files read from a PACS are
cached under ``cache/``. UIDs are checked (digits and dots only) before they become paths."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from django.conf import settings

UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def valid_uid(uid: str) -> bool:
    return bool(uid) and len(uid) <= 64 and bool(UID_RE.match(uid))


def root() -> Path:
    configured = getattr(settings, "SMARTCARE_DICOM_DIR", "")
    return Path(configured) if configured else Path(settings.VAR_DIR) / "dicom"


def relative_path(study_uid: str, series_uid: str, sop_uid: str) -> str:
    for uid in (study_uid, series_uid, sop_uid):
        if not valid_uid(uid):
            raise ValueError(f"not a DICOM UID: {uid!r}")
    return f"{study_uid}/{series_uid}/{sop_uid}.dcm"


def absolute(relative: str) -> Path:
    base = root().resolve()
    path = (base / relative).resolve()
    if base not in path.parents:
        raise ValueError("path outside the DICOM store")
    return path


def cache_path(sop_uid: str) -> Path:
    if not valid_uid(sop_uid):
        raise ValueError(f"not a DICOM UID: {sop_uid!r}")
    return root() / "cache" / f"{sop_uid}.dcm"


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
