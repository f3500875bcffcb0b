from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SimulationConfig(AppConfig):
    name = "smartcare.simulation"
    label = "simulation"
    verbose_name = _("Demo hospital and simulation")

    def ready(self) -> None:
        from smartcare.simulation import roles  # noqa: F401
