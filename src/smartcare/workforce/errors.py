from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class InvalidWorkloadFile(InvalidInput):
    code = "WORK-001"
    status = 400
    title = _("Invalid workload file")
    message = _("The workload file is not valid; nothing was imported.")


class InvalidInstance(CodedError):
    code = "WORK-002"
    status = 400
    title = _("Invalid benchmark instance")
    message = _("The instance is not valid at line %(line)s: %(problem)s")


class NotEnoughHistory(CodedError):
    code = "WORK-003"
    status = 409
    title = _("Not enough history")
    message = _(
        "%(department)s has %(days)s days of workload history; at least %(needed)s are needed to "
        "train and backtest a forecast."
    )


class RosterNotEditable(CodedError):
    code = "WORK-004"
    status = 409
    title = _("Roster cannot be changed now")
    message = _("This roster cannot be changed while it is %(status)s.")


class RosterBreaksRules(CodedError):
    code = "WORK-005"
    status = 409
    title = _("Roster breaks hard rules")
    message = _("The roster breaks %(count)s hard rule(s); fix them before publishing.")


class InvalidPeriod(InvalidInput):
    code = "WORK-006"
    status = 400
    title = _("Invalid period")
    message = _("The period is not valid: %(problem)s")


class NotInRoster(CodedError):
    code = "WORK-007"
    status = 400
    title = _("Not part of this roster")
    message = _("This person or shift type does not belong to the roster's department.")


class AlreadyDecided(CodedError):
    code = "WORK-008"
    status = 409
    title = _("Already decided")
    message = _("This has already been accepted or rejected.")


class FeedbackTooEarly(CodedError):
    code = "WORK-009"
    status = 409
    title = _("Shift not started")
    message = _("A shift can be rated once it has started.")


class RosterOverlaps(CodedError):
    code = "WORK-010"
    status = 409
    title = _("Overlapping roster")
    message = _("A published roster of this department already covers %(date)s.")


class NothingToRoster(CodedError):
    code = "WORK-011"
    status = 409
    title = _("Nothing to roster")
    message = _("The department has no %(missing)s to build a roster with.")


class InvalidStaffRequest(InvalidInput):
    code = "WORK-012"
    status = 400
    title = _("Invalid request")
    message = _("The request is not valid: %(problem)s")
