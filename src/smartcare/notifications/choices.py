from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    IN_APP = "in_app", _("In-app inbox")
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    RETRYING = "retrying", _("Retrying")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped (no address)")
