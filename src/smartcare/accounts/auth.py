"""API authentication: bearer tokens for integrations, the session for pages' own calls."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer, django_auth

from smartcare.accounts.errors import InvalidToken
from smartcare.accounts.services import authenticate_token


class BearerToken(HttpBearer):
    """``Authorization: Bearer sc_...`` for integrations and machine identities."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            user = authenticate_token(token)
        except InvalidToken:
            return None
        request.user = user
        return user


class ApiKeyHeaderToken(APIKeyHeader):
    """The same tokens in an ``X-API-Key`` header (for clients that cannot set Authorization)."""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return BearerToken().authenticate(request, key or "")


API_AUTH = [BearerToken(), ApiKeyHeaderToken(), django_auth]
