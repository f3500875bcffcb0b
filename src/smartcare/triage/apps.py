from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "smartcare.triage"
    label = "triage"
    verbose_name = _("Smart triage")

    def ready(self) -> None:
        from smartcare.triage import roles  # noqa: F401
