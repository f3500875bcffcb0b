from django.db import models
from django.utils.translation import gettext_lazy as _


class Period(models.TextChoices):
    MORNING = "morning", _("Morning")
    AFTERNOON = "afternoon", _("Afternoon")
    EVENING = "evening", _("Evening")


class FeeClass(models.TextChoices):
    ORDINARY = "ordinary", _("Ordinary clinic")
    EXPERT = "expert", _("Expert clinic")
    EXAM = "exam", _("Examination")


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    STOPPED = "stopped", _("Stopped")


class Channel(models.TextChoices):
    PORTAL = "portal", _("Patient portal")
    KIOSK = "kiosk", _("Self-service kiosk")
    FRONT_DESK = "front_desk", _("Front desk")
    APP = "app", _("Hospital app")
    MINI_PROGRAM = "mini_program", _("Mini-program (WeChat / Alipay)")
    WEBSITE = "website", _("Hospital website")
    PHONE = "phone", _("Telephone")


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", _("Booked")
    CHECKED_IN = "checked_in", _("Checked in")
    IN_CONSULTATION = "in_consultation", _("In consultation")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("Did not attend")


ACTIVE_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_CONSULTATION)


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    OFFERED = "offered", _("Slot offered")
    ACCEPTED = "accepted", _("Accepted")
    EXPIRED = "expired", _("Offer expired")
    CANCELLED = "cancelled", _("Cancelled")


class PreVisitStatus(models.TextChoices):
    ORDERED = "ordered", _("Ordered")
    BOOKED = "booked", _("Booked")
    RESULTED = "resulted", _("Result available")
    CANCELLED = "cancelled", _("Cancelled")
