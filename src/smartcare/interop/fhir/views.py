"""The FHIR R4 REST endpoints under ``/fhir/R4``.

Authentication as for the JSON API: ``Authorization: Bearer sc_...`` or ``X-API-Key`` (API tokens
of machine identities), otherwise the session cookie, with the CSRF check on writes. Every error
is an OperationOutcome (``application/fhir+json``) whose issue carries the smartcare error code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from ninja.utils import check_csrf

from smartcare.accounts.errors import InvalidToken
from smartcare.accounts.services import authenticate_token
from smartcare.core.errors import CodedError, NotAuthenticated, PermissionDenied
from smartcare.interop.fhir import bundle as bundles
from smartcare.interop.fhir import search as reading
from smartcare.interop.fhir.capability import capability_statement
from smartcare.interop.fhir.errors import (
    InteractionNotSupported,
    InvalidJson,
    UnsupportedFormat,
    operation_outcome,
)
from smartcare.interop.fhir.registry import mapping_for

CONTENT_TYPE = "application/fhir+json; charset=utf-8"
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir", "text/json", "")


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir/R4").rstrip("/")


def fhir_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type=CONTENT_TYPE,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: CodedError) -> HttpResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="smartcare"'} if error.status == 401 else None
    return fhir_response(operation_outcome(error), error.status, headers)


def _authenticate(request: HttpRequest, *, csrf: bool = True) -> Any:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    token = ""
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    elif request.META.get("HTTP_X_API_KEY"):
        token = request.META["HTTP_X_API_KEY"].strip()
    if token:
        try:
            machine = authenticate_token(token)
        except InvalidToken:
            raise NotAuthenticated() from None
        request.user = machine
        return machine
    user: Any = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()
    if csrf and request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request) is not None:
        raise PermissionDenied(_("The request was refused: the CSRF check failed."))
    return user


def _check_format(request: HttpRequest) -> None:
    wanted = request.GET.get("_format", "")
    if "xml" in wanted or "turtle" in wanted:
        raise UnsupportedFormat()


def _body(request: HttpRequest) -> Any:
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise UnsupportedFormat()
    limit = int(getattr(settings, "SMARTCARE_FHIR_MAX_BODY_MB", 50)) * 1024 * 1024
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise InvalidJson(reason=f"the body is larger than {limit // (1024 * 1024)} MB")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJson(reason=str(exc).splitlines()[0][:200]) from None
    if not isinstance(body, dict):
        raise InvalidJson(reason="the body is not a JSON object")
    return body


def _query(request: HttpRequest) -> list[tuple[str, str]]:
    return [(name, value) for name in request.GET for value in request.GET.getlist(name)]


def fhir_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @csrf_exempt
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            _check_format(request)
            return view(request, *args, **kwargs)
        except CodedError as exc:
            return error_response(exc)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _written(request: HttpRequest, entry: Any, *, created: bool) -> HttpResponse:
    headers = {}
    location = bundles._location(entry)
    if location:
        headers["Location"] = f"{base_url(request)}/{location}"
        headers["Content-Location"] = headers["Location"]
    if entry.version:
        headers["ETag"] = f'W/"{entry.version}"'
    status = 201 if created else 200
    prefer = request.META.get("HTTP_PREFER", "")
    if "return=minimal" in prefer:
        return fhir_response(None, status, headers)
    resource = None if "return=OperationOutcome" in prefer else bundles.representation(request.user, entry)
    if resource is None:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": f"{entry.outcome}: {location}",
                }
            ],
        }
        return fhir_response(outcome, status, headers)
    return fhir_response(resource, status, headers)


@fhir_view
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement (public, as FHIR requires)."""
    if request.method != "GET":
        raise InteractionNotSupported(interaction=request.method or "", resource_type="metadata")
    return fhir_response(capability_statement(base_url(request)))


@fhir_view
def system(request: HttpRequest) -> HttpResponse:
    """POST a transaction or batch Bundle."""
    user = _authenticate(request)
    if request.method != "POST":
        raise InteractionNotSupported(
            interaction=f"{request.method} (whole-system)", resource_type="the server"
        )
    result = bundles.process_bundle(
        user, _body(request), base_url=base_url(request), prefer=request.META.get("HTTP_PREFER", "")
    )
    return fhir_response(result)


@fhir_view
def type_level(request: HttpRequest, resource_type: str) -> HttpResponse:
    """GET: search; POST: create (``If-None-Exist`` for a conditional create)."""
    user = _authenticate(request)
    if request.method == "GET":
        return fhir_response(reading.search(user, resource_type, _query(request), base_url(request)))
    if request.method == "POST":
        reading.mapping_or_404(resource_type)
        resource = _body(request)
        bundles.check_body_matches(resource, resource_type)
        entry = bundles.write_one(
            user, resource, method="POST", if_none_exist=request.META.get("HTTP_IF_NONE_EXIST", "")
        )
        return _written(request, entry, created=entry.status == 201)
    if request.method == "PUT" and request.GET:
        mapping = reading.mapping_or_404(resource_type)
        resource = _body(request)
        bundles.check_body_matches(resource, resource_type)
        url = f"{mapping.resource_type}?{request.META.get('QUERY_STRING', '')}"
        entry = bundles.write_one(user, resource, method="PUT", url=url)
        return _written(request, entry, created=entry.status == 201)
    raise InteractionNotSupported(interaction=request.method or "", resource_type=resource_type)


@fhir_view
def type_search(request: HttpRequest, resource_type: str) -> HttpResponse:
    """POST [type]/_search: the parameters in a form body (and the query string)."""
    # A search changes nothing: POST _search needs no CSRF token, like a GET.
    user = _authenticate(request, csrf=False)
    if request.method != "POST":
        raise InteractionNotSupported(interaction=request.method or "", resource_type=resource_type)
    query = _query(request) + [(name, value) for name in request.POST for value in request.POST.getlist(name)]
    return fhir_response(reading.search(user, resource_type, query, base_url(request)))


@fhir_view
def instance(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    """GET: read; PUT: update."""
    user = _authenticate(request)
    if request.method == "GET":
        resource = reading.read(user, resource_type, resource_id)
        headers = {}
        version = (resource.get("meta") or {}).get("versionId")
        if version:
            headers["ETag"] = f'W/"{version}"'
        return fhir_response(resource, headers=headers)
    if request.method == "PUT":
        mapping = reading.mapping_or_404(resource_type)
        resource = _body(request)
        bundles.check_body_matches(resource, resource_type, resource_id)
        entry = bundles.write_one(user, resource, method="PUT", url=f"{mapping.resource_type}/{resource_id}")
        return _written(request, entry, created=False)
    if mapping_for(resource_type) is None:
        reading.mapping_or_404(resource_type)
    raise InteractionNotSupported(interaction=request.method or "", resource_type=resource_type)


@fhir_view
def version(request: HttpRequest, resource_type: str, resource_id: str, version_id: str) -> HttpResponse:
    """GET: vread."""
    user = _authenticate(request)
    if request.method != "GET":
        raise InteractionNotSupported(interaction=request.method or "", resource_type=resource_type)
    resource = reading.vread(user, resource_type, resource_id, version_id)
    return fhir_response(resource, headers={"ETag": f'W/"{version_id}"'})
