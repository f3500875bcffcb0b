"""Coded errors of quality control (QC-001 ...)."""

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class UnknownMeasure(CodedError):
    code = "QC-001"
    status = 404
    title = _("Unknown measure")
    message = _("There is no quality measure with the code %(code)s.")


class InvalidQualityPeriod(InvalidInput):
    code = "QC-002"
    status = 400
    title = _("Invalid period")
    message = _("The period is not valid: %(problem)s")


class CaseNotFailed(CodedError):
    code = "QC-003"
    status = 404
    title = _("Case not found")
    message = _("This case did not fail the measure in this period.")


class InvalidReviewer(InvalidInput):
    code = "QC-004"
    status = 400
    title = _("Invalid reviewer")
    message = _("The reviewer must be an active doctor, nurse or department head.")


class InvalidReviewState(InvalidInput):
    code = "QC-005"
    status = 400
    title = _("Invalid review state")
    message = _("The review state %(state)s is not valid.")


class CommentTooLong(InvalidInput):
    code = "QC-006"
    status = 400
    title = _("Comment too long")
    message = _("The comment may have at most %(limit)s characters.")
