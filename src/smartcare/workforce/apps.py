from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkforceConfig(AppConfig):
    name = "smartcare.workforce"
    label = "workforce"
    verbose_name = _("Workforce and rostering")

    def ready(self) -> None:
        from smartcare.core.periodic import register
        from smartcare.monitoring.alerts import register_duty_resolver
        from smartcare.workforce import roles  # noqa: F401
        from smartcare.workforce.selectors import doctors_on_duty
        from smartcare.workforce.tasks import collect_recent_workload, summarize_last_week

        register("workforce.collect_workload", collect_recent_workload.enqueue, every_seconds=6 * 3600)
        register("workforce.weekly_summaries", summarize_last_week.enqueue, every_seconds=6 * 3600)
        # Escalated home-monitoring alerts go to the doctor on shift in the published roster.
        register_duty_resolver(doctors_on_duty)
