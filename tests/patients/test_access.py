"""Patient-level access: ``access_patient`` and ``Patient.objects.visible_to``.

Care relationships (department-wide or named), their validity, break-the-glass with its reason
and duration, roles without access, front desk, patients, the audit trail of every access and
refusal (with the client address), one-code lookup and the scan page.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.errors import BreakGlassNotAllowed, BreakGlassReasonRequired
from smartcare.accounts.models import BreakGlassGrant
from smartcare.accounts.services import (
    BREAK_GLASS_MIN_REASON,
    break_the_glass,
    end_care_relationship,
    register_care_relationship,
)
from smartcare.audit.models import AuditEvent
from smartcare.core import clock, context
from smartcare.core.errors import NotFound
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient
from tests.factories import TestHospital, UserFactory, build_hospital, staff

REASON = "Unconscious patient in the emergency room, history needed"
NO_ACCESS_ROLES = ["researcher", "manager", "steward", "itadmin", "auditor", "device"]


@pytest.fixture()
def hospital(db: Any, settings: Any) -> TestHospital:
    # Argon2 costs seconds per hospital; these tests are about access, not password storage.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return build_hospital()


def visible(user: Any) -> set[int]:
    return set(Patient.objects.visible_to(user).values_list("pk", flat=True))


def can_open(user: Any, patient: Any, action: str = AccessAction.VIEW) -> bool:
    try:
        access_patient(user, patient, action)
    except NotFound:
        return False
    return True


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-sequence").first()
    assert event is not None
    return event


# --- Care relationships --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["doctor", "nurse", "head"])
def test_care_relationship_in_own_department_grants(hospital: TestHospital, name: str) -> None:
    user = hospital.user(name)
    assert can_open(user, hospital.patient_in_care)
    assert can_open(user, hospital.patient_in_care, AccessAction.CLINICAL)
    assert visible(user) == {hospital.patient_in_care.pk, hospital.own_patient.pk}


def test_care_relationship_of_another_department_does_not(hospital: TestHospital) -> None:
    neurologist = hospital.user("neurologist")
    assert not can_open(neurologist, hospital.patient_in_care)
    assert not can_open(neurologist, hospital.patient_in_care, AccessAction.CLINICAL)
    assert visible(neurologist) == {hospital.patient_elsewhere.pk}
    assert not can_open(hospital.user("doctor"), hospital.patient_elsewhere)


def test_expired_relationship_does_not_grant(hospital: TestHospital) -> None:
    now = clock.now()
    register_care_relationship(
        patient=hospital.patient_elsewhere,
        department=hospital.cardiology,
        kind=CareRelationshipKind.REFERRAL,
        source="test:expired",
        valid_from=now - dt.timedelta(days=10),
        valid_until=now - dt.timedelta(minutes=1),
    )
    doctor = hospital.user("doctor")
    assert hospital.patient_elsewhere.pk not in visible(doctor)
    assert not can_open(doctor, hospital.patient_elsewhere)


def test_relationship_counts_only_between_valid_from_and_valid_until(hospital: TestHospital) -> None:
    now = clock.now()
    register_care_relationship(
        patient=hospital.patient_elsewhere,
        department=hospital.cardiology,
        kind=CareRelationshipKind.ADMISSION,
        source="test:window",
        valid_from=now + dt.timedelta(hours=1),
        valid_until=now + dt.timedelta(hours=3),
    )
    doctor = hospital.user("doctor")
    assert not can_open(doctor, hospital.patient_elsewhere)  # not yet
    with clock.frozen_at(now + dt.timedelta(hours=2)):
        assert can_open(doctor, hospital.patient_elsewhere)
        assert hospital.patient_elsewhere.pk in visible(doctor)
    with clock.frozen_at(now + dt.timedelta(hours=3, seconds=1)):
        assert not can_open(doctor, hospital.patient_elsewhere)
        assert hospital.patient_elsewhere.pk not in visible(doctor)


def test_ended_relationship_does_not_grant(hospital: TestHospital) -> None:
    doctor = hospital.user("doctor")
    assert can_open(doctor, hospital.patient_in_care)
    assert end_care_relationship(source="test:1") == 1
    assert not can_open(doctor, hospital.patient_in_care)
    assert hospital.patient_in_care.pk not in visible(doctor)
    # Registering the same source again reopens it.
    register_care_relationship(
        patient=hospital.patient_in_care,
        department=hospital.cardiology,
        kind=CareRelationshipKind.APPOINTMENT,
        source="test:1",
    )
    assert can_open(doctor, hospital.patient_in_care)


def test_named_relationship_grants_only_that_clinician(hospital: TestHospital) -> None:
    register_care_relationship(
        patient=hospital.patient_elsewhere,
        department=hospital.cardiology,
        kind=CareRelationshipKind.CONSULTATION,
        source="test:consult",
        practitioner_user=hospital.user("doctor"),
    )
    assert can_open(hospital.user("doctor"), hospital.patient_elsewhere, AccessAction.CLINICAL)
    for colleague in ("nurse", "head"):
        assert not can_open(hospital.user(colleague), hospital.patient_elsewhere)
        assert hospital.patient_elsewhere.pk not in visible(hospital.user(colleague))


def test_named_relationship_follows_the_person_not_the_department(hospital: TestHospital) -> None:
    """A consultant named on a neurology relationship sees the patient from cardiology."""
    register_care_relationship(
        patient=hospital.other_patient,
        department=hospital.neurology,
        kind=CareRelationshipKind.CONSULTATION,
        source="test:expert",
        practitioner_user=hospital.user("doctor"),
    )
    assert can_open(hospital.user("doctor"), hospital.other_patient)
    assert not can_open(hospital.user("neurologist"), hospital.other_patient)


def test_clinician_without_a_department_sees_only_named_relationships(hospital: TestHospital) -> None:
    floater = staff("floater", Role.DOCTOR)
    assert visible(floater) == set()
    register_care_relationship(
        patient=hospital.patient_in_care,
        department=hospital.cardiology,
        kind=CareRelationshipKind.CONSULTATION,
        source="test:floater",
        practitioner_user=floater,
    )
    assert visible(floater) == {hospital.patient_in_care.pk}


def test_inactive_clinician_sees_nothing(hospital: TestHospital) -> None:
    doctor = hospital.user("doctor")
    doctor.is_active = False
    doctor.save(update_fields=["is_active"])
    assert visible(doctor) == set()
    assert not can_open(doctor, hospital.patient_in_care)


# --- Break-the-glass ------------------------------------------------------------------------------


def test_break_the_glass_grants_only_for_its_duration(hospital: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_BREAK_GLASS_HOURS = 4
    neurologist = hospital.user("neurologist")
    patient = hospital.patient_in_care
    assert not can_open(neurologist, patient)
    start = clock.now()
    with clock.frozen_at(start):
        grant = break_the_glass(neurologist, patient, REASON)
    assert grant.expires_at == start + dt.timedelta(hours=4)
    with clock.frozen_at(start + dt.timedelta(hours=3, minutes=59)):
        assert can_open(neurologist, patient, AccessAction.CLINICAL)
        assert patient.pk in visible(neurologist)
    with clock.frozen_at(start + dt.timedelta(hours=4, seconds=1)):
        assert not can_open(neurologist, patient)
        assert patient.pk not in visible(neurologist)


def test_break_the_glass_is_for_that_patient_and_that_clinician(hospital: TestHospital) -> None:
    neurologist = hospital.user("neurologist")
    colleague = staff("neuro2", Role.DOCTOR, hospital.neurology)
    break_the_glass(neurologist, hospital.patient_in_care, REASON)
    assert can_open(neurologist, hospital.patient_in_care)
    assert not can_open(neurologist, hospital.other_patient)
    assert not can_open(colleague, hospital.patient_in_care)
    assert visible(neurologist) == {hospital.patient_elsewhere.pk, hospital.patient_in_care.pk}


def test_break_the_glass_is_audited_with_its_reason(hospital: TestHospital) -> None:
    grant = break_the_glass(hospital.user("neurologist"), hospital.patient_in_care, f"  {REASON}  ")
    assert grant.reason == REASON
    event = last_event()
    assert event.action == "break_glass"
    assert (event.actor_username, event.actor_role) == ("neurologist", Role.DOCTOR)
    assert event.patient_id == hospital.patient_in_care.pk
    assert event.reason == REASON
    assert grant.department == hospital.neurology


@pytest.mark.parametrize(
    "reason",
    [
        "",
        "   ",
        "urgent",
        "x" * (BREAK_GLASS_MIN_REASON - 1),
        "  " + "y" * (BREAK_GLASS_MIN_REASON - 1) + "  ",
    ],
)
def test_break_the_glass_needs_a_reason_of_fifteen_characters(hospital: TestHospital, reason: str) -> None:
    assert BREAK_GLASS_MIN_REASON == 15
    events_before = AuditEvent.objects.count()
    with pytest.raises(BreakGlassReasonRequired) as raised:
        break_the_glass(hospital.user("neurologist"), hospital.patient_in_care, reason)
    assert raised.value.code == "ACCT-001"
    assert raised.value.status == 400
    assert raised.value.field == "reason"
    assert not BreakGlassGrant.objects.exists()
    assert AuditEvent.objects.count() == events_before
    assert not can_open(hospital.user("neurologist"), hospital.patient_in_care)


def test_break_the_glass_accepts_exactly_fifteen_characters(hospital: TestHospital) -> None:
    break_the_glass(hospital.user("neurologist"), hospital.patient_in_care, "z" * 15)
    assert can_open(hospital.user("neurologist"), hospital.patient_in_care)


@pytest.mark.parametrize(
    "name", ["frontdesk", "researcher", "manager", "steward", "itadmin", "auditor", "patient"]
)
def test_break_the_glass_is_refused_to_roles_without_it(hospital: TestHospital, name: str) -> None:
    with pytest.raises(BreakGlassNotAllowed) as raised:
        break_the_glass(hospital.user(name), hospital.patient_in_care, REASON)
    assert raised.value.code == "ACCT-002"
    assert not BreakGlassGrant.objects.exists()


def test_break_the_glass_page_refuses_a_short_reason(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("neurologist"))
    response = client.post(
        "/patients/break-glass/",
        {"code": hospital.patient_in_care.medical_record_number, "reason": "too short"},
    )
    assert response.status_code == 400
    assert not BreakGlassGrant.objects.exists()
    response = client.post(
        "/patients/break-glass/", {"code": hospital.patient_in_care.medical_record_number, "reason": REASON}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{hospital.patient_in_care.pk}/"
    assert client.get(response["Location"]).status_code == 200


# --- Roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NO_ACCESS_ROLES)
def test_roles_without_patient_access_see_nothing(hospital: TestHospital, name: str) -> None:
    user = hospital.user(name)
    assert visible(user) == set()
    for patient in (hospital.patient_in_care, hospital.patient_elsewhere, hospital.own_patient):
        for action in AccessAction:
            assert not can_open(user, patient, action)


def test_front_desk_sees_demographics_but_not_the_clinical_record(hospital: TestHospital) -> None:
    desk = hospital.user("frontdesk")
    assert visible(desk) == set(Patient.objects.values_list("pk", flat=True))
    for patient in (hospital.patient_in_care, hospital.patient_elsewhere, hospital.other_patient):
        assert can_open(desk, patient, AccessAction.VIEW)
        assert can_open(desk, patient, AccessAction.UPDATE)
        with pytest.raises(NotFound) as raised:
            access_patient(desk, patient, AccessAction.CLINICAL)
        assert raised.value.code == "CORE-404"
        assert not can_open(desk, patient, AccessAction.EXPORT)
    event = last_event()
    assert event.action == "denied"
    assert event.detail == {"action": "export"}


def test_nurse_may_not_export(hospital: TestHospital) -> None:
    assert can_open(hospital.user("doctor"), hospital.patient_in_care, AccessAction.EXPORT)
    assert last_event().action == "export"
    assert not can_open(hospital.user("nurse"), hospital.patient_in_care, AccessAction.EXPORT)
    assert last_event().action == "denied"


def test_patient_sees_only_themself(hospital: TestHospital) -> None:
    patient_user = hospital.user("patient")
    assert visible(patient_user) == {hospital.own_patient.pk}
    assert can_open(patient_user, hospital.own_patient, AccessAction.CLINICAL)
    for other in (hospital.other_patient, hospital.patient_in_care, hospital.patient_elsewhere):
        assert not can_open(patient_user, other)


def test_patient_without_a_record_sees_nothing(hospital: TestHospital) -> None:
    newcomer = UserFactory(username="newcomer", role=Role.PATIENT)
    assert visible(newcomer) == set()
    assert not can_open(newcomer, hospital.own_patient)


def test_anonymous_sees_nothing_and_leaves_no_trace(hospital: TestHospital) -> None:
    from django.contrib.auth.models import AnonymousUser

    events_before = AuditEvent.objects.count()
    assert visible(AnonymousUser()) == set()
    assert visible(None) == set()
    assert not can_open(AnonymousUser(), hospital.patient_in_care)
    assert not can_open(None, hospital.patient_in_care)
    assert AuditEvent.objects.count() == events_before


# --- The audit trail -----------------------------------------------------------------------------


def test_successful_access_is_audited(hospital: TestHospital) -> None:
    doctor = hospital.user("doctor")
    with context.acting(context.RequestContext(client_address="10.9.8.7", channel="cli")):
        access_patient(doctor, hospital.patient_in_care.pk, AccessAction.CLINICAL, reason="ward round")
    event = last_event()
    assert event.action == "read"
    assert event.actor == doctor
    assert (event.actor_username, event.actor_role) == ("doctor", Role.DOCTOR)
    assert event.patient_id == hospital.patient_in_care.pk
    assert (event.object_type, event.object_id) == ("patients.Patient", str(hospital.patient_in_care.pk))
    assert event.reason == "ward round"
    assert event.detail == {"action": "clinical"}
    assert (event.client_address, event.channel) == ("10.9.8.7", "cli")


@pytest.mark.parametrize(
    ("action", "audited"),
    [("view", "read"), ("clinical", "read"), ("update", "update"), ("export", "export")],
)
def test_each_action_has_its_audit_action(hospital: TestHospital, action: str, audited: str) -> None:
    access_patient(hospital.user("doctor"), hospital.patient_in_care, action)
    assert last_event().action == audited


def test_access_without_audit_writes_nothing(hospital: TestHospital) -> None:
    """Services that record their own write event open the patient with audit=False."""
    events_before = AuditEvent.objects.count()
    access_patient(hospital.user("doctor"), hospital.patient_in_care, AccessAction.UPDATE, audit=False)
    assert AuditEvent.objects.count() == events_before


def test_refusal_is_audited_as_denied(hospital: TestHospital) -> None:
    neurologist = hospital.user("neurologist")
    with pytest.raises(NotFound):
        access_patient(neurologist, hospital.patient_in_care, AccessAction.CLINICAL)
    event = last_event()
    assert event.action == "denied"
    assert (event.actor_username, event.actor_role) == ("neurologist", Role.DOCTOR)
    assert event.patient_id == hospital.patient_in_care.pk
    assert event.detail == {"action": "clinical"}


def test_refusal_of_a_missing_patient_is_audited_too(hospital: TestHospital) -> None:
    with pytest.raises(NotFound):
        access_patient(hospital.user("doctor"), 10**9)
    event = last_event()
    assert (event.action, event.patient_id, event.actor_username) == ("denied", 10**9, "doctor")


def test_api_access_is_audited_with_the_client_address(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("doctor"))
    response = client.get(f"/api/patients/{hospital.patient_in_care.pk}")
    assert response.status_code == 200
    event = last_event()
    assert (event.action, event.actor_username, event.actor_role) == ("read", "doctor", Role.DOCTOR)
    assert event.patient_id == hospital.patient_in_care.pk
    assert (event.client_address, event.channel) == ("127.0.0.1", "api")
    assert event.request_id == response["X-Request-ID"]


def test_page_refusal_is_audited_with_the_client_address(hospital: TestHospital) -> None:
    client = Client(REMOTE_ADDR="198.51.100.23")
    client.force_login(hospital.user("neurologist"))
    response = client.get(f"/patients/{hospital.patient_in_care.pk}/")
    assert response.status_code == 404
    event = last_event()
    assert (event.action, event.actor_username, event.patient_id) == (
        "denied",
        "neurologist",
        hospital.patient_in_care.pk,
    )
    assert (event.client_address, event.channel) == ("198.51.100.23", "web")


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),  # from a trusted proxy: believed
        ("198.51.100.20", "203.0.113.7", "198.51.100.20"),  # from anyone else: ignored
        ("127.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the client's own entry is not believed
        ("127.0.0.1", "203.0.113.7, ::1, 127.0.0.1", "203.0.113.7"),  # a chain of trusted proxies
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.7, garbage", "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    hospital: TestHospital, remote: str, forwarded: str, expected: str
) -> None:
    client = Client(REMOTE_ADDR=remote)
    client.force_login(hospital.user("doctor"))
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.get(f"/api/patients/{hospital.patient_in_care.pk}", headers=headers)
    assert response.status_code == 200
    assert last_event().client_address == expected


def test_trusted_proxies_come_from_settings(hospital: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_TRUSTED_PROXIES = ["10.0.0.1"]
    url = f"/api/patients/{hospital.patient_in_care.pk}"
    proxied = Client(REMOTE_ADDR="10.0.0.1")
    proxied.force_login(hospital.user("doctor"))
    proxied.get(url, headers={"X-Forwarded-For": "203.0.113.9"})
    assert last_event().client_address == "203.0.113.9"
    local = Client()  # 127.0.0.1, no longer trusted
    local.force_login(hospital.user("doctor"))
    local.get(url, headers={"X-Forwarded-For": "203.0.113.9"})
    assert last_event().client_address == "127.0.0.1"


# --- One code and the scan page --------------------------------------------------------------------


def test_one_codes_are_unique_and_not_guessable(hospital: TestHospital) -> None:
    codes = list(Patient.objects.values_list("one_code", flat=True))
    assert len(set(codes)) == len(codes) == 4
    for code in codes:
        assert code.startswith("P")
        assert len(code) >= 22  # 128 random bits
    assert not {str(pk) for pk in Patient.objects.values_list("pk", flat=True)} & set(codes)


@pytest.mark.parametrize(("name", "allowed"), [("doctor", True), ("frontdesk", True), ("neurologist", False)])
def test_one_code_lookup(hospital: TestHospital, name: str, allowed: bool) -> None:
    patient = hospital.patient_in_care
    user = hospital.user(name)
    if allowed:
        assert access_patient(user, patient.one_code) == patient
        assert last_event().action == "read"
    else:
        with pytest.raises(NotFound):
            access_patient(user, patient.one_code)
        assert last_event().action == "denied"
        assert last_event().patient_id == patient.pk
    with pytest.raises(NotFound):
        access_patient(user, "P" + "A" * 22)


@pytest.mark.parametrize(
    ("name", "status"),
    [("doctor", 200), ("frontdesk", 200), ("neurologist", 404), ("researcher", 404), ("patient", 404)],
)
def test_one_code_api(hospital: TestHospital, name: str, status: int) -> None:
    patient = hospital.patient_in_care
    client = Client()
    client.force_login(hospital.user(name))
    response = client.get(f"/api/patients/by-code/{patient.one_code}")
    assert response.status_code == status
    unknown = client.get("/api/patients/by-code/P" + "A" * 22)
    assert unknown.status_code == 404
    if status == 200:
        assert response.json()["one_code"] == patient.one_code
        assert response.json()["id"] == patient.pk
    else:
        problem, missing = json.loads(response.content), json.loads(unknown.content)
        assert problem["code"] == missing["code"] == "CORE-404"
        assert {k: v for k, v in problem.items() if k != "instance"} == {
            k: v for k, v in missing.items() if k != "instance"
        }


def test_one_code_api_does_not_accept_record_numbers_or_ids(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("frontdesk"))
    patient = hospital.patient_in_care
    assert client.get(f"/api/patients/by-code/{patient.medical_record_number}").status_code == 404
    assert client.get(f"/api/patients/by-code/{patient.pk}").status_code == 404


@pytest.mark.parametrize("name", ["frontdesk", "doctor"])
def test_scan_page_opens_by_one_code(hospital: TestHospital, name: str) -> None:
    patient = hospital.patient_in_care
    client = Client()
    client.force_login(hospital.user(name))
    assert client.get("/patients/scan/").status_code == 200
    response = client.post("/patients/scan/", {"code": f"  {patient.one_code} "})
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"
    event = last_event()
    assert (event.action, event.patient_id, event.reason) == ("read", patient.pk, "one code scan")


@pytest.mark.parametrize("typed", ["exact", "lower"])
def test_scan_page_opens_by_record_number(hospital: TestHospital, typed: str) -> None:
    patient = hospital.patient_elsewhere
    code = patient.medical_record_number if typed == "exact" else patient.medical_record_number.lower()
    client = Client()
    client.force_login(hospital.user("frontdesk"))
    response = client.post("/patients/scan/", {"code": code})
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"


@pytest.mark.parametrize("by", ["one_code", "medical_record_number"])
def test_scan_page_hides_patients_the_clinician_may_not_see(hospital: TestHospital, by: str) -> None:
    patient = hospital.patient_in_care
    client = Client()
    client.force_login(hospital.user("neurologist"))
    denied = client.post("/patients/scan/", {"code": getattr(patient, by)})
    missing = client.post("/patients/scan/", {"code": "P" + "A" * 22 if by == "one_code" else "MRN99999999"})
    assert denied.status_code == missing.status_code == 404
    assert b'data-error-code="CORE-404"' in denied.content
    assert b'data-error-code="CORE-404"' in missing.content
    assert patient.name.encode() not in denied.content
    event = AuditEvent.objects.filter(action="denied").order_by("-sequence").first()
    assert event is not None
    assert (event.actor_username, event.patient_id) == ("neurologist", patient.pk)


@pytest.mark.parametrize("name", ["researcher", "patient", "itadmin", "auditor"])
def test_scan_page_is_for_desks_and_clinicians(hospital: TestHospital, name: str) -> None:
    client = Client()
    client.force_login(hospital.user(name))
    assert client.get("/patients/scan/").status_code == 403
    response = client.post("/patients/scan/", {"code": hospital.patient_in_care.one_code})
    assert response.status_code == 403
    assert b'data-error-code="CORE-403"' in response.content
