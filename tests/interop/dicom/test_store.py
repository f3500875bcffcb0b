"""Storing DICOM: the upload page and STOW-RS, linking to the patient, search; refusals write
nothing (no rows, no files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.test import Client

from smartcare.accounts.services import create_api_token
from smartcare.audit.models import AuditEvent
from smartcare.interop.dicom.multipart import build_related
from smartcare.interop.dicom.phantom import ct_series
from smartcare.interop.models import ImagingInstance, ImagingSeries, ImagingStudy
from tests.interop.dicom.conftest import sample

pytestmark = pytest.mark.django_db


def files_in(directory: Path) -> list[Path]:
    return list(directory.rglob("*.dcm")) if directory.exists() else []


def upload(client: Client, patient_code: str, *files: tuple[str, bytes], reconcile: bool = False) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data: dict[str, Any] = {"patient": patient_code, "files": [SimpleUploadedFile(n, d) for n, d in files]}
    if reconcile:
        data["reconcile"] = "1"
    return client.post("/interop/imaging/upload/", data)


def test_a_doctor_uploads_a_ct_image_for_a_patient(client: Client, hospital: Any, _dicom_dir: Path) -> None:
    patient = hospital.patient_in_care
    client.force_login(hospital.user("doctor"))
    response = upload(
        client,
        patient.medical_record_number,
        ("ct.dcm", sample("CT_small.dcm", patient_id=patient.medical_record_number)),
    )
    study = ImagingStudy.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/interop/imaging/studies/{study.pk}/"
    assert study.patient == patient and study.modalities == "CT" and study.source == "upload"
    assert (study.number_of_series, study.number_of_instances) == (1, 1)
    instance = ImagingInstance.objects.get()
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2.1" and (instance.rows, instance.columns) == (
        128,
        128,
    )
    stored = _dicom_dir / instance.file_path
    assert stored.exists() and instance.file_size == stored.stat().st_size
    assert AuditEvent.objects.filter(
        action="create", object_type="interop.ImagingStudy", patient_id=patient.pk
    ).exists()


def test_images_of_another_patient_are_refused_unless_confirmed(
    client: Client, hospital: Any, _dicom_dir: Path
) -> None:
    patient = hospital.patient_in_care
    client.force_login(hospital.user("doctor"))
    data = sample("CT_small.dcm")  # its patient ID is pydicom's, not ours
    refused = upload(client, patient.medical_record_number, ("ct.dcm", data))
    assert refused.status_code == 409 and "DICOM-004" in refused.content.decode()
    assert not ImagingStudy.objects.exists() and not files_in(_dicom_dir)
    original = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data)).PatientID
    confirmed = upload(client, patient.medical_record_number, ("ct.dcm", data), reconcile=True)
    assert confirmed.status_code == 302
    stored = pydicom.dcmread(_dicom_dir / ImagingInstance.objects.get().file_path)
    assert stored.PatientID == patient.medical_record_number and stored.OtherPatientIDs == original


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_one_bad_file_stores_nothing(client: Client, hospital: Any, _dicom_dir: Path) -> None:
    patient = hospital.patient_in_care
    client.force_login(hospital.user("doctor"))
    good = sample("CT_small.dcm", patient_id=patient.medical_record_number)
    response = upload(client, patient.medical_record_number, ("ct.dcm", good), ("notes.txt", b"not an image"))
    assert response.status_code == 400 and "DICOM-001" in response.content.decode()
    no_uid = sample("CT_small.dcm", patient_id=patient.medical_record_number, SOPInstanceUID="1.2.x.3")
    response = upload(client, patient.medical_record_number, ("ct.dcm", good), ("bad-uid.dcm", no_uid))
    assert response.status_code == 400 and "DICOM-003" in response.content.decode()
    assert (
        not ImagingStudy.objects.exists()
        and not ImagingInstance.objects.exists()
        and not files_in(_dicom_dir)
    )


def test_storing_again_and_conflicts(hospital: Any, _dicom_dir: Path) -> None:
    from smartcare.core.errors import NotFound
    from smartcare.interop.dicom import errors, services

    doctor = hospital.user("doctor")
    patient = hospital.patient_in_care
    data = sample("CT_small.dcm", patient_id=patient.medical_record_number)
    services.store_instances(doctor, [("a", data)], patient_id=patient.pk)
    again = services.store_instances(doctor, [("a", data)], patient_id=patient.pk)
    assert len(again.already_stored) == 1 and not again.stored
    changed = sample("CT_small.dcm", patient_id=patient.medical_record_number, InstanceNumber=99)
    with pytest.raises(errors.InstanceConflict):
        services.store_instances(doctor, [("b", changed)], patient_id=patient.pk)
    elsewhere = hospital.patient_elsewhere  # neurology's patient
    with pytest.raises(NotFound):
        services.store_instances(
            doctor,
            [("c", sample("CT_small.dcm", patient_id=elsewhere.medical_record_number))],
            patient_id=elsewhere.pk,
        )
    own = hospital.own_patient  # cardiology follows them up too
    moved = sample("CT_small.dcm", patient_id=own.medical_record_number, SOPInstanceUID="1.2.3.4.5")
    with pytest.raises(errors.StudyOfAnotherPatient):  # same study UID, another patient
        services.store_instances(doctor, [("d", moved)], patient_id=own.pk)
    assert ImagingInstance.objects.count() == 1 and len(files_in(_dicom_dir)) == 1


def test_stow_rs_from_the_pacs(client: Client, hospital: Any, pacs: Any, _dicom_dir: Path) -> None:
    patient = hospital.own_patient
    token = create_api_token(hospital.user("itadmin"), user=pacs.user, name="stow")
    series = ct_series(patient_id=patient.medical_record_number, patient_name=patient.name, slices=20)
    body, content_type = build_related(series)
    response = client.post(
        "/api/interop/dicomweb/studies",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/dicom+json",
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    stored = response.json()["00081199"]["Value"]
    assert len(stored) == 20 and all(item["00081155"]["Value"][0] for item in stored)
    study = ImagingStudy.objects.get()
    assert study.patient == patient and study.number_of_instances == 20 and study.source == "stow"
    assert ImagingSeries.objects.get().body_part == "HEAD"
    # The patient ID names nobody: refused whole, nothing stored.
    stranger = ct_series(patient_id="NOBODY", patient_name="X", slices=2, seed=5)
    body, content_type = build_related(stranger)
    refused = client.post(
        "/api/interop/dicomweb/studies", body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert refused.status_code == 404 and refused.json()["code"] == "DICOM-005"
    wrong = client.post(
        "/api/interop/dicomweb/studies",
        b"{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert wrong.status_code == 415 and wrong.json()["code"] == "DICOM-019"
    broken = client.post(
        "/api/interop/dicomweb/studies",
        b"--x\r\n",
        content_type='multipart/related; type="application/dicom"',
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert broken.status_code == 400 and broken.json()["code"] == "DICOM-018"
    single = ct_series(patient_id=patient.medical_record_number, patient_name=patient.name, slices=1, seed=9)[
        0
    ]
    one = client.post(
        "/api/interop/dicomweb/studies",
        single,
        content_type="application/dicom",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert one.status_code == 200
    assert ImagingStudy.objects.count() == 2 and ImagingInstance.objects.count() == 21
    assert len(files_in(_dicom_dir)) == 21


def test_a_large_series_goes_through_stow(client: Client, hospital: Any, pacs: Any) -> None:
    """Bigger than Django's in-memory request limit (2.5 MB)."""
    patient = hospital.own_patient
    token = create_api_token(hospital.user("itadmin"), user=pacs.user, name="stow")
    body, content_type = build_related(
        ct_series(patient_id=patient.medical_record_number, patient_name="x", slices=40, size=256)
    )
    assert len(body) > 3 * 1024 * 1024
    response = client.post(
        "/api/interop/dicomweb/studies", body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200 and ImagingInstance.objects.count() == 40


def test_search_by_patient_modality_and_date(client: Client, hospital: Any) -> None:
    import datetime as dt

    from smartcare.interop.dicom import services

    doctor = hospital.user("doctor")
    patient = hospital.patient_in_care
    head = ct_series(
        patient_id=patient.medical_record_number,
        patient_name=patient.name,
        slices=2,
        study_at=dt.datetime(2026, 3, 1, 9, 0),
    )
    chest = ct_series(
        patient_id=patient.medical_record_number,
        patient_name=patient.name,
        slices=2,
        kind="chest",
        study_at=dt.datetime(2026, 4, 2, 9, 0),
    )
    mr = sample("MR_small.dcm", patient_id=patient.medical_record_number, StudyDate="20260501")
    services.store_instances(
        doctor, [(f"{i}", d) for i, d in enumerate([*head, *chest, mr])], patient_id=patient.pk
    )
    client.force_login(doctor)

    def found(**query: str) -> list[str]:
        response = client.get("/api/interop/imaging/studies", query)
        assert response.status_code == 200
        return sorted(s["description"] or s["modalities"][0] for s in response.json())

    assert found(patient=patient.medical_record_number) == ["CT CHEST", "CT HEAD", "MR"]
    assert found(modality="MR") == ["MR"]
    assert found(date_from="2026-03-15", date_to="2026-04-30") == ["CT CHEST"]
    assert found(patient="nobody") == []
    bad = client.get("/api/interop/imaging/studies", {"date_from": "March"})
    assert bad.status_code == 400 and bad.json()["code"] == "CORE-001"
    page = client.get("/interop/imaging/", {"modality": "CT"})
    assert page.status_code == 200 and page.content.decode().count("/interop/imaging/studies/") == 2
    # Someone without care for the patient finds nothing.
    client.force_login(hospital.user("neurologist"))
    assert client.get("/api/interop/imaging/studies").json() == []
    assert AuditEvent.objects.filter(action="search", object_type="interop.ImagingStudy").count() >= 5
