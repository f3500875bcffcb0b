from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError


class NoBookingToday(CodedError):
    code = "VISIT-001"
    status = 404
    title = _("No booking today")
    message = _("No booking for today was found for this code. Please go to the front desk.")


class CheckInWindowClosed(CodedError):
    code = "VISIT-002"
    status = 409
    title = _("Check-in not open")
    message = _("Check-in on the phone opens %(minutes)s minutes before your appointment.")


class AlreadyCheckedIn(CodedError):
    code = "VISIT-003"
    status = 409
    title = _("Already checked in")
    message = _("This appointment is already checked in (queue number %(number)s).")


class QueueEmpty(CodedError):
    code = "VISIT-004"
    status = 409
    title = _("No one waiting")
    message = _("No patient is waiting in this queue.")


class NothingCalled(CodedError):
    code = "VISIT-005"
    status = 409
    title = _("No patient called")
    message = _("No patient is being seen right now.")


class InvalidDisplayToken(CodedError):
    code = "VISIT-006"
    status = 404
    title = _("Not found")
    message = _("The requested record does not exist or you may not see it.")


class NotRequeueable(CodedError):
    code = "VISIT-007"
    status = 409
    title = _("Cannot return to the queue")
    message = _(
        "Only a patient who missed their call or was sent to an exam today can return to the queue "
        "(queue number %(number)s is %(state)s)."
    )
