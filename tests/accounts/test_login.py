"""Sign-in: audit of success and failure, lockout (django-axes), Argon2, idle session expiry."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import make_password
from django.test import Client

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.audit.models import AuditEvent
from tests.factories import PASSWORD, TestHospital, UserFactory

LOGIN = "/accounts/login/"


def sign_in(client: Client, username: str, password: str) -> Any:
    return client.post(LOGIN, {"username": username, "password": password})


def signed_in_as(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# --- Audit ------------------------------------------------------------------------------------


def test_successful_sign_in_is_audited(hospital: TestHospital) -> None:
    client = Client(REMOTE_ADDR="198.51.100.4")
    response = sign_in(client, "doctor", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in_as(client) == str(hospital.user("doctor").pk)
    [event] = events("login")
    assert event.actor == hospital.user("doctor")
    assert (event.actor_username, event.actor_role) == ("doctor", Role.DOCTOR)
    assert (event.client_address, event.channel) == ("198.51.100.4", "web")
    assert not events("login_failed")


@pytest.mark.parametrize("username", ["doctor", "nobody-by-this-name"])
def test_failed_sign_in_is_audited(hospital: TestHospital, username: str) -> None:
    client = Client(REMOTE_ADDR="198.51.100.5")
    response = sign_in(client, username, "wrong-password-123")
    assert response.status_code == 200
    assert "ACCT-010" in response.content.decode()
    assert signed_in_as(client) is None
    [event] = events("login_failed")
    assert event.actor is None
    assert event.actor_username == username
    assert event.client_address == "198.51.100.5"
    assert not events("login")


def test_disabled_account_cannot_sign_in(hospital: TestHospital) -> None:
    doctor = hospital.user("doctor")
    doctor.is_active = False
    doctor.save(update_fields=["is_active"])
    client = Client()
    response = sign_in(client, "doctor", PASSWORD)
    assert response.status_code == 200
    assert signed_in_as(client) is None
    assert not events("login")


def test_sign_out_is_audited(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("nurse"))
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert signed_in_as(client) is None
    [event] = events("logout")
    assert event.actor_username == "nurse"


# --- Lockout ----------------------------------------------------------------------------------


def test_lockout_after_the_failure_limit(hospital: TestHospital) -> None:
    limit = django_settings.AXES_FAILURE_LIMIT
    assert limit == 5  # SMARTCARE_LOGIN_FAILURE_LIMIT's default
    client = Client()
    for attempt in range(1, limit):
        response = sign_in(client, "doctor", f"wrong-{attempt}")
        assert response.status_code == 200, attempt
        assert not events("lockout")
    response = sign_in(client, "doctor", "wrong-final")
    assert response.status_code == 429
    assert 'data-error-code="ACCT-012"' in response.content.decode()
    [lockout] = events("lockout")
    assert lockout.actor_username == "doctor"
    assert len(events("login_failed")) == limit

    # The right password does not help while the account is locked.
    response = sign_in(client, "doctor", PASSWORD)
    assert response.status_code == 429
    assert "ACCT-012" in response.content.decode()
    assert signed_in_as(client) is None
    assert not events("login")
    assert client.get("/").status_code == 302


def test_lockout_is_per_account_not_per_address(hospital: TestHospital) -> None:
    """Desks share a NAT address: one locked account must not lock the others."""
    client = Client(REMOTE_ADDR="203.0.113.50")
    for attempt in range(django_settings.AXES_FAILURE_LIMIT):
        sign_in(client, "doctor", f"wrong-{attempt}")
    assert sign_in(client, "doctor", PASSWORD).status_code == 429
    colleague = Client(REMOTE_ADDR="203.0.113.50")
    response = sign_in(colleague, "nurse", PASSWORD)
    assert response.status_code == 302
    assert signed_in_as(colleague) == str(hospital.user("nurse").pk)


def test_success_resets_the_failure_count(hospital: TestHospital) -> None:
    client = Client()
    limit = django_settings.AXES_FAILURE_LIMIT
    for attempt in range(limit - 1):
        sign_in(client, "doctor", f"wrong-{attempt}")
    assert sign_in(client, "doctor", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for attempt in range(limit - 1):
        assert sign_in(client, "doctor", f"again-{attempt}").status_code == 200
    assert sign_in(client, "doctor", PASSWORD).status_code == 302
    assert not events("lockout")


# --- Password storage ------------------------------------------------------------------------


@pytest.mark.django_db
def test_passwords_are_stored_with_argon2() -> None:
    user = User.objects.create_user("argon", password="a long enough password 42", role=Role.DOCTOR)
    assert user.password.startswith("argon2")
    assert "a long enough password 42" not in user.password
    assert user.check_password("a long enough password 42")
    assert not user.check_password("A long enough password 42")


@pytest.mark.django_db
def test_older_hashes_are_upgraded_to_argon2_at_sign_in() -> None:
    user = UserFactory(username="legacy", role=Role.NURSE)
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])
    assert sign_in(Client(), "legacy", PASSWORD).status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2")


# --- Idle expiry -------------------------------------------------------------------------------


def _idle(client: Client, minutes: float) -> None:
    session = client.session
    session["last_activity"] = int(time.time() - minutes * 60)
    session.save()


def test_idle_session_is_signed_out(hospital: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_SESSION_IDLE_MINUTES = 30
    client = Client()
    client.force_login(hospital.user("doctor"))
    assert client.get("/").status_code == 200
    assert "last_activity" in client.session

    _idle(client, 31)
    response = client.get("/patients/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?expired=1"
    assert signed_in_as(client) is None
    assert events("logout")[-1].actor_username == "doctor"
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_activity_within_the_idle_limit_keeps_the_session(hospital: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_SESSION_IDLE_MINUTES = 30
    client = Client()
    client.force_login(hospital.user("doctor"))
    client.get("/")
    _idle(client, 29)
    assert client.get("/").status_code == 200
    # The request refreshed the clock.
    assert time.time() - client.session["last_activity"] < 60


def test_idle_session_is_refused_by_the_api(hospital: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_SESSION_IDLE_MINUTES = 15
    client = Client()
    client.force_login(hospital.user("patient"))
    assert client.get("/api/accounts/me").status_code == 200
    _idle(client, 16)
    response = client.get("/api/accounts/me")
    assert response.status_code == 401
    assert response.json()["code"] == "CORE-401"
    assert signed_in_as(client) is None


def test_login_page_says_the_session_expired(hospital: TestHospital) -> None:
    response = Client().get("/accounts/login/?expired=1")
    assert response.status_code == 200
    assert response.context["expired"] is True


# --- Password change ---------------------------------------------------------------------------

NEW_PASSWORD = "Brand-new-pass-2026"


def test_password_change_is_audited_and_keeps_the_session(hospital: TestHospital) -> None:
    doctor = hospital.user("doctor")
    client = Client()
    client.force_login(doctor)
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    assert client.get("/").status_code == 200
    doctor.refresh_from_db()
    assert doctor.check_password(NEW_PASSWORD)
    [event] = AuditEvent.objects.filter(action="update", actor=doctor, detail={"event": "password changed"})
    assert NEW_PASSWORD not in str(event.detail)
    assert sign_in(Client(), "doctor", PASSWORD).status_code == 200
    assert sign_in(Client(), "doctor", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("old", "new1", "new2"),
    [
        ("wrong-old-password", NEW_PASSWORD, NEW_PASSWORD),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x"),
        (PASSWORD, "short1", "short1"),
        (PASSWORD, "1234567890123", "1234567890123"),
    ],
)
def test_password_change_refuses_bad_input(hospital: TestHospital, old: str, new1: str, new2: str) -> None:
    doctor = hospital.user("doctor")
    client = Client()
    client.force_login(doctor)
    response = client.post(
        "/accounts/password/", {"old_password": old, "new_password1": new1, "new_password2": new2}
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    doctor.refresh_from_db()
    assert doctor.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(detail={"event": "password changed"}).exists()
