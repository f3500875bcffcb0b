"""The patient's one code as a QR code (segno)."""

from __future__ import annotations

import io
from typing import Any

import segno


def one_code_svg(patient: Any, scale: int = 6) -> str:
    buffer = io.BytesIO()
    segno.make(patient.one_code, error="q").save(buffer, kind="svg", scale=scale, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()
