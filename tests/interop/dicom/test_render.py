"""Frames to PNG with the file's window or an adjustable one, compressed transfer syntaxes
(rendered, or refused with a coded reason), and the viewer page."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from smartcare.interop.dicom import services
from smartcare.interop.dicom.phantom import ct_series
from smartcare.interop.dicom.render import Window, apply_window
from smartcare.interop.models import ImagingInstance, ImagingStudy
from smartcare.notifications.models import Notification
from tests.interop.dicom.conftest import sample

pytestmark = pytest.mark.django_db


def store(hospital: Any, *files: bytes) -> list[ImagingInstance]:
    patient = hospital.patient_in_care
    result = services.store_instances(
        hospital.user("doctor"),
        [(str(i), f) for i, f in enumerate(files)],
        patient_id=patient.pk,
        reconcile=True,
    )
    return sorted(result.stored, key=lambda i: i.pk)


def pixels(response: Any) -> np.ndarray:
    assert response.status_code == 200 and response["Content-Type"] == "image/png", response.content[:300]
    return np.asarray(Image.open(BytesIO(response.content)))


def test_the_linear_window() -> None:
    values = np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0])
    assert list(apply_window(values, Window(40, 400))) == [0, 0, 127, 255, 255]
    assert list(apply_window(values, Window(-600, 1500))) == [59, 202, 236, 255, 255]


def test_frames_with_the_files_window_and_an_adjusted_one(client: Client, hospital: Any) -> None:
    head = ct_series(patient_id="x", patient_name="x", slices=3, kind="head")
    instances = store(hospital, *head)
    client.force_login(hospital.user("doctor"))
    url = f"/interop/imaging/instances/{instances[1].pk}/frames/1.png"
    from_file = client.get(url)
    assert from_file["X-Window"] == "40,80"  # the phantom's brain window
    brain = pixels(from_file)
    assert brain.shape == (128, 128) and brain.dtype == np.uint8
    bone = pixels(client.get(url, {"wc": "400", "ww": "1800"}))
    assert not np.array_equal(brain, bone)
    # The brain window saturates the skull (white) and shows grey matter mid-grey.
    assert (brain == 255).sum() > (bone == 255).sum()
    assert 100 < int(np.median(brain[54:74, 54:74])) < 160
    bad = client.get(url, {"wc": "abc", "ww": "10"}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "DICOM-012"
    narrow = client.get(url, {"wc": "0", "ww": "0"}, HTTP_ACCEPT="application/json")
    assert narrow.status_code == 400 and narrow.json()["code"] == "DICOM-012"
    # The DICOMweb "rendered" resource with window=centre,width,linear.
    instance = instances[1]
    series = instance.series
    api = (
        f"/api/interop/dicomweb/studies/{series.study.study_uid}/series/{series.series_uid}"
        f"/instances/{instance.sop_instance_uid}/frames/1/rendered"
    )
    assert np.array_equal(pixels(client.get(api, {"window": "400,1800,linear"})), bone)
    assert client.get(api, {"window": "400,1800,sigmoid"}).json()["code"] == "DICOM-012"


def test_a_ct_without_a_window_uses_its_range(client: Client, hospital: Any) -> None:
    (instance,) = store(hospital, sample("CT_small.dcm"))
    client.force_login(hospital.user("doctor"))
    response = client.get(f"/interop/imaging/instances/{instance.pk}/frames/1.png")
    _center, width = (float(v) for v in response["X-Window"].split(","))
    image = pixels(response)
    assert width > 1000 and image.min() == 0 and image.max() == 255


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "examples_palette.dcm"]
)
def test_compressed_and_colour_images_render(client: Client, hospital: Any, name: str) -> None:
    (instance,) = store(hospital, sample(name))
    client.force_login(hospital.user("doctor"))
    image = pixels(client.get(f"/interop/imaging/instances/{instance.pk}/frames/1.png"))
    assert image.size > 0


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("MR_small_jpeg_ls_lossless.dcm", 422, "DICOM-008"),  # no JPEG-LS decoder installed
        ("JPGExtended.dcm", 422, "DICOM-009"),  # 12-bit JPEG: Pillow cannot decode it
        ("test-SR.dcm", 422, "DICOM-010"),  # a structured report has no image
    ],
)
def test_what_cannot_be_rendered_says_why(
    client: Client, hospital: Any, name: str, status: int, code: str
) -> None:
    (instance,) = store(hospital, sample(name))
    client.force_login(hospital.user("doctor"))
    response = client.get(
        f"/interop/imaging/instances/{instance.pk}/frames/1.png",
        HTTP_ACCEPT="image/png, application/problem+json",
    )
    assert response.status_code == status and response.json()["code"] == code
    assert instance.file_path  # the file itself is stored unchanged


def test_multi_frame_images(client: Client, hospital: Any) -> None:
    (instance,) = store(hospital, sample("rtdose.dcm"))
    assert instance.number_of_frames == 15
    client.force_login(hospital.user("doctor"))
    first = pixels(client.get(f"/interop/imaging/instances/{instance.pk}/frames/1.png"))
    last = pixels(client.get(f"/interop/imaging/instances/{instance.pk}/frames/15.png"))
    assert first.shape == last.shape == (10, 10)
    missing = client.get(
        f"/interop/imaging/instances/{instance.pk}/frames/16.png", HTTP_ACCEPT="application/json"
    )
    assert missing.status_code == 404 and missing.json()["code"] == "DICOM-011"


def test_the_viewer_page_and_who_may_open_it(client: Client, hospital: Any) -> None:
    instances = store(hospital, *ct_series(patient_id="x", patient_name="x", slices=20, kind="chest"))
    study = ImagingStudy.objects.get()
    client.force_login(hospital.user("doctor"))
    page = client.get(f"/interop/imaging/studies/{study.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and 'max="20"' in html and 'data-testid="viewer"' in html
    frames = page.context["frames"]
    assert len(frames) == 20 and [f["instance"] for f in frames] == [i.pk for i in instances]
    assert client.get(f"/interop/imaging/patients/{study.patient_id}/").status_code == 200
    client.force_login(hospital.user("neurologist"))  # no care for this patient
    assert client.get(f"/interop/imaging/studies/{study.pk}/").status_code == 404
    frame = client.get(
        f"/interop/imaging/instances/{instances[0].pk}/frames/1.png", HTTP_ACCEPT="application/json"
    )
    assert frame.status_code == 404 and frame.json()["code"] == "CORE-404"


def test_an_imaging_report_from_the_viewer_goes_to_the_patient(client: Client, hospital: Any) -> None:
    patient = hospital.own_patient  # followed up by cardiology, has a portal account
    services.store_instances(
        hospital.user("doctor"),
        [("1", f) for f in ct_series(patient_id=patient.medical_record_number, patient_name="x", slices=2)],
        patient_id=patient.pk,
    )
    study = ImagingStudy.objects.get()
    client.force_login(hospital.user("doctor"))
    response = client.post(
        f"/interop/reports/patients/{patient.pk}/new/",
        {
            "kind": "imaging",
            "study": study.pk,
            "name": "CT head",
            "conclusion": "No acute intracranial finding.",
        },
    )
    assert response.status_code == 302
    note = Notification.objects.get(recipient=patient.user, category="report")
    assert "No acute intracranial finding." in note.body
    client.force_login(hospital.user("patient"))
    assert "No acute intracranial finding." in client.get(note.link).content.decode()
    viewer = client.get(f"/interop/imaging/studies/{study.pk}/")
    assert viewer.status_code == 200 and note.link in viewer.content.decode()
    # Without a conclusion: refused, back to the viewer with the reason, nothing written.
    client.force_login(hospital.user("doctor"))
    refused = client.post(
        f"/interop/reports/patients/{patient.pk}/new/", {"kind": "imaging", "study": study.pk, "name": "CT"}
    )
    assert refused.status_code == 302 and Notification.objects.filter(category="report").count() == 1
