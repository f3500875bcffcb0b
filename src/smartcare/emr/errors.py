from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError


class EncounterNotOpen(CodedError):
    code = "EMR-001"
    status = 409
    title = _("Encounter not open")
    message = _("This encounter is not in progress; it can no longer be changed.")


class EncounterTransitionRefused(CodedError):
    code = "EMR-002"
    status = 409
    title = _("Not possible in this state")
    message = _("The encounter cannot go from %(current)s to %(target)s.")


class BedNotAvailable(CodedError):
    code = "EMR-003"
    status = 409
    title = _("Bed not available")
    message = _("This bed is not free.")


class NoteAlreadySigned(CodedError):
    code = "EMR-004"
    status = 409
    title = _("Note already signed")
    message = _("A signed note is never overwritten: amend it with a reason instead.")


class AmendmentReasonRequired(CodedError):
    code = "EMR-005"
    status = 400
    title = _("Reason required")
    message = _("An amendment needs a reason.")


class OrderTransitionRefused(CodedError):
    code = "EMR-006"
    status = 409
    title = _("Not possible in this state")
    message = _("The order cannot go from %(current)s to %(target)s.")


class IncompleteMedicationOrder(CodedError):
    code = "EMR-007"
    status = 400
    title = _("Incomplete medication order")
    message = _("A medication order needs a dose, a dose unit, a route, a frequency and a duration.")


class UnknownCode(CodedError):
    code = "EMR-008"
    status = 400
    title = _("Unknown code")
    message = _("The code %(code)s is not known.")


class ImplausibleValue(CodedError):
    code = "EMR-009"
    status = 400
    title = _("Implausible value")
    message = _("The value %(value)s is outside the plausible range for this measurement.")


class NoteNotSigned(CodedError):
    code = "EMR-010"
    status = 409
    title = _("Note not signed")
    message = _("Only a signed note can be amended; edit the draft instead.")


class AlreadyAdmitted(CodedError):
    code = "EMR-011"
    status = 409
    title = _("Already admitted")
    message = _("The patient already has an open inpatient stay.")


class CardNotShown(CodedError):
    code = "EMR-012"
    status = 409
    title = _("Advice no longer shown")
    message = _("This decision-support card was not shown in this visit or was already answered.")


class CommentRequired(CodedError):
    code = "EMR-013"
    status = 400
    title = _("Comment required")
    message = _("Say in a comment why this advice does not apply here.")


class SuggestionNotSupported(CodedError):
    code = "EMR-014"
    status = 400
    title = _("Suggestion cannot be carried out")
    message = _("The workstation cannot carry out this suggestion: %(reason)s")


class MalformedCodeFile(CodedError):
    code = "EMR-015"
    status = 400
    title = _("Malformed ICD-10 file")
    message = _("The ICD-10 file cannot be read (line %(line)s): %(reason)s. Nothing was loaded.")


# Reasons a row of an ICD-10 file is rejected (the other rows are loaded).


class InvalidIcd10Code(CodedError):
    code = "EMR-016"
    status = 400
    title = _("Invalid ICD-10 code")
    message = _(
        "%(code)s is not an ICD-10 code (a letter, two digits, then optionally a dot and up to 12 letters or digits)."
    )


class MissingIcd10Name(CodedError):
    code = "EMR-017"
    status = 400
    title = _("ICD-10 name missing")
    message = _("The code %(code)s has no Chinese or no English name, or a name longer than 200 characters.")


class DuplicateIcd10Code(CodedError):
    code = "EMR-018"
    status = 400
    title = _("ICD-10 code twice in the file")
    message = _("The code %(code)s is already on line %(first)s of the file.")
