"""`smartcare demo-data`: the demo hospital that every module fills with activity.

The whole command runs once for this module (inside a transaction that is rolled back at the end);
each test then looks at the result inside its own savepoint.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from smartcare.accounts.choices import Role
from smartcare.accounts.models import CareRelationship, User
from smartcare.audit.models import AuditEvent
from smartcare.audit.services import verify_chain
from smartcare.organization.models import Department, NationalDepartmentCode, Practitioner
from smartcare.patients.models import Patient
from smartcare.patients.resident_id import parse_resident_id
from smartcare.simulation import foundation

PATIENTS = 300
CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
ROLE_LOGINS = {
    "patient": Role.PATIENT,
    "doctor": Role.DOCTOR,
    "nurse": Role.NURSE,
    "head": Role.DEPARTMENT_HEAD,
    "frontdesk": Role.FRONT_DESK,
    "manager": Role.OPERATIONS_MANAGER,
    "researcher": Role.RESEARCHER,
    "steward": Role.DATA_STEWARD,
    "itadmin": Role.IT_ADMIN,
    "auditor": Role.AUDITOR,
}


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        out = io.StringIO()
        try:
            call_command("demo_data", "--seed", "3", "--patients", str(PATIENTS), stdout=out)
        except BaseException:
            outer.__exit__(None, None, None)
            raise
    try:
        yield out.getvalue()
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture()
def built(demo: str, db: Any) -> str:
    return demo


def test_departments_carry_national_codes(built: str) -> None:
    departments = Department.objects.filter(hospital__code=foundation.HOSPITAL_CODE).select_related(
        "national_code"
    )
    assert departments.count() >= 20
    catalog = set(NationalDepartmentCode.objects.values_list("code", flat=True))
    for department in departments:
        assert department.national_code is not None
        assert department.national_code.code in catalog
    assert departments.values("national_code").distinct().count() == departments.count()


def test_staff(built: str) -> None:
    assert Practitioner.objects.count() >= 150
    assert Practitioner.objects.filter(user__role=Role.DOCTOR).count() >= 100
    assert Practitioner.objects.filter(user__role=Role.NURSE).count() >= 50
    # Every clinical department has a head.
    clinical = Department.objects.filter(is_clinical=True)
    heads = set(
        Practitioner.objects.filter(user__role=Role.DEPARTMENT_HEAD).values_list("department_id", flat=True)
    )
    assert set(clinical.values_list("pk", flat=True)) <= heads
    licences = list(Practitioner.objects.values_list("licence_number", flat=True))
    assert len(licences) == len(set(licences))


def test_patients_have_valid_ids_and_chinese_names(built: str) -> None:
    patients = list(Patient.objects.all())
    # The registry's patients, and those the HIS registered over HL7 in the interop demo.
    from_his = AuditEvent.objects.filter(
        action="create", object_type="patients.Patient", detail__via="hl7"
    ).count()
    assert from_his >= 1
    assert len(patients) == PATIENTS + from_his
    seen = set()
    for patient in patients:
        parsed = parse_resident_id(patient.national_id)
        assert parsed.birth_date == patient.birth_date, patient
        assert parsed.sex == patient.sex, patient
        assert CHINESE_NAME.match(patient.name), patient.name
        assert Patient.objects.by_national_id(patient.national_id).get().pk == patient.pk
        seen.add(patient.national_id)
    assert len(seen) == len(patients)
    assert len({p.medical_record_number for p in patients}) == len(patients)
    # A realistic spread: both sexes, children and elderly people.
    assert {p.sex for p in patients} == {"male", "female"}
    ages = [p.age for p in patients]
    assert min(ages) < 18
    assert max(ages) >= 65


def test_every_patient_is_in_someones_care(built: str) -> None:
    cared_for = set(CareRelationship.objects.values_list("patient_id", flat=True))
    assert cared_for == set(Patient.objects.values_list("pk", flat=True))
    assert CareRelationship.objects.count() >= PATIENTS


def test_one_login_per_role(built: str) -> None:
    for username, role in ROLE_LOGINS.items():
        user = User.objects.get(username=username)
        assert user.role == role
        assert user.is_active
        assert user.check_password(foundation.DEMO_PASSWORD)
    demo_patient = Patient.objects.get(user__username="patient")
    assert demo_patient.name == "张秀英"
    assert Practitioner.objects.get(user__username="doctor").department.national_code.code == "03.04"


@pytest.mark.parametrize("username", list(ROLE_LOGINS))
def test_demo_users_sign_in(built: str, client: Any, username: str) -> None:
    response = client.post(
        "/accounts/login/", {"username": username, "password": foundation.DEMO_PASSWORD}, follow=False
    )
    assert response.status_code == 302, response.content.decode()[:500]
    assert int(client.session["_auth_user_id"]) == User.objects.get(username=username).pk
    client.logout()


def test_wrong_password_is_refused(built: str, client: Any) -> None:
    response = client.post("/accounts/login/", {"username": "doctor", "password": "not-the-password"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_output_lists_the_logins(built: str) -> None:
    assert "demo hospital ready" in built
    assert f"password: {foundation.DEMO_PASSWORD}" in built
    for username in ROLE_LOGINS:
        assert re.search(rf"\b{username}\b", built)


def test_audit_chain_is_intact(built: str) -> None:
    result = verify_chain()
    assert result.ok, result.problem
    assert result.checked >= 1


def test_second_run_fails_with_sim_001(built: str) -> None:
    patients = Patient.objects.count()
    users = User.objects.count()
    err = io.StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("demo_data", "--seed", "3", "--patients", "10", stdout=io.StringIO(), stderr=err)
    assert caught.value.code == 1
    assert "SIM-001" in err.getvalue()
    assert (Patient.objects.count(), User.objects.count()) == (patients, users)


def test_if_missing_is_a_no_op(built: str) -> None:
    patients = Patient.objects.count()
    users = User.objects.count()
    out = io.StringIO()
    call_command("demo_data", "--seed", "4", "--if-missing", stdout=out)
    assert "already present" in out.getvalue()
    assert (Patient.objects.count(), User.objects.count()) == (patients, users)


def test_a_year_of_triage_answered_by_the_engine(built: str) -> None:
    from smartcare.triage.models import TriageRecord

    records = list(TriageRecord.objects.all())
    assert len(records) >= 500
    statuses = {r.status for r in records}
    assert {"departments", "emergency"} <= statuses
    assert {r.channel for r in records} == {"portal", "kiosk", "desk", "api"}
    assert all(r.suggested_departments for r in records if r.status != "unclear")
    chosen = [r for r in records if r.chosen_department]
    assert len(chosen) > len(records) // 3
    assert all(r.chosen_department == r.suggested_departments[0] for r in chosen)
    assert all(r.patient_id for r in records if r.channel == "portal")
    days = {r.created_at.date() for r in records}
    assert len(days) > 200
    assert "triage:" in built


def test_decision_support_consulted_with_feedback(built: str) -> None:
    from smartcare.cdss.models import Consultation, RuleFiring

    consultations = Consultation.objects.all()
    assert consultations.count() >= 50
    assert {c.hook for c in consultations} == {"patient-view", "order-sign"}
    firings = RuleFiring.objects.all()
    assert firings.exists()
    assert firings.filter(outcome="accepted").exists()
    overridden = firings.filter(outcome="overridden")
    assert overridden.exists() and not overridden.filter(override_reason="").exists()
    # Shown during the visits of the past year, not at build time.
    assert len({c.at.date() for c in consultations}) > 20
    assert "decision support:" in built
