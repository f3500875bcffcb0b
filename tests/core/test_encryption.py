"""Identifiers are encrypted at rest, found through keyed hashes, and survive key rotation."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from smartcare.core import crypto
from smartcare.patients.errors import DuplicatePatient
from smartcare.patients.models import Patient
from smartcare.patients.services import PatientData, register_patient
from tests.factories import PatientFactory, UserFactory, make_national_id

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()
ENCRYPTED_COLUMNS = ("national_id", "phone", "emergency_contact_phone", "insurance_number")
TOKEN_RE = re.compile(r"^v1\$[0-9a-f]{12}\$[A-Za-z0-9+/=]+$")


def raw_row(patient_id: int) -> dict[str, str]:
    columns = (*ENCRYPTED_COLUMNS, "national_id_hash", "phone_hash")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM {Patient._meta.db_table} WHERE id = %s",  # noqa: S608
            [patient_id],
        )
        values = cursor.fetchone()
    return dict(zip(columns, values, strict=True))


def windows(value: str, width: int = 6) -> set[str]:
    return {value[i : i + width] for i in range(len(value) - width + 1)}


@pytest.fixture()
def registered(hospital: Any) -> tuple[Patient, PatientData]:
    data = PatientData(
        name="加密测试",
        national_id=make_national_id(),
        phone="13912345678",
        emergency_contact_phone="13787654321",
        insurance_type="urban_employee",
        insurance_number="3101049988776655",
    )
    return register_patient(hospital.user("frontdesk"), data), data


def test_raw_row_holds_no_plaintext(registered: tuple[Patient, PatientData]) -> None:
    patient, data = registered
    row = raw_row(patient.pk)
    stored = " ".join(row.values())
    for plain in (data.national_id, data.phone, data.emergency_contact_phone, data.insurance_number):
        assert plain not in stored
        # Not even a run of its digits (the birth date inside the ID, the phone's last digits).
        leaked = [w for w in windows(plain) if w in stored]
        assert leaked == [], leaked
    for column in ENCRYPTED_COLUMNS:
        assert TOKEN_RE.match(row[column]), row[column]
        assert crypto.key_id_of(row[column]) == crypto.keyring()[0].key_id
    assert re.fullmatch(r"[0-9a-f]{64}", row["national_id_hash"])
    assert re.fullmatch(r"[0-9a-f]{64}", row["phone_hash"])


def test_orm_decrypts_and_lookups_find_the_patient(registered: tuple[Patient, PatientData]) -> None:
    patient, data = registered
    loaded = Patient.objects.get(pk=patient.pk)
    assert loaded.national_id == data.national_id
    assert loaded.phone == data.phone
    assert loaded.emergency_contact_phone == data.emergency_contact_phone
    assert loaded.insurance_number == data.insurance_number
    assert list(Patient.objects.by_national_id(data.national_id)) == [patient]
    assert list(Patient.objects.by_phone(data.phone)) == [patient]
    # The keyed hash is over the normalised value: spaces and a lower-case x do not matter.
    spaced = f" {data.national_id[:6]} {data.national_id[6:14]} {data.national_id[14:].lower()} "
    assert list(Patient.objects.by_national_id(spaced)) == [patient]
    assert not Patient.objects.by_national_id(make_national_id()).exists()
    assert not Patient.objects.by_phone("13900000000").exists()


def test_same_value_encrypts_differently_but_hashes_the_same(hospital: Any) -> None:
    first = PatientFactory(phone="13811112222")
    second = PatientFactory(phone="13811112222")
    raw_first, raw_second = raw_row(first.pk), raw_row(second.pk)
    assert raw_first["phone"] != raw_second["phone"]  # fresh nonce every time
    assert raw_first["phone_hash"] == raw_second["phone_hash"]
    assert set(Patient.objects.by_phone("138 1111 2222")) == {first, second}


def test_empty_values_stay_empty(hospital: Any) -> None:
    patient = PatientFactory(phone="", insurance_number="")
    row = raw_row(patient.pk)
    assert (row["phone"], row["phone_hash"], row["insurance_number"]) == ("", "", "")
    patient.refresh_from_db()
    assert patient.phone == ""


def _tamper(patient_id: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Patient._meta.db_table} SET national_id = %s WHERE id = %s",  # noqa: S608
            [value, patient_id],
        )


def _flip_one_byte(token: str) -> str:
    prefix, key_id, body = token.split("$", 2)
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 0x01
    return f"{prefix}${key_id}${base64.b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_flip_one_byte, id="flipped-bit"),
        pytest.param(lambda token: token[:-4], id="truncated"),
        pytest.param(lambda token: token.rsplit("$", 1)[0] + "$!!!not base64!!!", id="garbage-body"),
        pytest.param(lambda token: "v1$000000000000$" + token.rsplit("$", 1)[1], id="unknown-key"),
        pytest.param(lambda token: "v2" + token[2:], id="unknown-version"),
        pytest.param(lambda token: "110101199003071234", id="plaintext"),
    ],
)
def test_tampered_ciphertext_raises_decryption_error(
    registered: tuple[Patient, PatientData], tamper: Any
) -> None:
    patient, _data = registered
    _tamper(patient.pk, tamper(raw_row(patient.pk)["national_id"]))
    with pytest.raises(crypto.DecryptionError):
        Patient.objects.get(pk=patient.pk)


def test_ciphertext_is_bound_to_its_context() -> None:
    token = crypto.encrypt("secret", associated=b"patients.national_id")
    assert crypto.decrypt(token, associated=b"patients.national_id") == "secret"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, associated=b"patients.phone")


@pytest.mark.parametrize(
    "bad_key",
    ["", "not base64 at all", base64.b64encode(b"short").decode(), base64.b64encode(bytes(33)).decode()],
)
def test_bad_field_key_is_refused(settings: Any, bad_key: str) -> None:
    settings.SMARTCARE_FIELD_KEY = bad_key
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")


def test_generated_key_is_usable(settings: Any) -> None:
    out = io.StringIO()
    call_command("rotate_field_key", "--generate", stdout=out)
    settings.SMARTCARE_FIELD_KEY = out.getvalue().strip()
    assert crypto.decrypt(crypto.encrypt("值 value")) == "值 value"


# --- key rotation ---------------------------------------------------------------------------------


def test_key_rotation(settings: Any, db: Any) -> None:
    settings.SMARTCARE_FIELD_KEY, settings.SMARTCARE_FIELD_KEYS_RETIRED = KEY_A, []
    key_a = crypto.keyring()[0].key_id
    patients = [
        PatientFactory(
            phone=f"1391234{n:04d}", emergency_contact_phone="13700001111", insurance_number=f"INS{n}"
        )
        for n in range(7)
    ]
    plain = {p.pk: (p.national_id, p.phone, p.insurance_number) for p in Patient.objects.all()}
    assert all(crypto.key_id_of(raw_row(pk)["national_id"]) == key_a for pk in plain)

    # The new key is current, the old one retired: old rows still read.
    settings.SMARTCARE_FIELD_KEY, settings.SMARTCARE_FIELD_KEYS_RETIRED = KEY_B, [KEY_A]
    key_b = crypto.keyring()[0].key_id
    assert key_b != key_a
    assert {p.pk: (p.national_id, p.phone, p.insurance_number) for p in Patient.objects.all()} == plain
    # Until the rotation has run, lookups still find the old rows, so a duplicate is still refused.
    assert Patient.objects.by_national_id(patients[0].national_id).get().pk == patients[0].pk
    with pytest.raises(DuplicatePatient):
        register_patient(
            UserFactory(role="front_desk"), PatientData(name="重复", national_id=patients[0].national_id)
        )

    out = io.StringIO()
    call_command("rotate_field_key", "--batch-size", "3", stdout=out)
    assert f"now under key {key_b}" in out.getvalue()
    assert f"patients.Patient: {len(plain)} rows re-encrypted" in out.getvalue()
    assert "values still under a retired key: 0" in out.getvalue()
    for pk in plain:
        row = raw_row(pk)
        for column in ENCRYPTED_COLUMNS:
            if row[column]:
                assert crypto.key_id_of(row[column]) == key_b, (pk, column)

    # The blind indexes were rebuilt under the new key.
    for pk, (national_id, phone, _insurance) in plain.items():
        assert list(Patient.objects.by_national_id(national_id).values_list("pk", flat=True)) == [pk]
        assert list(Patient.objects.by_phone(phone).values_list("pk", flat=True)) == [pk]

    # The old key can go: everything still reads and is still found.
    settings.SMARTCARE_FIELD_KEYS_RETIRED = []
    assert {p.pk: (p.national_id, p.phone, p.insurance_number) for p in Patient.objects.all()} == plain
    target = patients[3]
    assert Patient.objects.by_national_id(target.national_id).get().pk == target.pk


def test_rows_under_a_removed_key_cannot_be_read(settings: Any, db: Any) -> None:
    settings.SMARTCARE_FIELD_KEY, settings.SMARTCARE_FIELD_KEYS_RETIRED = KEY_A, []
    patient = PatientFactory()
    settings.SMARTCARE_FIELD_KEY = KEY_B  # A dropped without rotating first
    with pytest.raises(crypto.DecryptionError):
        Patient.objects.get(pk=patient.pk)
    settings.SMARTCARE_FIELD_KEYS_RETIRED = [KEY_A]
    assert Patient.objects.get(pk=patient.pk).national_id == patient.national_id


def test_rotation_is_idempotent(settings: Any, db: Any) -> None:
    settings.SMARTCARE_FIELD_KEY, settings.SMARTCARE_FIELD_KEYS_RETIRED = KEY_B, []
    patient = PatientFactory()
    call_command("rotate_field_key", stdout=io.StringIO())
    call_command("rotate_field_key", stdout=io.StringIO())
    assert Patient.objects.by_national_id(patient.national_id).get().phone == patient.phone
