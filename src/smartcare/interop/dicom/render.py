"""Rendering one frame of a DICOM image to PNG.

Grey-scale images go through the modality LUT (rescale slope and intercept, so CT values are
Hounsfield units) and then a linear VOI window: the centre and width given by the viewer, or the
file's first window, or the frame's own range. The window is the linear function of DICOM PS3.3
C.11.2.1.2.1. MONOCHROME1 is inverted; colour images (RGB, YBR, palette) are shown as colour.

Compressed transfer syntaxes render when pydicom has a decoder for them (RLE Lossless natively,
JPEG baseline/extended 8-bit and JPEG 2000 through Pillow); otherwise ``NotRenderable``
(DICOM-008) says which compression it is. Decoding errors are ``DecodeFailed`` (DICOM-009).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from PIL import Image
from pydicom import pixels
from pydicom.uid import UID

from smartcare.interop.dicom.errors import (
    DecodeFailed,
    FrameOutOfRange,
    InvalidWindow,
    NoPixelData,
    NotRenderable,
)

COLOUR = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"})


@dataclass(frozen=True)
class Window:
    center: float
    width: float


def parse_window(center: Any, width: Any) -> Window | None:
    """A window from request parameters ("" for none); invalid numbers raise DICOM-012."""
    if center in (None, "") and width in (None, ""):
        return None
    try:
        c, w = float(center), float(width)
    except (TypeError, ValueError):
        raise InvalidWindow() from None
    if not (np.isfinite(c) and np.isfinite(w)) or w < 1:
        raise InvalidWindow()
    return Window(c, w)


def check_decodable(transfer_syntax: str) -> None:
    uid = UID(transfer_syntax)
    if not uid.is_compressed:
        return
    try:
        decoder = pixels.get_decoder(uid)
    except NotImplementedError:
        raise NotRenderable(syntax=uid.name) from None
    if not decoder.is_available:
        raise NotRenderable(syntax=uid.name)


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Linear VOI LUT (PS3.3 C.11.2.1.2.1) to 0..255."""
    c, w = window.center, window.width
    scaled = ((values - (c - 0.5)) / max(w - 1.0, 1.0) + 0.5) * 255.0
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    top = float(array.max()) if array.size else 0.0
    if top <= 0:
        return np.zeros(array.shape, dtype=np.uint8)
    return np.clip(array.astype(np.float64) * (255.0 / top), 0, 255).astype(np.uint8)


def default_window(ds: Any, values: np.ndarray) -> Window:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        try:
            c = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
            w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
            if w >= 1:
                return Window(c, w)
        except (TypeError, ValueError, IndexError):
            pass
    low, high = float(values.min()), float(values.max())
    return Window((low + high) / 2, max(high - low, 1.0))


def render_frame(path: Path, frame: int = 1, window: Window | None = None) -> tuple[bytes, Window | None]:
    """PNG bytes of frame ``frame`` (1-based), and the window used (None for colour)."""
    try:
        # Large elements (pixel data) are deferred: only the frame asked for is decoded below.
        ds = pydicom.dcmread(str(path), defer_size=1024)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise DecodeFailed(syntax="-", reason=type(exc).__name__) from None
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if not syntax:
        raise DecodeFailed(syntax="-", reason="no transfer syntax")
    check_decodable(syntax)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frame < 1 or frame > frames:
        raise FrameOutOfRange(frames=frames, frame=frame)
    if "PixelData" not in ds:
        raise NoPixelData()
    try:
        array = pixels.pixel_array(str(path), index=frame - 1 if frames > 1 else None)
    except (NotImplementedError, RuntimeError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise DecodeFailed(syntax=UID(syntax).name, reason=" ".join(str(exc).split())[:300]) from None
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    used: Window | None = None
    if photometric == "PALETTE COLOR":
        image = Image.fromarray(_to_uint8(pixels.apply_color_lut(array, ds)), "RGB")
    elif photometric in COLOUR or array.ndim == 3:
        image = Image.fromarray(_to_uint8(array), "RGB")
    else:
        values = pixels.apply_modality_lut(array, ds).astype(np.float64)
        used = window or default_window(ds, values)
        grey = apply_window(values, used)
        if photometric == "MONOCHROME1":
            grey = 255 - grey
        image = Image.fromarray(grey, "L")
    buffer = BytesIO()
    image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue(), used
