from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    name = "smartcare.monitoring"
    label = "monitoring"
    verbose_name = _("Home monitoring")

    def ready(self) -> None:
        from smartcare.core.periodic import register
        from smartcare.monitoring import roles  # noqa: F401
        from smartcare.monitoring.access import device_visibility
        from smartcare.monitoring.tasks import escalate_alerts, evaluate_rehab_plans, evaluate_trends
        from smartcare.patients.access import register_visibility_rule

        register_visibility_rule(device_visibility)
        # Escalation is due minutes after an alert; trends and rehab progress move by the day.
        register("monitoring.escalate_alerts", escalate_alerts.enqueue, every_seconds=60)
        register("monitoring.evaluate_trends", evaluate_trends.enqueue, every_seconds=60 * 60)
        register("monitoring.evaluate_rehab_plans", evaluate_rehab_plans.enqueue, every_seconds=60 * 60)
