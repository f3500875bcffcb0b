"""Reading a DICOM file (pydicom) into what the index needs, refusing what cannot be stored."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pydicom
from django.conf import settings
from pydicom.errors import InvalidDicomError

from smartcare.interop.dicom.errors import InvalidUid, MissingAttribute, NotDicom
from smartcare.interop.dicom.storage import valid_uid


@dataclass
class DicomObject:
    name: str
    data: bytes
    sha256: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    patient_id: str
    modality: str
    study_at: dt.datetime | None
    series_at: dt.datetime | None
    accession_number: str
    study_description: str
    series_description: str
    series_number: int | None
    body_part: str
    referring_physician: str
    instance_number: int | None
    frames: int
    rows: int | None
    columns: int | None
    photometric: str
    window_center: float | None
    window_width: float | None
    slice_position: float | None
    has_pixels: bool
    # (row spacing, column spacing) in mm and where it came from ("pixel", "imager" or "none").
    spacing: tuple[float, float] | None = None
    spacing_source: str = "none"


def _first_number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__"):
        items = list(value)
        if not items:
            return None
        value = items[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _integer(value: Any) -> int | None:
    number = _first_number(value)
    return int(number) if number is not None else None


def when(date_text: Any, time_text: Any) -> dt.datetime | None:
    """DICOM DA + TM in the hospital's time zone (None when absent or invalid)."""
    date_text = str(date_text or "").strip()
    if len(date_text) != 8 or not date_text.isdigit():
        return None
    time_text = str(time_text or "").strip().split(".")[0].replace(":", "")
    time_text = (time_text + "000000")[:6] if time_text.isdigit() else "000000"
    try:
        moment = dt.datetime.strptime(date_text + time_text, "%Y%m%d%H%M%S")  # noqa: DTZ007 (zone set below)
    except ValueError:
        return None
    return moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))


def _slice_position(ds: Any) -> float | None:
    position = ds.get("ImagePositionPatient")
    if position is not None and len(position) == 3:
        try:
            return float(position[2])
        except (TypeError, ValueError):
            pass
    return _first_number(ds.get("SliceLocation"))


# Beyond this a spacing is a broken header, not a real image (a metre per pixel).
MAX_SPACING_MM = 1000.0


def _spacing_pair(value: Any) -> tuple[float, float] | None:
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return None
    try:
        pair = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(pair) != 2 or not all(0 < v <= MAX_SPACING_MM for v in pair):
        return None
    return pair[0], pair[1]


def pixel_spacing(ds: Any) -> tuple[tuple[float, float] | None, str]:
    """((row, column) spacing in mm, source): Pixel Spacing (0028,0030), the distance in the
    patient; else Imager Pixel Spacing (0018,1164), at the detector (projection radiography:
    larger than in the patient by the beam's magnification), flagged "imager"; else (None, "none").
    Multi-frame files may carry it in the shared functional groups only."""
    found = _spacing_pair(ds.get("PixelSpacing"))
    if found is None:
        for group in ds.get("SharedFunctionalGroupsSequence") or []:
            for measures in group.get("PixelMeasuresSequence") or []:
                found = found or _spacing_pair(measures.get("PixelSpacing"))
    if found is not None:
        return found, "pixel"
    imager = _spacing_pair(ds.get("ImagerPixelSpacing"))
    if imager is not None:
        return imager, "imager"
    return None, "none"


def read(data: bytes, name: str = "") -> DicomObject:
    """Parse the header of one DICOM Part 10 file; refuse it with a coded error if it cannot be
    indexed (not DICOM, no UIDs, invalid UIDs)."""
    name = name or "file"
    try:
        # Large elements (the pixel data) are read only if asked for.
        ds = pydicom.dcmread(BytesIO(data), defer_size="64 KB")
    except (InvalidDicomError, EOFError, ValueError, TypeError, KeyError, OSError, AttributeError):
        raise NotDicom(name=name) from None
    meta = getattr(ds, "file_meta", None)
    transfer_syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    if not transfer_syntax:
        raise MissingAttribute(name=name, attribute="TransferSyntaxUID (0002,0010)")
    uids = {}
    for attribute, tag in (
        ("StudyInstanceUID", "(0020,000D)"),
        ("SeriesInstanceUID", "(0020,000E)"),
        ("SOPInstanceUID", "(0008,0018)"),
        ("SOPClassUID", "(0008,0016)"),
    ):
        found = str(ds.get(attribute, "") or "").strip()
        if not found:
            raise MissingAttribute(name=name, attribute=f"{attribute} {tag}")
        if not valid_uid(found):
            raise InvalidUid(name=name, attribute=attribute, value=found[:70])
        uids[attribute] = found
    has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    spacing, spacing_source = pixel_spacing(ds)
    return DicomObject(
        name=name,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        study_uid=uids["StudyInstanceUID"],
        series_uid=uids["SeriesInstanceUID"],
        sop_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        transfer_syntax=transfer_syntax,
        patient_id=str(ds.get("PatientID", "") or "").strip(),
        modality=str(ds.get("Modality", "") or "OT").strip()[:16] or "OT",
        study_at=when(ds.get("StudyDate"), ds.get("StudyTime")),
        series_at=when(ds.get("SeriesDate"), ds.get("SeriesTime")),
        accession_number=str(ds.get("AccessionNumber", "") or "").strip()[:64],
        study_description=str(ds.get("StudyDescription", "") or "").strip()[:200],
        series_description=str(ds.get("SeriesDescription", "") or "").strip()[:200],
        series_number=_integer(ds.get("SeriesNumber")),
        body_part=str(ds.get("BodyPartExamined", "") or "").strip()[:64],
        referring_physician=str(ds.get("ReferringPhysicianName", "") or "").strip()[:200],
        instance_number=_integer(ds.get("InstanceNumber")),
        frames=max(_integer(ds.get("NumberOfFrames")) or 1, 1),
        rows=_integer(ds.get("Rows")),
        columns=_integer(ds.get("Columns")),
        photometric=str(ds.get("PhotometricInterpretation", "") or "").strip()[:16],
        window_center=_first_number(ds.get("WindowCenter")),
        window_width=_first_number(ds.get("WindowWidth")),
        slice_position=_slice_position(ds),
        has_pixels=has_pixels,
        spacing=spacing,
        spacing_source=spacing_source,
    )
