from django.db import models
from django.utils.translation import gettext_lazy as _


class InsuranceType(models.TextChoices):
    URBAN_EMPLOYEE = "urban_employee", _("Urban employee basic medical insurance")
    RESIDENT = "resident", _("Urban and rural resident medical insurance")
    COMMERCIAL = "commercial", _("Commercial insurance")
    SELF_PAY = "self_pay", _("Self-pay")


class ConsentKind(models.TextChoices):
    TREATMENT = "treatment", _("Treatment")
    DATA_SHARING = "data_sharing", _("Sharing the record with other care providers")
    RESEARCH = "research", _("Use of de-identified data for research")
    NOTIFICATIONS = "notifications", _("Messages by SMS and e-mail")


class AccessAction(models.TextChoices):
    VIEW = "view", _("View demographics")
    UPDATE = "update", _("Update demographics")
    CLINICAL = "clinical", _("View or write the clinical record")
    EXPORT = "export", _("Export")
