"""Synthetic CT series (a head or a chest phantom made of ellipsoids in Hounsfield units), written
as real DICOM files with pydicom: for the demo hospital and for tests. No patient's images."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from io import BytesIO

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

# (centre x, centre y, centre z, radius x, radius y, radius z, HU added), coordinates in [-1, 1]
HEAD = [
    (0.0, 0.0, 0.0, 0.72, 0.92, 0.95, 2000.0),  # skull: air (-1000) + 2000 = bone (+1000)
    (0.0, 0.0, 0.0, 0.66, 0.86, 0.89, -960.0),  # brain (40)
    (-0.2, 0.05, 0.05, 0.08, 0.28, 0.35, -35.0),  # ventricles (CSF, 5)
    (0.2, 0.05, 0.05, 0.08, 0.28, 0.35, -35.0),
    (0.25, -0.45, 0.2, 0.09, 0.09, 0.12, 30.0),  # a hyperdense lesion
]
CHEST = [
    (0.0, 0.0, 0.0, 0.95, 0.7, 0.98, 1040.0),  # body (40)
    (-0.45, -0.05, 0.0, 0.32, 0.5, 0.9, -880.0),  # lungs (-840)
    (0.45, -0.05, 0.0, 0.32, 0.5, 0.9, -880.0),
    (0.0, 0.15, -0.2, 0.22, 0.2, 0.5, 0.0),  # heart
    (0.0, 0.58, 0.0, 0.08, 0.08, 1.0, 600.0),  # spine
    (-0.5, 0.1, 0.3, 0.06, 0.06, 0.06, 860.0),  # a nodule in the left lung
]
PHANTOMS = {
    "head": (HEAD, "CT HEAD", "HEAD", 40.0, 80.0),
    "chest": (CHEST, "CT CHEST", "CHEST", -600.0, 1500.0),
}


def _slice(shapes: Sequence[tuple[float, ...]], z: float, size: int, rng: np.random.Generator) -> np.ndarray:
    axis = np.linspace(-1.0, 1.0, size)
    x, y = np.meshgrid(axis, axis)
    hu = np.full((size, size), -1000.0)
    for cx, cy, cz, rx, ry, rz, value in shapes:
        inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1.0
        hu[inside] += value
    hu += rng.normal(0.0, 3.0, hu.shape)  # scanner noise
    return np.clip(hu, -1024, 3071)


def ct_series(
    *,
    patient_id: str,
    patient_name: str,
    birth_date: dt.date | None = None,
    sex: str = "",
    kind: str = "head",
    slices: int = 20,
    size: int = 128,
    study_at: dt.datetime | None = None,
    accession_number: str = "",
    seed: int = 0,
) -> list[bytes]:
    """DICOM files (bytes) of one CT series: ``slices`` axial images of ``size`` x ``size`` pixels,
    stored as CT numbers + 1024 with rescale intercept -1024 and a window suited to the region."""
    shapes, description, body_part, center, width = PHANTOMS[kind]
    rng = np.random.default_rng(seed)
    moment = study_at or dt.datetime(2026, 1, 1, 9, 0)  # noqa: DTZ001 (DICOM dates and times are local, zoneless)
    entropy = [patient_id, kind, str(seed), moment.isoformat()]
    study_uid = generate_uid(entropy_srcs=[*entropy, "study"])
    series_uid = generate_uid(entropy_srcs=[*entropy, "series"])
    thickness = 5.0
    files = []
    for index in range(slices):
        z = -0.9 + 1.8 * index / max(slices - 1, 1)
        pixels = (_slice(shapes, z, size, rng) + 1024).astype(np.uint16)
        sop_uid = generate_uid(entropy_srcs=[*entropy, "image", str(index)])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[*entropy, "frame"])
        ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: Chinese names
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.PatientBirthDate = birth_date.strftime("%Y%m%d") if birth_date else ""
        ds.PatientSex = {"male": "M", "female": "F"}.get(sex, "O")
        ds.Modality = "CT"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = moment.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = moment.strftime("%H%M%S")
        ds.AccessionNumber = accession_number
        ds.StudyDescription = description
        ds.SeriesDescription = f"{description} 5mm"
        ds.BodyPartExamined = body_part
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [-125.0, -125.0, round(index * thickness, 2)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = round(index * thickness, 2)
        ds.SliceThickness = thickness
        ds.PixelSpacing = [250.0 / size, 250.0 / size]
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.WindowCenter = center
        ds.WindowWidth = width
        ds.PixelData = pixels.tobytes()
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files
