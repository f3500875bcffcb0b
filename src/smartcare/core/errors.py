"""Coded errors.

Every error a user can meet has a stable code (``CORE-001``) and a translatable message. Pages
show the translated message; the JSON API answers with RFC 9457 problem+json.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class CodedError(Exception):
    """Base for every error with a stable code. Subclasses set ``code``, ``status`` and ``message``."""

    code: ClassVar[str] = "CORE-000"
    status: ClassVar[int] = 400
    title: ClassVar[Promise | str] = _("Request could not be processed")
    message: ClassVar[Promise | str] = _("The request could not be processed.")

    def __init__(self, message: Promise | str | None = None, *, field: str | None = None, **params: Any):
        self.params = params
        self.field = field
        self._message = message if message is not None else self.message
        super().__init__(str(self.detail))

    @property
    def detail(self) -> str:
        text = str(self._message)
        if self.params:
            with contextlib.suppress(KeyError, ValueError, TypeError):
                text = text % self.params
        return text

    def as_problem(self, instance: str = "") -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": f"https://smartcare.example/errors/{self.code}",
            "title": str(self.title),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            problem["instance"] = instance
        if self.field:
            problem["field"] = self.field
        return problem


class InvalidInput(CodedError):
    code = "CORE-001"
    status = 400
    title = _("Invalid input")
    message = _("The submitted data is not valid.")

    def __init__(
        self,
        message: Promise | str | None = None,
        *,
        field: str | None = None,
        errors: dict[str, list[str]] | None = None,
        **params: Any,
    ):
        self.errors = errors or {}
        super().__init__(message, field=field, **params)

    def as_problem(self, instance: str = "") -> dict[str, Any]:
        problem = super().as_problem(instance)
        if self.errors:
            problem["errors"] = [
                {"field": name, "message": str(text)} for name, texts in self.errors.items() for text in texts
            ]
        return problem


class NotFound(CodedError):
    """Also used for "not allowed" on patient data, so the two cannot be told apart."""

    code = "CORE-404"
    status = 404
    title = _("Not found")
    message = _("The requested record does not exist or you may not see it.")


class PermissionDenied(CodedError):
    code = "CORE-403"
    status = 403
    title = _("Not allowed")
    message = _("You are not allowed to do this.")


class NotAuthenticated(CodedError):
    code = "CORE-401"
    status = 401
    title = _("Sign-in required")
    message = _("Please sign in first.")


class Conflict(CodedError):
    code = "CORE-409"
    status = 409
    title = _("Conflict")
    message = _("The request conflicts with the current state of the record.")


class RateLimited(CodedError):
    code = "CORE-429"
    status = 429
    title = _("Too many requests")
    message = _("Too many requests; please wait and try again.")


def show_on_page(request: Any, exc: CodedError) -> None:
    """Show a refused action as a message on the page the user is sent back to.

    "Not allowed" and "not found" are raised again instead, so that they get the error page (and
    the same 404 whether the object is hidden or missing), as everywhere else.
    """
    from django.contrib import messages

    if exc.status in (401, 403, 404):
        raise exc
    text = f"{exc.code}: {exc.detail}"
    errors = getattr(exc, "errors", None) or {}
    if errors:
        text += " " + "; ".join(f"{name}: {' '.join(str(m) for m in msgs)}" for name, msgs in errors.items())
    messages.error(request, text)
