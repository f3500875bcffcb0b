from django.db import models
from django.utils.translation import gettext_lazy as _


class Priority(models.IntegerChoices):
    EMERGENCY = 0, _("Emergency")
    PRIORITY = 1, _("Priority (elderly, disabled, pregnant)")
    NORMAL = 2, _("Normal")


class EntryState(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    CALLED = "called", _("Called")
    SKIPPED = "skipped", _("Missed call")
    AT_EXAM = "at_exam", _("Sent to an exam")
    FINISHED = "finished", _("Finished")
