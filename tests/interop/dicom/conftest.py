from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from smartcare.accounts.choices import Role
from smartcare.interop.models import ConnectedSystem, SystemKind
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _dicom_dir(settings: Any, tmp_path: Path) -> Path:
    settings.SMARTCARE_DICOM_DIR = str(tmp_path / "dicom")
    settings.SMARTCARE_DICOMWEB_URL = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LANGUAGE_CODE = "en"
    return tmp_path / "dicom"


def sample(name: str, *, patient_id: str | None = None, **changes: Any) -> bytes:
    """One of pydicom's own test files (shipped with pydicom), with its patient ID changed."""
    path = get_testdata_file(name)
    assert path, name
    ds = pydicom.dcmread(path)
    if patient_id is not None:
        ds.PatientID = patient_id
    for key, value in changes.items():
        setattr(ds, key, value)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture()
def pacs(hospital: Any) -> ConnectedSystem:
    user = UserFactory(username="pacs-interface", role=Role.CHANNEL)
    return ConnectedSystem.objects.create(
        name="PACS", kind=SystemKind.RIS, user=user, sending_application="PACS", assigning_authority="PACS"
    )
