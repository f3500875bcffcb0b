from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from smartcare.accounts import services
from smartcare.accounts.models import ApiToken, User
from smartcare.core.errors import NotFound
from smartcare.core.permissions import capabilities_of, require_capability

router = Router(tags=["accounts"])


class MeOut(Schema):
    username: str
    display_name: str
    role: str
    capabilities: list[str]
    department_code: str | None = None


@router.get("/me", response=MeOut, summary="The signed-in user and what they may do")
def me(request: HttpRequest) -> dict[str, Any]:
    user: Any = request.user
    practitioner = getattr(user, "practitioner", None)
    return {
        "username": user.username,
        "display_name": str(user),
        "role": user.role,
        "capabilities": sorted(capabilities_of(user.role)),
        "department_code": practitioner.department.code if practitioner else None,
    }


class TokenIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    name: str = Field(min_length=1, max_length=100)
    expires_at: dt.datetime | None = None


class TokenCreated(Schema):
    id: int
    prefix: str
    token: str


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    username: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


@router.get("/tokens", response=list[TokenOut], summary="API tokens (IT administrators)")
def list_tokens(request: HttpRequest) -> list[dict[str, Any]]:
    require_capability(request.user, "accounts.api_tokens")
    return [
        {
            **{
                f: getattr(t, f)
                for f in ("id", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")
            },
            "username": t.user.username,
        }
        for t in ApiToken.objects.select_related("user").order_by("-created_at")[:500]
    ]


@router.post("/tokens", response={201: TokenCreated}, summary="Create an API token; the secret is shown once")
def create_token(request: HttpRequest, payload: TokenIn) -> tuple[int, dict[str, Any]]:
    require_capability(request.user, "accounts.api_tokens")
    owner = User.objects.filter(username=payload.username, is_active=True).first()
    if owner is None:
        raise NotFound()
    secret = services.create_api_token(
        request.user, user=owner, name=payload.name, expires_at=payload.expires_at
    )
    token = ApiToken.objects.get(prefix=secret.split("_")[1])
    return 201, {"id": token.pk, "prefix": token.prefix, "token": secret}


@router.post("/tokens/{token_id}/revoke", response={204: None}, summary="Revoke an API token")
def revoke_token(request: HttpRequest, token_id: int) -> tuple[int, None]:
    require_capability(request.user, "accounts.api_tokens")
    token = ApiToken.objects.filter(pk=token_id).first()
    if token is None:
        raise NotFound()
    services.revoke_api_token(request.user, token)
    return 204, None
