"""Coded errors of the FHIR API and import (``INTEROP-1xx``), and their OperationOutcome.

Every error the FHIR API returns is an OperationOutcome whose issue carries the smartcare code in
``details.coding`` (system ``ERROR_SYSTEM``) and the translated message in ``details.text``.
Access errors keep their foundation codes (``CORE-401``, ``CORE-403``, ``CORE-404``).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError

ERROR_SYSTEM = "https://smartcare.example/fhir/CodeSystem/error"

# FHIR issue type (https://hl7.org/fhir/R4/valueset-issue-type.html) by HTTP status.
_ISSUE_TYPE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "duplicate",
    415: "not-supported",
    422: "processing",
}


class FhirError(CodedError):
    """Base of the FHIR errors. ``issues`` are ``(expression, message)`` pairs (expression may be
    empty) listed in the OperationOutcome after the main message."""

    code = "INTEROP-100"
    status = 400
    title = _("FHIR request could not be processed")
    message = _("The FHIR request could not be processed.")

    def __init__(self, message: Any = None, *, issues: list[tuple[str, str]] | None = None, **params: Any):
        self.issues = list(issues or [])
        super().__init__(message, **params)


class InvalidJson(FhirError):
    code = "INTEROP-101"
    title = _("Not JSON")
    message = _("The request body is not a JSON object: %(reason)s")


class InvalidResource(FhirError):
    code = "INTEROP-102"
    title = _("Invalid FHIR resource")
    message = _("The %(resource_type)s resource is not valid FHIR R4: %(reason)s")


class UnknownResourceType(FhirError):
    code = "INTEROP-103"
    status = 404
    title = _("Resource type not supported")
    message = _("smartcare does not serve the resource type %(resource_type)s.")


class InteractionNotSupported(FhirError):
    code = "INTEROP-104"
    status = 405
    title = _("Interaction not supported")
    message = _("%(interaction)s is not supported for %(resource_type)s.")


class InvalidSearch(FhirError):
    code = "INTEROP-105"
    title = _("Invalid search")
    message = _("The search parameter %(parameter)s is not supported or its value is not valid: %(reason)s")


class ResourceMismatch(FhirError):
    code = "INTEROP-106"
    title = _("Resource does not match the URL")
    message = _("The resource in the body does not match the URL: %(reason)s")


class NotRepresentable(FhirError):
    """smartcare's tables cannot hold this resource. Writers catch it and keep the resource as
    FHIR (the lossless store) when allowed; otherwise it is reported with this reason."""

    code = "INTEROP-107"
    status = 422
    title = _("Resource cannot be kept")
    message = _("smartcare cannot keep this %(resource_type)s: %(reason)s")


class UnresolvedReference(FhirError):
    code = "INTEROP-108"
    status = 422
    title = _("Unresolved reference")
    message = _(
        "The reference %(reference)s (%(element)s) does not point to a resource smartcare has: %(reason)s"
    )


class DuplicateRecord(FhirError):
    code = "INTEROP-109"
    status = 409
    title = _("Duplicate record")
    message = _("This %(resource_type)s duplicates one smartcare already has: %(reason)s")


class InvalidBundle(FhirError):
    code = "INTEROP-110"
    title = _("Invalid Bundle")
    message = _("The Bundle cannot be processed: %(reason)s")


class TransactionFailed(FhirError):
    code = "INTEROP-111"
    status = 400
    title = _("Transaction failed")
    message = _("The transaction was not applied (nothing was written): entry %(index)s failed: %(reason)s")


class UnsupportedFormat(FhirError):
    code = "INTEROP-112"
    status = 415
    title = _("Format not supported")
    message = _("smartcare speaks FHIR JSON only (application/fhir+json).")


class VersionNotFound(FhirError):
    code = "INTEROP-113"
    status = 404
    title = _("Version not found")
    message = _("This version of the resource does not exist.")


class ImportersOnly(FhirError):
    code = "INTEROP-114"
    status = 403
    title = _("Import only")
    message = _("%(resource_type)s resources are accepted from data importers only.")


class ImportFileError(FhirError):
    code = "INTEROP-115"
    title = _("Import file not readable")
    message = _("%(path)s cannot be imported: %(reason)s")


class MultipleMatches(FhirError):
    code = "INTEROP-116"
    status = 412
    title = _("Condition matches several resources")
    message = _("The condition %(condition)s matches more than one %(resource_type)s.")


class ReferencedResourceRejected(FhirError):
    code = "INTEROP-117"
    status = 422
    title = _("Depends on a rejected resource")
    message = _("This resource refers to %(reference)s, which was rejected.")


def issue_type(status: int) -> str:
    if status >= 500:
        return "exception"
    return _ISSUE_TYPE.get(status, "processing")


def operation_outcome(error: CodedError, *, expression: str = "") -> dict[str, Any]:
    """The OperationOutcome of a coded error (any ``CodedError``, not only FHIR ones)."""
    kind = issue_type(error.status)
    first: dict[str, Any] = {
        "severity": "error",
        "code": kind,
        "details": {
            "coding": [{"system": ERROR_SYSTEM, "code": error.code, "display": str(error.title)}],
            "text": error.detail,
        },
    }
    if expression:
        first["expression"] = [expression]
    issues = [first]
    for where, text in getattr(error, "issues", []):
        extra: dict[str, Any] = {"severity": "error", "code": kind, "diagnostics": text}
        if where:
            extra["expression"] = [where]
        issues.append(extra)
    for field, texts in (getattr(error, "errors", None) or {}).items():
        for text in texts:
            issues.append(
                {"severity": "error", "code": kind, "diagnostics": str(text), "expression": [str(field)]}
            )
    return {"resourceType": "OperationOutcome", "issue": issues}


def first_problem(issues: list[tuple[str, str]]) -> str:
    if not issues:
        return ""
    where, text = issues[0]
    return f"{where}: {text}" if where else text
