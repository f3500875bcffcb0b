from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CdssConfig(AppConfig):
    name = "smartcare.cdss"
    label = "cdss"
    verbose_name = _("Clinical decision support")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from smartcare.cdss import roles  # noqa: F401
        from smartcare.cdss.seed import load_rules_after_migrate

        post_migrate.connect(load_rules_after_migrate, sender=self)
