"""API tokens: created by IT administrators, shown once, stored as SHA-256, usable as Bearer or
X-API-Key, refused when revoked, expired or unknown."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.models import ApiToken
from smartcare.accounts.services import create_api_token
from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from tests.factories import TestHospital

TOKENS = "/api/accounts/tokens"
ME = "/api/accounts/me"


def post_json(client: Client, url: str, payload: dict[str, Any] | None = None) -> Any:
    return client.post(
        url, json.dumps(payload) if payload is not None else "", content_type="application/json"
    )


def admin_client(hospital: TestHospital) -> Client:
    client = Client()
    client.force_login(hospital.user("itadmin"))
    return client


def create(hospital: TestHospital, **payload: Any) -> dict[str, Any]:
    response = post_json(
        admin_client(hospital), TOKENS, {"username": "device", "name": "integration", **payload}
    )
    assert response.status_code == 201, response.content
    return response.json()


def assert_unauthenticated(response: Any) -> None:
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "CORE-401"
    assert problem["status"] == 401


def test_admin_creates_a_token_and_sees_the_secret_once(hospital: TestHospital) -> None:
    created = create(hospital)
    secret = created["token"]
    assert secret.startswith(f"sc_{created['prefix']}_")
    token = ApiToken.objects.get(pk=created["id"])
    assert token.user == hospital.user("device")
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = json.dumps(list(ApiToken.objects.values()), default=str)
    assert secret not in stored
    assert secret.split("_", 2)[2] not in stored
    listing = admin_client(hospital).get(TOKENS)
    assert listing.status_code == 200
    assert secret not in listing.content.decode()
    assert [row["prefix"] for row in listing.json()] == [created["prefix"]]
    event = AuditEvent.objects.get(action="token")
    assert event.actor_username == "itadmin"
    assert event.detail == {"event": "created", "for_user": "device"}
    assert secret not in json.dumps(event.detail)


@pytest.mark.parametrize("header", ["bearer", "api_key"])
def test_token_authenticates_the_api(hospital: TestHospital, header: str) -> None:
    secret = create(hospital)["token"]
    headers = {"Authorization": f"Bearer {secret}"} if header == "bearer" else {"X-API-Key": secret}
    response = Client().get(ME, headers=headers)
    assert response.status_code == 200
    assert response.json()["username"] == "device"
    assert response.json()["role"] == "device"
    assert ApiToken.objects.get().last_used_at is not None


def test_no_token_is_refused(hospital: TestHospital) -> None:
    assert_unauthenticated(Client().get(ME))


@pytest.mark.parametrize(
    "presented",
    [
        "garbage",
        "sc_000000000000_" + "x" * 43,  # unknown prefix
        "xx_{prefix}_{rest}",  # wrong scheme
        "sc_{prefix}_" + "y" * 43,  # known prefix, wrong secret
        "sc_{prefix}",
        "",
    ],
)
def test_unknown_or_malformed_tokens_are_refused(hospital: TestHospital, presented: str) -> None:
    secret = create(hospital)["token"]
    _sc, prefix, rest = secret.split("_", 2)
    value = presented.format(prefix=prefix, rest=rest)
    assert_unauthenticated(Client().get(ME, headers={"Authorization": f"Bearer {value}"}))
    assert_unauthenticated(Client().get(ME, headers={"X-API-Key": value}))


def test_revoked_token_is_refused(hospital: TestHospital) -> None:
    created = create(hospital)
    client = Client()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get(ME, headers=headers).status_code == 200
    response = post_json(admin_client(hospital), f"{TOKENS}/{created['id']}/revoke")
    assert response.status_code == 204
    assert ApiToken.objects.get().revoked_at is not None
    assert_unauthenticated(client.get(ME, headers=headers))
    assert_unauthenticated(client.get(ME, headers={"X-API-Key": created["token"]}))


def test_expired_token_is_refused(hospital: TestHospital) -> None:
    expires = clock.now() + dt.timedelta(hours=1)
    created = create(hospital, expires_at=expires.isoformat())
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert Client().get(ME, headers=headers).status_code == 200
    with clock.frozen_at(expires + dt.timedelta(seconds=1)):
        assert_unauthenticated(Client().get(ME, headers=headers))


def test_token_already_expired_at_creation_is_refused(hospital: TestHospital) -> None:
    created = create(hospital, expires_at=(clock.now() - dt.timedelta(minutes=1)).isoformat())
    assert_unauthenticated(Client().get(ME, headers={"Authorization": f"Bearer {created['token']}"}))


def test_token_of_a_disabled_user_is_refused(hospital: TestHospital) -> None:
    created = create(hospital)
    device = hospital.user("device")
    device.is_active = False
    device.save(update_fields=["is_active"])
    assert_unauthenticated(Client().get(ME, headers={"Authorization": f"Bearer {created['token']}"}))


@pytest.mark.parametrize(
    "name", ["doctor", "head", "auditor", "frontdesk", "researcher", "patient", "device"]
)
def test_only_it_admins_create_tokens(hospital: TestHospital, name: str) -> None:
    client = Client()
    client.force_login(hospital.user(name))
    events_before = AuditEvent.objects.filter(action="token").count()
    response = post_json(client, TOKENS, {"username": name, "name": "mine"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "CORE-403"
    assert not ApiToken.objects.exists()
    assert AuditEvent.objects.filter(action="token").count() == events_before
    assert client.get(TOKENS).status_code == 403


def test_a_machine_token_cannot_mint_tokens(hospital: TestHospital) -> None:
    secret = create(hospital)["token"]
    response = Client().post(
        TOKENS,
        json.dumps({"username": "itadmin", "name": "escalate"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "CORE-403"
    assert ApiToken.objects.count() == 1


def test_anonymous_cannot_create_tokens(hospital: TestHospital) -> None:
    assert_unauthenticated(post_json(Client(), TOKENS, {"username": "device", "name": "x"}))
    assert not ApiToken.objects.exists()


def test_non_admins_cannot_revoke_tokens(hospital: TestHospital) -> None:
    created = create(hospital)
    client = Client()
    client.force_login(hospital.user("auditor"))
    response = post_json(client, f"{TOKENS}/{created['id']}/revoke")
    assert response.status_code == 403
    assert ApiToken.objects.get().revoked_at is None


def test_token_for_an_unknown_user_is_not_created(hospital: TestHospital) -> None:
    response = post_json(admin_client(hospital), TOKENS, {"username": "ghost", "name": "x"})
    assert response.status_code == 404
    assert response.json()["code"] == "CORE-404"
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("payload", [{"username": "device"}, {"username": "", "name": "x"}, {"name": "x"}])
def test_invalid_token_request_writes_nothing(hospital: TestHospital, payload: dict[str, Any]) -> None:
    response = post_json(admin_client(hospital), TOKENS, payload)
    assert response.status_code == 400
    assert response.json()["code"] == "CORE-001"
    assert not ApiToken.objects.exists()


def test_service_refuses_non_admins(hospital: TestHospital) -> None:
    from smartcare.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        create_api_token(hospital.user("doctor"), user=hospital.user("device"), name="x")
    assert not ApiToken.objects.exists()


def test_a_token_in_use_stops_working_when_its_user_is_disabled_or_it_is_deleted(
    hospital: TestHospital,
) -> None:
    """Tokens are looked up through the cache; changing the user or the token drops the copy."""
    created = create(hospital)
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert Client().get(ME, headers=headers).status_code == 200
    device = hospital.user("device")
    device.is_active = False
    device.save(update_fields=["is_active"])
    assert_unauthenticated(Client().get(ME, headers=headers))
    device.is_active = True
    device.save(update_fields=["is_active"])
    assert Client().get(ME, headers=headers).status_code == 200
    ApiToken.objects.get(pk=created["id"]).delete()
    assert_unauthenticated(Client().get(ME, headers=headers))
