from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelemedicineConfig(AppConfig):
    name = "smartcare.telemedicine"
    label = "telemedicine"
    verbose_name = _("Remote consultation")
