from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError


class SlotFull(CodedError):
    code = "SCHED-001"
    status = 409
    title = _("Slot full")
    message = _("This time slot is fully booked. Please choose another time or join the waitlist.")


class SessionNotOpen(CodedError):
    code = "SCHED-002"
    status = 409
    title = _("Not bookable")
    message = _("This session is not open for booking (not released yet, stopped or already over).")


class AlreadyBooked(CodedError):
    code = "SCHED-003"
    status = 409
    title = _("Already booked")
    message = _("The patient already has a booking in this department for this session.")


class DailyLimitReached(CodedError):
    code = "SCHED-004"
    status = 409
    title = _("Daily limit reached")
    message = _("The patient already has %(limit)s bookings on this day.")


class BookingSuspended(CodedError):
    code = "SCHED-005"
    status = 403
    title = _("Booking suspended")
    message = _("Booking is suspended until %(until)s because of %(count)s missed appointments.")


class CancellationTooLate(CodedError):
    code = "SCHED-006"
    status = 409
    title = _("Too late to cancel")
    message = _(
        "Appointments can be cancelled online until %(hours)s hours before the start. Please call the hospital."
    )


class IdempotencyConflict(CodedError):
    code = "SCHED-007"
    status = 409
    title = _("Idempotency key reused")
    message = _("This idempotency key was already used for a different booking.")


class NotCancellable(CodedError):
    code = "SCHED-008"
    status = 409
    title = _("Cannot cancel")
    message = _("Only booked appointments that have not started can be cancelled.")


class NoOffer(CodedError):
    code = "SCHED-009"
    status = 409
    title = _("No open offer")
    message = _("There is no open waitlist offer to accept, or it has expired.")


class InvalidSchedule(CodedError):
    code = "SCHED-010"
    status = 400
    title = _("Invalid schedule")
    message = _("The schedule is not valid: %(reason)s")


class PatientNotEligible(CodedError):
    code = "SCHED-011"
    status = 409
    title = _("Not eligible")
    message = _("This department does not see patients of this age or sex: %(reason)s")
