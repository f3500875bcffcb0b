from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmrConfig(AppConfig):
    name = "smartcare.emr"
    label = "emr"
    verbose_name = _("Electronic medical records")
