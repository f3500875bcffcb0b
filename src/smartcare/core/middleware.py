"""Request context for the audit trail, and rendering of coded errors."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from smartcare.core import context
from smartcare.core.errors import CodedError


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or what trusted proxies say in X-Forwarded-For.

    Each proxy appends the address it saw, so the list is read from the right and the first
    address not belonging to a trusted proxy is the client; anything left of it was written by
    the client itself and could be forged.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    trusted = settings.SMARTCARE_TRUSTED_PROXIES
    if not forwarded or remote not in trusted:
        return remote
    address = remote
    for candidate in reversed([part.strip() for part in forwarded.split(",")]):
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            return address
        address = candidate
        if candidate not in trusted:
            return candidate
    return address


def channel_of(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/fhir/"):
        return "fhir"
    return "web"


def wants_problem_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    return (
        channel_of(request.path) != "web"
        or "application/problem+json" in accept
        or ("application/json" in accept and "text/html" not in accept)
    )


def problem_response(error: CodedError, request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        json.dumps(error.as_problem(instance=request.path), ensure_ascii=False),
        status=error.status,
        content_type="application/problem+json",
    )


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ctx = context.RequestContext(
            client_address=client_address(request),
            channel=channel_of(request.path),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:200],
        )
        token = context.set_context(ctx)
        deferred = context.collect_deferred()
        try:
            response = self.get_response(request)
        finally:
            # Outside every transaction now: audit refusals whose service rolled back.
            try:
                context.run_deferred(deferred)
            finally:
                context.reset_context(token)
        response["X-Request-ID"] = ctx.request_id
        return response


class CodedErrorMiddleware:
    """Turns a ``CodedError`` raised by a view into a translated page or problem+json."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, CodedError):
            return None
        if wants_problem_json(request):
            return problem_response(exception, request)
        return render(request, "web/error.html", {"error": exception}, status=exception.status)
