"""Distances measured in the consultation's image viewer are in mm when the image's pixel spacing
is known (stored with the DICOM index), in pixels, labelled as such, when it is not; the opinion
saves each distance with its unit."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.test import Client
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from smartcare.interop.dicom import services as dicom
from smartcare.interop.models import ImagingInstance
from smartcare.telemedicine import services
from smartcare.telemedicine.models import Opinion
from tests.factories import TestHospital, as_user
from tests.telemedicine.conftest import ask

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture(autouse=True)
def _dicom_dir(settings: Any, tmp_path: Path) -> None:
    settings.SMARTCARE_DICOM_DIR = str(tmp_path / "dicom")
    settings.SMARTCARE_DICOMWEB_URL = ""


def ct(mrn: str, *, spacing: bool) -> bytes:
    """pydicom's CT_small.dcm (Pixel Spacing 0.661468 mm) for our patient; without its spacing as a
    second series of the same study."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientID = mrn
    if not spacing:
        del ds.PixelSpacing
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def distance(instance: ImagingInstance) -> dict[str, Any]:
    return {"kind": "distance", "instance": instance.pk, "frame": 1, "points": [[10, 10], [40, 50]]}


def test_distances_are_in_mm_when_the_spacing_is_known_and_in_pixels_otherwise(
    h: TestHospital, frozen: Any
) -> None:
    mrn = h.patient_in_care.medical_record_number
    stored = dicom.store_instances(
        h.user("doctor"),
        [("a.dcm", ct(mrn, spacing=True)), ("b.dcm", ct(mrn, spacing=False))],
        patient_id=h.patient_in_care.pk,
    )
    calibrated, plain = sorted(stored.stored, key=lambda i: i.spacing_source != "pixel")
    c = ask(h, study_ids=[stored.studies[0].pk])
    services.accept(h.user("neurologist"), c.pk)

    expert = as_user(Client(), h.user("neurologist"))
    room = expert.get(f"/telemedicine/consultations/{c.pk}/room/")
    config = room.context["config"]
    frames = {f["instance"]: f for s in config["series"] for f in s["frames"]}
    assert frames[calibrated.pk]["spacing"] == [0.661468, 0.661468]
    assert frames[calibrated.pk]["spacing_source"] == "pixel"
    assert frames[plain.pk]["spacing"] is None
    assert b'data-uncalibrated="(pixels: no pixel spacing in the image)"' in room.content

    marks = [distance(calibrated), distance(plain), {**distance(calibrated), "points": [[0, 0], [0, 10]]}]
    response = expert.post(
        f"/telemedicine/consultations/{c.pk}/",
        {
            "action": "opinion",
            "diagnosis": "I63.9",
            "recommendations": "CT",
            "annotations": json.dumps(marks),
        },
    )
    assert response.status_code == 302
    saved = Opinion.objects.get(consultation=c).annotations
    # 50 pixels at 0.661468 mm
    assert {k: saved[0][k] for k in ("length", "unit", "spacing")} == {
        "length": 33.07,
        "unit": "mm",
        "spacing": "pixel",
    }
    assert {k: saved[1][k] for k in ("length", "unit")} == {
        "length": 50.0,
        "unit": "px",
    } and "spacing" not in saved[1]
    assert saved[2]["length"] == 6.61 and saved[2]["unit"] == "mm"
    page = expert.get(f"/telemedicine/consultations/{c.pk}/").content.decode()
    assert "33.07 mm" in page and "50.0 px (pixels: no pixel spacing in the image)" in page


def test_imager_pixel_spacing_is_flagged_in_the_measurement() -> None:
    spacing = (0.1, 0.1, "imager")
    assert services.distance([[0, 0], [30, 40]], spacing) == {
        "length": 5.0,
        "unit": "mm",
        "spacing": "imager",
    }
    # x runs along a row (column spacing), y down the columns (row spacing)
    assert services.distance([[0, 0], [10, 0]], (0.5, 0.25, "pixel"))["length"] == 2.5
    assert services.distance([[0, 0], [0, 10]], (0.5, 0.25, "pixel"))["length"] == 5.0
