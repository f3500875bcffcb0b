from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class ConsentRequired(CodedError):
    code = "TM-001"
    status = 400
    title = _("Consent required")
    message = _("Record the patient's consent to share the record with the expert first.")


class TransitionRefused(CodedError):
    code = "TM-002"
    status = 409
    title = _("Not possible in this state")
    message = _("The consultation cannot go from %(current)s to %(target)s.")


class ReasonRequired(CodedError):
    code = "TM-003"
    status = 400
    title = _("Reason required")
    message = _("Please give a reason.")


class NotTheExpert(CodedError):
    code = "TM-004"
    status = 403
    title = _("Not the consulted expert")
    message = _("Only the expert consulted (or a member of the consulted department) may do this.")


class NotTheRequester(CodedError):
    code = "TM-005"
    status = 403
    title = _("Not the requester")
    message = _("Only the requesting doctor may do this.")


class UnknownExpert(InvalidInput):
    code = "TM-006"
    status = 400
    title = _("Expert not in this department")
    message = _("The chosen expert is not a doctor of the consulted department.")


class InvalidAttachment(InvalidInput):
    code = "TM-007"
    status = 400
    title = _("Attachment not allowed")
    message = _("Only notes, results, diagnoses and imaging studies of this patient can be attached.")


class RoomTokenInvalid(CodedError):
    code = "TM-008"
    status = 403
    title = _("Room link not valid")
    message = _("This room link has expired or was not issued to you.")


class RoomClosed(CodedError):
    code = "TM-009"
    status = 409
    title = _("Room closed")
    message = _("The consultation is closed; its room cannot be joined any more.")


class InvalidAnnotation(InvalidInput):
    code = "TM-010"
    status = 400
    title = _("Annotation not valid")
    message = _("An annotation or measurement is not valid; nothing was saved.")


class MessageInvalid(InvalidInput):
    code = "TM-011"
    status = 400
    title = _("Message not valid")
    message = _("The message is empty or too long.")


class AlreadyReviewed(CodedError):
    code = "TM-012"
    status = 409
    title = _("Already reviewed")
    message = _("This discordant case was reviewed already.")


class NotDiscordant(CodedError):
    code = "TM-013"
    status = 409
    title = _("Not a discordant case")
    message = _("Only discordant consultations go to quality review.")
