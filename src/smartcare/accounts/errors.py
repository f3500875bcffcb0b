from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError


class BreakGlassReasonRequired(CodedError):
    code = "ACCT-001"
    status = 400
    title = _("Reason required")
    message = _("Break-the-glass access needs a written reason of at least %(min)s characters.")


class BreakGlassNotAllowed(CodedError):
    code = "ACCT-002"
    status = 403
    title = _("Not allowed")
    message = _("Your role cannot use break-the-glass access.")


class InvalidToken(CodedError):
    code = "ACCT-003"
    status = 401
    title = _("Invalid API token")
    message = _("The API token is missing, unknown, expired or revoked.")


class InvalidOtp(CodedError):
    code = "ACCT-004"
    status = 400
    title = _("Invalid code")
    message = _("The verification code is not valid. Check your authenticator app and try again.")


class AlreadyReviewed(CodedError):
    code = "ACCT-005"
    status = 409
    title = _("Already reviewed")
    message = _("This break-the-glass access has already been reviewed.")


class ReviewNotAllowed(CodedError):
    code = "ACCT-006"
    status = 404
    title = _("Not found")
    message = _("The requested record does not exist or you may not see it.")


class TokenOwnerNotAllowed(CodedError):
    code = "ACCT-007"
    status = 400
    title = _("Not a machine identity")
    message = _("API tokens are only issued to machine identities (devices and external channels).")
