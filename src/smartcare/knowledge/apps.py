from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KnowledgeConfig(AppConfig):
    name = "smartcare.knowledge"
    label = "knowledge"
    verbose_name = _("Medical knowledge graph")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from smartcare.knowledge import roles  # noqa: F401
        from smartcare.knowledge.seed import load_seed_after_migrate

        post_migrate.connect(load_seed_after_migrate, sender=self)
