"""Pixel spacing in the DICOM index: stored per instance when a file is stored (Pixel Spacing, else
Imager Pixel Spacing flagged as at the detector, else none), read lazily from the file for instances
indexed before, and handed to viewers with each frame so distances can be given in mm."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.db import IntegrityError, transaction
from pydicom.data import get_testdata_file

from smartcare.interop.dicom import services
from smartcare.interop.dicom.reading import read
from smartcare.interop.dicom.selectors import series_frames
from smartcare.interop.models import ImagingInstance, ImagingSeries, ImagingStudy
from tests.interop.dicom.conftest import sample

pytestmark = pytest.mark.django_db


def without_spacing(name: str, patient_id: str, **changes: Any) -> bytes:
    """A pydicom test file with its Pixel Spacing removed (and ``changes`` applied)."""
    ds = pydicom.dcmread(get_testdata_file(name))
    del ds.PixelSpacing
    ds.PatientID = patient_id
    for key, value in changes.items():
        setattr(ds, key, value)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def store(hospital: Any, data: bytes) -> ImagingInstance:
    patient = hospital.patient_in_care
    result = services.store_instances(hospital.user("doctor"), [("f.dcm", data)], patient_id=patient.pk)
    (instance,) = result.stored
    instance.refresh_from_db()
    return instance


def test_pixel_spacing_is_stored_with_the_instance(hospital: Any) -> None:
    mrn = hospital.patient_in_care.medical_record_number
    ct = store(hospital, sample("CT_small.dcm", patient_id=mrn))
    assert (ct.row_spacing, ct.column_spacing, ct.spacing_source) == (0.661468, 0.661468, "pixel")
    (frame,) = series_frames(ct.series)
    assert frame["spacing"] == [0.661468, 0.661468] and frame["spacing_source"] == "pixel"


def test_imager_pixel_spacing_is_the_flagged_fallback(hospital: Any) -> None:
    mrn = hospital.patient_in_care.medical_record_number
    data = without_spacing("CT_small.dcm", mrn, ImagerPixelSpacing=[0.2, 0.25])
    instance = store(hospital, data)
    assert (instance.row_spacing, instance.column_spacing, instance.spacing_source) == (0.2, 0.25, "imager")


def test_an_image_without_spacing_is_measured_in_pixels(hospital: Any) -> None:
    mrn = hospital.patient_in_care.medical_record_number
    instance = store(hospital, without_spacing("CT_small.dcm", mrn))
    assert (instance.row_spacing, instance.column_spacing, instance.spacing_source) == (None, None, "none")
    (frame,) = series_frames(instance.series)
    assert frame["spacing"] is None and frame["spacing_source"] == ""


@pytest.mark.parametrize("bad", [[0, 0.5], [-1, 1], [0.5], [5000, 5000]])
def test_implausible_spacing_counts_as_none(bad: list[Any]) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PixelSpacing = bad
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    obj = read(buffer.getvalue(), "bad.dcm")
    assert (obj.spacing, obj.spacing_source) == (None, "none")


def test_instances_indexed_before_get_their_spacing_from_the_file_lazily(hospital: Any) -> None:
    mrn = hospital.patient_in_care.medical_record_number
    instance = store(hospital, sample("MR_small.dcm", patient_id=mrn))
    # As indexed before spacing was stored: unknown, but the file is on disk.
    ImagingInstance.objects.filter(pk=instance.pk).update(
        row_spacing=None, column_spacing=None, spacing_source=""
    )
    (frame,) = series_frames(instance.series)
    assert frame["spacing"] == [0.3125, 0.3125] and frame["spacing_source"] == "pixel"
    instance.refresh_from_db()
    assert (instance.row_spacing, instance.spacing_source) == (0.3125, "pixel")


def test_an_instance_without_its_file_stays_unknown(hospital: Any, _dicom_dir: Path) -> None:
    study = ImagingStudy.objects.create(
        study_uid="1.2.9", patient=hospital.patient_in_care, source="dicomweb"
    )
    series = ImagingSeries.objects.create(study=study, series_uid="1.2.9.1", modality="CT")
    remote = ImagingInstance.objects.create(
        series=series,
        sop_instance_uid="1.2.9.1.1",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        storage="remote",
    )
    (frame,) = series_frames(series)
    assert frame["spacing"] is None
    remote.refresh_from_db()
    assert remote.spacing_source == ""  # tried again once the file is fetched (cached)


def test_the_database_refuses_a_spacing_without_its_source(hospital: Any) -> None:
    mrn = hospital.patient_in_care.medical_record_number
    instance = store(hospital, sample("CT_small.dcm", patient_id=mrn))
    with pytest.raises(IntegrityError), transaction.atomic():
        ImagingInstance.objects.filter(pk=instance.pk).update(spacing_source="none")
    with pytest.raises(IntegrityError), transaction.atomic():
        ImagingInstance.objects.filter(pk=instance.pk).update(row_spacing=0)
