from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResearchConfig(AppConfig):
    name = "smartcare.research"
    label = "research"
    verbose_name = _("Research data platform")

    def ready(self) -> None:
        from smartcare.core.config import env_int
        from smartcare.core.periodic import register
        from smartcare.research import roles  # noqa: F401
        from smartcare.research.lake_tasks import build_lake

        # lake: an incremental build every SMARTCARE_LAKE_BUILD_HOURS (default 24; 0: only by hand)
        hours = env_int("SMARTCARE_LAKE_BUILD_HOURS", 24)
        if hours > 0:
            register("research.lake_build", build_lake.enqueue, every_seconds=hours * 3600)
