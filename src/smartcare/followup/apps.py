from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupConfig(AppConfig):
    name = "smartcare.followup"
    label = "followup"
    verbose_name = _("Follow-up and health education")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from smartcare.core.periodic import register
        from smartcare.followup import roles, rules  # noqa: F401
        from smartcare.followup.seed import load_after_migrate
        from smartcare.followup.tasks import run_round

        rules.connect()
        post_migrate.connect(load_after_migrate, sender=self)
        register("followup.run_round", run_round.enqueue, every_seconds=15 * 60)
