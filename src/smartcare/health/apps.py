from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HealthConfig(AppConfig):
    name = "smartcare.health"
    label = "health"
    verbose_name = _("Health management")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from smartcare.core.periodic import register
        from smartcare.health import hooks, roles  # noqa: F401
        from smartcare.health.seed import load_after_migrate
        from smartcare.health.tasks import assess_unassessed, remind_adherence

        hooks.connect()
        post_migrate.connect(load_after_migrate, sender=self)
        register("health.remind_adherence", remind_adherence.enqueue, every_seconds=6 * 3600)
        register("health.assess_unassessed", assess_unassessed.enqueue, every_seconds=15 * 60)
