"""The JSON API (Django Ninja): authentication and problem+json errors for every router."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from smartcare.core.errors import CodedError, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from smartcare.core.middleware import problem_response


def build_api(auth: list[Any]) -> NinjaAPI:
    api = NinjaAPI(
        title="smartcare API",
        version="1",
        description="REST API of smartcare. Errors are RFC 9457 problem+json with a stable `code`.",
        urls_namespace="api",
        auth=auth,
    )

    @api.exception_handler(CodedError)
    def coded_error(request: HttpRequest, exc: CodedError) -> HttpResponse:
        return problem_response(exc, request)

    @api.exception_handler(NinjaValidationError)
    def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        errors: dict[str, list[str]] = {}
        for item in exc.errors:
            location = ".".join(str(part) for part in item.get("loc", []) if part not in ("body", "payload"))
            errors.setdefault(location or "body", []).append(str(item.get("msg", "")))
        return problem_response(
            InvalidInput(_("The request body or parameters are not valid."), errors=errors), request
        )

    @api.exception_handler(AuthenticationError)
    def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return problem_response(NotAuthenticated(), request)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return problem_response(NotFound(), request)

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if exc.status_code == 400:
            # Django Ninja raises this for a body that is not JSON at all: bad input like any other.
            message = _("The request body or parameters are not valid.")
            return problem_response(InvalidInput(message, errors={"body": [str(exc)]}), request)
        if exc.status_code == 403:
            # Django Ninja's CSRF check for session-authenticated calls.
            return problem_response(
                PermissionDenied(_("The request was refused: %(reason)s") % {"reason": exc}), request
            )
        error = CodedError(str(exc))
        error.status = exc.status_code  # type: ignore[misc]
        return problem_response(error, request)

    return api
