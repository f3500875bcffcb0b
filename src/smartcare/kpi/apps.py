from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KpiConfig(AppConfig):
    name = "smartcare.kpi"
    label = "kpi"
    verbose_name = _("Operations cockpit")

    def ready(self) -> None:
        from smartcare.core.periodic import register
        from smartcare.kpi import roles  # noqa: F401
        from smartcare.kpi.tasks import compute_recent_facts

        register("kpi.compute_recent_facts", compute_recent_facts.enqueue, every_seconds=3600)
