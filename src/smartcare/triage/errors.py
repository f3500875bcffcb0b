from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError


class TextMissing(CodedError):
    code = "TRIAGE-001"
    status = 400
    title = _("Describe the problem")
    message = _("Please describe the problem in a few words.")


class TextTooLong(CodedError):
    code = "TRIAGE-002"
    status = 400
    title = _("Description too long")
    message = _("Please keep the description to %(limit)s characters or fewer.")


class AgeOutOfRange(CodedError):
    code = "TRIAGE-003"
    status = 400
    title = _("Age not valid")
    message = _("The age must be between 0 and 120 years.")


class AgeMonthsDisagree(CodedError):
    code = "TRIAGE-006"
    status = 400
    title = _("Age not valid")
    message = _("The age in months does not match the age in years.")


class TextNotValid(CodedError):
    code = "TRIAGE-007"
    status = 400
    title = _("Text not valid")
    message = _("The description contains characters that cannot be read.")


class SexNotValid(CodedError):
    code = "TRIAGE-004"
    status = 400
    title = _("Sex not valid")
    message = _("The sex must be male, female or left empty.")


class UnknownQuestion(CodedError):
    code = "TRIAGE-005"
    status = 400
    title = _("Unknown question")
    message = _("An answer was given to a question that does not exist: %(key)s.")
