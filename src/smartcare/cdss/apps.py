from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CdssConfig(AppConfig):
    name = "smartcare.cdss"
    label = "cdss"
    verbose_name = _("Clinical decision support")
