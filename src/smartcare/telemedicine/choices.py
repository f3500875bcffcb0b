import datetime as dt

from django.db import models
from django.utils.translation import gettext_lazy as _


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")
    EMERGENCY = "emergency", _("Emergency")


# Order of the expert's queue: most urgent first.
URGENCY_RANK = {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}


class ConsultationStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    ACCEPTED = "accepted", _("Accepted")
    INFO_REQUESTED = "info_requested", _("More information asked")
    ANSWERED = "answered", _("Answered")
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = (ConsultationStatus.REQUESTED, ConsultationStatus.ACCEPTED, ConsultationStatus.INFO_REQUESTED)
CLOSED_STATUSES = (ConsultationStatus.ANSWERED, ConsultationStatus.DECLINED, ConsultationStatus.CANCELLED)

TRANSITIONS: dict[str, frozenset[str]] = {
    ConsultationStatus.REQUESTED: frozenset(
        {
            ConsultationStatus.ACCEPTED,
            ConsultationStatus.INFO_REQUESTED,
            ConsultationStatus.DECLINED,
            ConsultationStatus.CANCELLED,
        }
    ),
    ConsultationStatus.ACCEPTED: frozenset(
        {ConsultationStatus.INFO_REQUESTED, ConsultationStatus.ANSWERED, ConsultationStatus.CANCELLED}
    ),
    ConsultationStatus.INFO_REQUESTED: frozenset(
        {ConsultationStatus.ACCEPTED, ConsultationStatus.REQUESTED, ConsultationStatus.CANCELLED}
    ),
    ConsultationStatus.ANSWERED: frozenset(),
    ConsultationStatus.DECLINED: frozenset(),
    ConsultationStatus.CANCELLED: frozenset(),
}


class Concordance(models.TextChoices):
    SAME_CODE = "same_code", _("Same code")
    SAME_CATEGORY = "same_category", _("Same category")
    DISCORDANT = "discordant", _("Discordant")


class EventKind(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    ACCEPTED = "accepted", _("Accepted")
    INFO_REQUESTED = "info_requested", _("More information asked")
    INFO_PROVIDED = "info_provided", _("Information provided")
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")
    ANSWERED = "answered", _("Opinion given")
    ESCALATED = "escalated", _("Deadline escalated")
    OVERDUE = "overdue", _("Deadline missed")
    ACCESS_ENDED = "access_ended", _("Record access ended")


class RoomEventKind(models.TextChoices):
    JOINED = "joined", _("Joined")
    LEFT = "left", _("Left")
    QUALITY = "quality", _("Connection quality")
    FAILURE = "failure", _("Connection failure")


ROOM_EVENT_KINDS_FROM_BROWSER = (RoomEventKind.QUALITY, RoomEventKind.FAILURE)


class AnnotationKind(models.TextChoices):
    DISTANCE = "distance", _("Distance")
    ARROW = "arrow", _("Arrow")
    TEXT = "text", _("Text")


def default_response_window(urgency: str) -> dt.timedelta:
    from django.conf import settings

    hours = getattr(settings, "TELEMEDICINE_RESPONSE_HOURS", {}) or {}
    defaults = {Urgency.ROUTINE: 24.0, Urgency.URGENT: 4.0, Urgency.EMERGENCY: 1.0}
    return dt.timedelta(hours=float(hours.get(str(urgency), defaults[Urgency(urgency)])))
