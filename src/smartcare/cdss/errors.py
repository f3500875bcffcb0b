"""Coded errors of decision support (CDSS-00x)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError


class InvalidHookRequest(CodedError):
    code = "CDSS-001"
    status = 400
    title = _("Invalid CDS Hooks request")
    message = _("The CDS Hooks request is not valid: %(reason)s")


class InvalidExpression(CodedError):
    code = "CDSS-002"
    status = 400
    title = _("Invalid rule expression")
    message = _("The rule condition is not a valid expression: %(reason)s")


class UnknownService(CodedError):
    code = "CDSS-003"
    status = 404
    title = _("Unknown CDS service")
    message = _("There is no CDS service with this id.")


class InvalidFeedback(CodedError):
    code = "CDSS-005"
    status = 400
    title = _("Invalid feedback")
    message = _("The feedback is not valid: %(reason)s")


class InvalidRule(CodedError):
    code = "CDSS-006"
    status = 400
    title = _("Invalid rule")
    message = _("The rule is not valid: %(reason)s")


class PrefetchMismatch(CodedError):
    code = "CDSS-007"
    status = 400
    title = _("Prefetch does not match its template")
    message = _("The prefetch %(key)s does not match the service's prefetch template: %(reason)s")


class ImplausiblePatientData(CodedError):
    code = "CDSS-008"
    status = 400
    title = _("Implausible patient data")
    message = _("The patient data sent is not plausible: %(reason)s")
