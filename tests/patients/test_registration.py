"""Registering a patient through the service, the front-desk page and the API.

Refusals carry a code (PAT-002 duplicate, PAT-003 invalid data with per-field errors, CORE-001
malformed body) and write nothing: no patient row and no audit "create" event.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent
from smartcare.audit.services import verify_chain
from smartcare.core.errors import PermissionDenied
from smartcare.patients.errors import DuplicatePatient, InvalidPatientData
from smartcare.patients.models import Patient
from smartcare.patients.resident_id import check_digit
from smartcare.patients.services import PatientData, register_patient
from tests.factories import as_user, make_national_id


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def wrong_check(number: str) -> str:
    right = check_digit(number[:17])
    return number[:17] + ("1" if right != "1" else "2")


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "王建国",
        "national_id": make_national_id(dt.date(1962, 8, 1), "male"),
        "phone": "139 1234 5678",
        "address": "上海市徐汇区漕溪路 1 号",
        "emergency_contact_name": "王芳",
        "emergency_contact_phone": "13787654321",
        "insurance_type": "urban_employee",
        "insurance_number": "3101040000009999",
    }
    data.update(overrides)
    return data


class Writes:
    """Counts patients and audit "create" events, to show that a refusal wrote nothing."""

    def __init__(self) -> None:
        self.before = self.now()

    @staticmethod
    def now() -> tuple[int, int]:
        return Patient.objects.count(), AuditEvent.objects.filter(action=AuditAction.CREATE).count()

    def assert_none(self) -> None:
        assert self.now() == self.before

    def assert_one_patient(self) -> None:
        patients, creates = self.now()
        assert patients == self.before[0] + 1
        assert creates >= self.before[1] + 1


# --- service -------------------------------------------------------------------------------------------


def test_service_registers_and_audits(hospital: Any) -> None:
    frontdesk = hospital.user("frontdesk")
    data = form_data()
    writes = Writes()
    patient = register_patient(frontdesk, PatientData(**data))
    writes.assert_one_patient()
    patient.refresh_from_db()
    assert patient.name == "王建国"
    assert (patient.sex, patient.birth_date) == ("male", dt.date(1962, 8, 1))  # from the ID
    assert patient.phone == "13912345678"  # spaces removed
    assert patient.medical_record_number.startswith("MRN")
    assert Patient.objects.by_national_id(data["national_id"]).get() == patient
    event = AuditEvent.objects.filter(action=AuditAction.CREATE, patient_id=patient.pk).get()
    assert (event.actor_username, event.object_type, event.object_id) == (
        "frontdesk",
        "patients.Patient",
        str(patient.pk),
    )
    assert verify_chain().ok


def test_service_refuses_duplicate(hospital: Any) -> None:
    frontdesk = hospital.user("frontdesk")
    data = form_data()
    first = register_patient(frontdesk, PatientData(**data))
    writes = Writes()
    # The same number typed with surrounding spaces (and a lower-case x) is still the same person.
    again = f"  {data['national_id'].lower()} "
    for number in (data["national_id"], again):
        with pytest.raises(DuplicatePatient) as caught:
            register_patient(frontdesk, PatientData(**{**data, "national_id": number, "name": "另一个名字"}))
        assert caught.value.code == "PAT-002"
        assert caught.value.status == 409
        assert caught.value.field == "national_id"
        assert first.medical_record_number in caught.value.detail
    writes.assert_none()


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        pytest.param({"national_id": "310104196208010"}, {"national_id"}, id="short-id"),
        pytest.param({"national_id": "wrong-check"}, {"national_id"}, id="check-digit"),
        pytest.param({"phone": "12345"}, {"phone"}, id="phone"),
        pytest.param({"phone": "23912345678"}, {"phone"}, id="phone-prefix"),
        pytest.param(
            {"emergency_contact_phone": "1391234567x"}, {"emergency_contact_phone"}, id="contact-phone"
        ),
        pytest.param({"insurance_number": ""}, {"insurance_number"}, id="insurance-number-missing"),
        pytest.param({"insurance_type": "gold"}, {"insurance_type"}, id="insurance-type"),
        pytest.param({"name": "   "}, {"name"}, id="blank-name"),
        pytest.param({"sex": "female"}, {"sex"}, id="sex-contradicts-id"),
        pytest.param(
            {"national_id": "wrong-check", "phone": "1", "insurance_number": ""},
            {"national_id", "phone", "insurance_number"},
            id="all-at-once",
        ),
    ],
)
def test_service_refuses_invalid_data(hospital: Any, overrides: dict[str, str], fields: set[str]) -> None:
    data = form_data()
    if overrides.get("national_id") == "wrong-check":
        overrides = {**overrides, "national_id": wrong_check(data["national_id"])}
    writes = Writes()
    with pytest.raises(InvalidPatientData) as caught:
        register_patient(hospital.user("frontdesk"), PatientData(**{**data, **overrides}))
    assert caught.value.code == "PAT-003"
    assert caught.value.status == 400
    assert set(caught.value.errors) == fields
    assert all(caught.value.errors[f] for f in fields)
    writes.assert_none()


def test_birth_date_must_match_the_id(hospital: Any) -> None:
    data = PatientData(**form_data(), birth_date=dt.date(1962, 8, 2))
    with pytest.raises(InvalidPatientData) as caught:
        register_patient(hospital.user("frontdesk"), data)
    assert set(caught.value.errors) == {"birth_date"}


def test_self_pay_needs_no_insurance_number(hospital: Any) -> None:
    patient = register_patient(
        hospital.user("frontdesk"), PatientData(**form_data(insurance_type="self_pay", insurance_number=""))
    )
    assert patient.insurance_type == "self_pay"


@pytest.mark.parametrize("role", ["researcher", "auditor", "manager", "patient"])
def test_only_registering_roles_may_register(hospital: Any, role: str) -> None:
    writes = Writes()
    with pytest.raises(PermissionDenied):
        register_patient(hospital.user(role), PatientData(**form_data()))
    writes.assert_none()


# --- page ------------------------------------------------------------------------------------------------


def test_page_registers(client: Any, hospital: Any) -> None:
    page = as_user(client, hospital.user("frontdesk"))
    assert page.get("/patients/register/").status_code == 200
    data = form_data()
    writes = Writes()
    response = page.post("/patients/register/", data)
    writes.assert_one_patient()
    patient = Patient.objects.by_national_id(data["national_id"]).get()
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"


def test_page_refuses_duplicate_with_409(client: Any, hospital: Any) -> None:
    data = form_data()
    register_patient(hospital.user("frontdesk"), PatientData(**data))
    writes = Writes()
    response = as_user(client, hospital.user("frontdesk")).post("/patients/register/", data)
    assert response.status_code == 409
    assert "PAT-002" in response.content.decode()
    assert response.context["form"].errors["national_id"]
    writes.assert_none()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"national_id": "wrong-check"}, "national_id", id="id"),
        pytest.param({"phone": "12345"}, "phone", id="phone"),
        pytest.param({"insurance_number": ""}, "insurance_number", id="insurance-number"),
    ],
)
def test_page_refuses_invalid_data(client: Any, hospital: Any, overrides: dict[str, str], field: str) -> None:
    data = form_data()
    if overrides.get("national_id") == "wrong-check":
        overrides = {"national_id": wrong_check(data["national_id"])}
    writes = Writes()
    response = as_user(client, hospital.user("frontdesk")).post("/patients/register/", {**data, **overrides})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {field}
    assert errors[field][0].startswith("PAT-003: ")
    assert "PAT-003" in response.content.decode()
    writes.assert_none()


def test_page_refuses_what_the_form_cannot_take(client: Any, hospital: Any) -> None:
    writes = Writes()
    response = as_user(client, hospital.user("frontdesk")).post(
        "/patients/register/", form_data(national_id="31010419620801", insurance_type="gold")
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"national_id", "insurance_type"}
    writes.assert_none()


def test_page_needs_the_capability(client: Any, hospital: Any) -> None:
    writes = Writes()
    response = as_user(client, hospital.user("researcher")).post("/patients/register/", form_data())
    assert response.status_code == 403
    writes.assert_none()


# --- API --------------------------------------------------------------------------------------------------


def post_json(client: Any, body: Any) -> Any:
    return client.post("/api/patients/", data=body, content_type="application/json")


def test_api_registers(client: Any, hospital: Any) -> None:
    data = form_data()
    writes = Writes()
    response = post_json(as_user(client, hospital.user("frontdesk")), data)
    assert response.status_code == 201
    body = response.json()
    writes.assert_one_patient()
    patient = Patient.objects.get(pk=body["id"])
    assert patient.national_id == data["national_id"]
    assert (body["sex"], body["birth_date"]) == ("male", "1962-08-01")
    # The answer shows the identifiers masked only.
    assert data["national_id"] not in response.content.decode()
    assert body["national_id_masked"] == data["national_id"][:4] + "*" * 10 + data["national_id"][-4:]
    assert body["phone_masked"] == "139****5678"


def test_api_refuses_duplicate(client: Any, hospital: Any) -> None:
    data = form_data()
    register_patient(hospital.user("frontdesk"), PatientData(**data))
    writes = Writes()
    response = post_json(as_user(client, hospital.user("frontdesk")), data)
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("PAT-002", "national_id")
    writes.assert_none()


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        pytest.param({"national_id": "wrong-check"}, {"national_id"}, id="id"),
        pytest.param({"national_id": "110105194902300023"}, {"national_id"}, id="impossible-date"),
        pytest.param({"phone": "12345"}, {"phone"}, id="phone"),
        pytest.param({"insurance_number": ""}, {"insurance_number"}, id="insurance-number"),
        pytest.param(
            {"national_id": "wrong-check", "phone": "12345", "insurance_number": ""},
            {"national_id", "phone", "insurance_number"},
            id="several",
        ),
    ],
)
def test_api_refuses_invalid_data(
    client: Any, hospital: Any, overrides: dict[str, str], fields: set[str]
) -> None:
    data = form_data()
    if overrides.get("national_id") == "wrong-check":
        overrides = {**overrides, "national_id": wrong_check(data["national_id"])}
    writes = Writes()
    response = post_json(as_user(client, hospital.user("frontdesk")), {**data, **overrides})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "PAT-003"
    assert {error["field"] for error in problem["errors"]} == fields
    assert all(error["message"] for error in problem["errors"])
    writes.assert_none()


def test_api_malformed_body_is_core_001(client: Any, hospital: Any) -> None:
    writes = Writes()
    response = as_user(client, hospital.user("frontdesk")).post(
        "/api/patients/", data="{'name': 'not json'}", content_type="application/json"
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "CORE-001"
    assert problem["errors"]
    writes.assert_none()


def test_api_missing_fields_are_core_001(client: Any, hospital: Any) -> None:
    writes = Writes()
    response = post_json(as_user(client, hospital.user("frontdesk")), {"phone": "13912345678"})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "CORE-001"
    assert {"name", "national_id"} <= {error["field"] for error in problem["errors"]}
    writes.assert_none()


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("researcher", 403)])
def test_api_refuses_callers_who_may_not_register(
    client: Any, hospital: Any, role: str | None, status: int
) -> None:
    writes = Writes()
    response = post_json(as_user(client, hospital.user(role) if role else None), form_data())
    assert response.status_code == status
    writes.assert_none()


# --- concurrency (PostgreSQL) --------------------------------------------------------------------------------


def register_at_once(payloads: list[PatientData]) -> tuple[list[Patient], list[BaseException]]:
    from tests.factories import staff

    clerk = staff("clerk", "front_desk")
    barrier = threading.Barrier(len(payloads))
    created: list[Patient] = []
    errors: list[BaseException] = []

    def register(data: PatientData) -> None:
        try:
            barrier.wait(timeout=30)
            created.append(register_patient(clerk, data))
        except BaseException as exc:  # collected for the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(data,)) for data in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return created, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_resident_id_registered_at_once_gives_one_patient() -> None:
    data = PatientData(**form_data())
    created, errors = register_at_once([data] * 8)
    assert len(created) == 1
    assert len(errors) == 7
    assert all(isinstance(error, DuplicatePatient) for error in errors), errors
    assert Patient.objects.by_national_id(data.national_id).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_type="patients.Patient").count() == 1
    assert verify_chain().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_different_patients_registered_at_once_all_succeed() -> None:
    payloads = [
        PatientData(**form_data(national_id=make_national_id(dt.date(1970 + n, 1, 1 + n), "female")))
        for n in range(10)
    ]
    created, errors = register_at_once(payloads)
    assert errors == []
    assert len(created) == 10
    numbers = Patient.objects.values_list("medical_record_number", flat=True)
    assert len(set(numbers)) == 10
    assert verify_chain().ok
