"""Two-factor sign-in for staff (django-otp TOTP): "required" and "optional" modes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from smartcare.audit.models import AuditEvent
from smartcare.patients.models import Patient
from tests.factories import TestHospital, make_national_id

TWO_FACTOR = "/accounts/two-factor/"


def code_for(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def wrong_code_for(device: TOTPDevice) -> str:
    right = int(code_for(device))
    return f"{(right + 500_000) % 1_000_000:06d}"


def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture()
def no_throttle(settings: Any) -> None:
    # django-otp delays the next attempt after a wrong code; the tests try again at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


# --- required ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["doctor", "frontdesk", "auditor", "itadmin", "researcher"])
def test_required_sends_staff_without_a_device_to_enrol_for_every_page(
    hospital: TestHospital, settings: Any, name: str
) -> None:
    settings.SMARTCARE_STAFF_2FA = "required"
    client = signed_in(Client(), hospital.user(name))
    for url in ("/", "/departments/", "/patients/", "/notifications/", "/accounts/profile/", "/audit/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == TWO_FACTOR, url
    # The API does not redirect: the half-signed-in session is refused.
    response = client.get("/api/accounts/me")
    assert response.status_code == 401
    assert response.json()["code"] == "CORE-401"


def test_required_blocks_writes_before_the_second_factor(hospital: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_STAFF_2FA = "required"
    client = signed_in(Client(), hospital.user("frontdesk"))
    patients_before = Patient.objects.count()
    response = client.post(
        "/patients/register/",
        {"name": "未验证", "national_id": make_national_id(), "insurance_type": "self_pay"},
    )
    assert response.status_code == 302
    assert response["Location"] == TWO_FACTOR
    assert Patient.objects.count() == patients_before


def test_enrolment_shows_a_qr_code_and_the_secret(hospital: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_STAFF_2FA = "required"
    client = signed_in(Client(), hospital.user("doctor"))
    response = client.get(TWO_FACTOR)
    assert response.status_code == 200
    device = TOTPDevice.objects.get(user=hospital.user("doctor"))
    assert not device.confirmed
    content = response.content.decode()
    assert "<svg" in content
    secret = base64.b32encode(device.bin_key).decode()
    assert f'data-testid="totp-secret">{secret}<' in content
    # Coming back shows the same device, not a new secret.
    assert client.get(TWO_FACTOR).status_code == 200
    assert TOTPDevice.objects.filter(user=hospital.user("doctor")).count() == 1


def test_wrong_code_is_refused(hospital: TestHospital, settings: Any, no_throttle: None) -> None:
    settings.SMARTCARE_STAFF_2FA = "required"
    doctor = hospital.user("doctor")
    client = signed_in(Client(), doctor)
    client.get(TWO_FACTOR)
    device = TOTPDevice.objects.get(user=doctor)
    for wrong in (wrong_code_for(device), "12345", "abcdef", ""):
        response = client.post(TWO_FACTOR, {"token": wrong})
        assert response.status_code == 400, wrong
        assert client.get("/")["Location"] == TWO_FACTOR
    response = client.post(TWO_FACTOR, {"token": wrong_code_for(device)})
    assert 'data-error-code="ACCT-004"' in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    rejected = AuditEvent.objects.filter(action="login_failed", actor=doctor)
    assert rejected.exists()
    assert all(e.detail == {"event": "totp_rejected"} for e in rejected)


def test_right_code_completes_enrolment_and_lets_them_in(
    hospital: TestHospital, settings: Any, no_throttle: None
) -> None:
    settings.SMARTCARE_STAFF_2FA = "required"
    doctor = hospital.user("doctor")
    client = signed_in(Client(), doctor)
    client.get(TWO_FACTOR)
    device = TOTPDevice.objects.get(user=doctor)
    assert client.post(TWO_FACTOR, {"token": wrong_code_for(device)}).status_code == 400
    response = client.post(TWO_FACTOR, {"token": code_for(device)})
    assert response.status_code == 302
    assert response["Location"] == "/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/").status_code == 200
    assert client.get("/patients/").status_code == 200
    assert client.get("/api/accounts/me").status_code == 200
    assert AuditEvent.objects.filter(actor=doctor, detail={"event": "totp_enrolled"}).exists()


def test_next_sign_in_asks_for_the_code_again_and_refuses_a_replayed_code(
    hospital: TestHospital, settings: Any
) -> None:
    settings.SMARTCARE_STAFF_2FA = "required"
    doctor = hospital.user("doctor")
    first = signed_in(Client(), doctor)
    first.get(TWO_FACTOR)
    device = TOTPDevice.objects.get(user=doctor)
    used = code_for(device)
    assert first.post(TWO_FACTOR, {"token": used}).status_code == 302

    second = signed_in(Client(), doctor)
    assert second.get("/")["Location"] == TWO_FACTOR
    page = second.get(TWO_FACTOR)
    assert "<svg" not in page.content.decode()  # enrolled: no new secret is shown
    assert second.post(TWO_FACTOR, {"token": used}).status_code == 400
    assert second.get("/")["Location"] == TWO_FACTOR


@pytest.mark.parametrize("mode", ["required", "optional"])
def test_patients_are_never_asked(hospital: TestHospital, settings: Any, mode: str) -> None:
    settings.SMARTCARE_STAFF_2FA = mode
    patient = hospital.user("patient")
    TOTPDevice.objects.create(user=patient, name="phone", confirmed=True)
    client = signed_in(Client(), patient)
    assert client.get("/").status_code == 200
    assert client.get("/patients/me/").status_code == 200
    response = client.get(TWO_FACTOR)
    assert response.status_code == 302
    assert response["Location"] == "/"


# --- optional ------------------------------------------------------------------------------------


def test_optional_lets_staff_without_a_device_in(hospital: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_STAFF_2FA = "optional"
    client = signed_in(Client(), hospital.user("doctor"))
    assert client.get("/").status_code == 200
    assert client.get("/patients/").status_code == 200


def test_optional_still_asks_staff_who_enrolled(
    hospital: TestHospital, settings: Any, no_throttle: None
) -> None:
    settings.SMARTCARE_STAFF_2FA = "optional"
    nurse = hospital.user("nurse")
    device = TOTPDevice.objects.create(user=nurse, name="authenticator", confirmed=True)
    client = signed_in(Client(), nurse)
    for url in ("/", "/patients/", f"/patients/{hospital.patient_in_care.pk}/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == TWO_FACTOR
    assert client.get("/api/accounts/me").status_code == 401

    client = signed_in(Client(), nurse)
    page = client.get(TWO_FACTOR)
    assert page.status_code == 200
    assert "<svg" not in page.content.decode()
    response = client.post(TWO_FACTOR, {"token": wrong_code_for(device)})
    assert response.status_code == 400
    assert "ACCT-004" in response.content.decode()
    assert client.post(TWO_FACTOR, {"token": code_for(device)}).status_code == 302
    assert client.get(f"/patients/{hospital.patient_in_care.pk}/").status_code == 200


def test_unconfirmed_device_does_not_lock_out_under_optional(hospital: TestHospital, settings: Any) -> None:
    """Someone who opened the enrolment page but never finished is not asked for a code."""
    settings.SMARTCARE_STAFF_2FA = "optional"
    TOTPDevice.objects.create(user=hospital.user("doctor"), name="authenticator", confirmed=False)
    client = signed_in(Client(), hospital.user("doctor"))
    assert client.get("/").status_code == 200


def test_anonymous_two_factor_page_goes_to_sign_in(hospital: TestHospital) -> None:
    response = Client().get(TWO_FACTOR)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
