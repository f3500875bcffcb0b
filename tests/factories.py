"""Test data: a small hospital with one user per role and patients with and without care."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import factory

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import User
from smartcare.accounts.services import register_care_relationship
from smartcare.organization.choices import Sex, Title
from smartcare.organization.models import Campus, Department, Hospital, NationalDepartmentCode, Practitioner
from smartcare.patients.choices import InsuranceType
from smartcare.patients.models import Patient
from smartcare.patients.resident_id import make_resident_id

PASSWORD = "test-password-2026"
_sequence = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.PATIENT
    display_name = factory.LazyAttribute(lambda o: o.username)
    password = factory.django.Password(PASSWORD)


def make_national_id(birth: dt.date = dt.date(1980, 5, 17), sex: str = Sex.FEMALE) -> str:
    return make_resident_id("310104", birth, next(_sequence) * 2 + (1 if sex == Sex.MALE else 0), sex)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    medical_record_number = factory.Sequence(lambda n: f"MRN9{n:07d}")
    name = factory.Sequence(lambda n: f"测试患者{n}")
    sex = Sex.FEMALE
    birth_date = dt.date(1980, 5, 17)
    national_id = factory.LazyAttribute(lambda o: make_national_id(o.birth_date, o.sex))
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    insurance_type = InsuranceType.URBAN_EMPLOYEE
    insurance_number = "3101040000000001"


def department(hospital: Hospital, code: str) -> Department:
    entry = NationalDepartmentCode.objects.get(code=code)
    return Department.objects.create(
        hospital=hospital,
        national_code=entry,
        name_zh=entry.name_zh,
        name_en=entry.name_en,
        campus=hospital.campuses.first(),
    )


@dataclass
class TestHospital:
    __test__ = False  # not a test class, despite the name
    hospital: Hospital
    cardiology: Department
    neurology: Department
    users: dict[str, User] = field(default_factory=dict)
    patient_in_care: Patient | None = None  # cardiology cares for them
    patient_elsewhere: Patient | None = None  # only neurology cares for them
    own_patient: Patient | None = None  # linked to the `patient` user
    other_patient: Patient | None = None  # linked to another patient user

    def user(self, name: str) -> User:
        return self.users[name]


def staff(
    username: str, role: str, dept: Department | None = None, title: str = Title.ATTENDING_PHYSICIAN
) -> User:
    user = UserFactory(
        username=username, role=role, is_staff=role == Role.IT_ADMIN, is_superuser=role == Role.IT_ADMIN
    )
    if dept is not None:
        Practitioner.objects.create(
            user=user, department=dept, title=title, licence_number=f"LIC{next(_sequence):08d}"
        )
    return user


def build_hospital() -> TestHospital:
    # Transactional tests flush the tables, the national catalog (a data migration) included.
    if not NationalDepartmentCode.objects.exists():
        from smartcare.organization.catalog import load_department_catalog

        load_department_catalog()
    hospital = Hospital.objects.create(code="T", name_zh="测试医院", name_en="Test Hospital")
    Campus.objects.create(hospital=hospital, code="MAIN", name_zh="总院", name_en="Main")
    cardiology = department(hospital, "03.04")
    neurology = department(hospital, "03.03")
    h = TestHospital(hospital=hospital, cardiology=cardiology, neurology=neurology)
    h.users["doctor"] = staff("doctor", Role.DOCTOR, cardiology)
    h.users["nurse"] = staff("nurse", Role.NURSE, cardiology, Title.NURSE)
    h.users["head"] = staff("head", Role.DEPARTMENT_HEAD, cardiology, Title.CHIEF_PHYSICIAN)
    h.users["neurologist"] = staff("neurologist", Role.DOCTOR, neurology)
    for name, role in (
        ("frontdesk", Role.FRONT_DESK),
        ("manager", Role.OPERATIONS_MANAGER),
        ("researcher", Role.RESEARCHER),
        ("steward", Role.DATA_STEWARD),
        ("itadmin", Role.IT_ADMIN),
        ("auditor", Role.AUDITOR),
    ):
        h.users[name] = staff(name, role)
    h.users["device"] = UserFactory(username="device", role=Role.DEVICE)
    h.users["patient"] = UserFactory(username="patient", role=Role.PATIENT)
    h.users["other_patient_user"] = UserFactory(username="otherpatient", role=Role.PATIENT)
    h.patient_in_care = PatientFactory(name="心内患者")
    h.patient_elsewhere = PatientFactory(name="神内患者", sex=Sex.MALE, birth_date=dt.date(1955, 1, 3))
    h.own_patient = PatientFactory(name="本人", user=h.users["patient"])
    h.other_patient = PatientFactory(name="他人", user=h.users["other_patient_user"])
    register_care_relationship(
        patient=h.patient_in_care,
        department=cardiology,
        kind=CareRelationshipKind.APPOINTMENT,
        source="test:1",
    )
    register_care_relationship(
        patient=h.patient_elsewhere,
        department=neurology,
        kind=CareRelationshipKind.ENCOUNTER,
        source="test:2",
    )
    register_care_relationship(
        patient=h.own_patient, department=cardiology, kind=CareRelationshipKind.FOLLOW_UP, source="test:3"
    )
    return h


def login(client: Any, user: User) -> Any:
    client.force_login(user)
    return client


def as_user(client: Any, user: Any) -> Any:
    """A client signed in as ``user`` (None: anonymous)."""
    if user is not None:
        client.force_login(user)
    return client


# --- Helpers for tests that start real processes (workers, the `smartcare` CLI) -----------------


def test_database_url() -> str:
    """A DATABASE_URL for the test database, so a child process sees the data a test committed.

    During a test the settings already point at the test database (a SQLite file, or the
    PostgreSQL ``test_*`` database that pytest-django created).
    """
    from urllib.parse import quote

    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = quote(str(db.get("USER") or ""), safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(str(db["PASSWORD"]), safe="")
    return f"postgres://{credentials}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def child_env(**overrides: str | None) -> dict[str, str]:
    """The environment for a child ``smartcare`` process on the test database.

    Keeps SMARTCARE_VAR_DIR (and so the field key in its secrets.json); drops the switches
    that would route tasks elsewhere. A value of None removes the variable.
    """
    import os

    from django.conf import settings

    env = dict(os.environ)
    for name in ("REDIS_URL", "SMARTCARE_TASKS_IMMEDIATE", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    env["DATABASE_URL"] = test_database_url()
    env["DJANGO_SETTINGS_MODULE"] = "smartcare.settings"
    # The child must decrypt what this process encrypted, even under overridden keys.
    env["SMARTCARE_FIELD_KEY"] = settings.SMARTCARE_FIELD_KEY
    env["SMARTCARE_FIELD_KEYS_RETIRED"] = ",".join(settings.SMARTCARE_FIELD_KEYS_RETIRED)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def smartcare_executable() -> str:
    """The ``smartcare`` console script of the running virtualenv."""
    import sys
    from pathlib import Path

    return str(Path(sys.executable).with_name("smartcare"))
