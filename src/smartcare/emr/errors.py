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
