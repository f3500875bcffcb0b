from django.db import models
from django.utils.translation import gettext_lazy as _


class TriageChannel(models.TextChoices):
    PORTAL = "portal", _("Patient portal")
    KIOSK = "kiosk", _("Self-service kiosk")
    API = "api", _("API")
    DESK = "desk", _("Front desk")


class TriageStatus(models.TextChoices):
    EMERGENCY = "emergency", _("Emergency")
    QUESTION = "question", _("Follow-up question")
    DEPARTMENTS = "departments", _("Departments suggested")
    UNCLEAR = "unclear", _("Not recognised")
