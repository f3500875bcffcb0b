from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmrConfig(AppConfig):
    name = "smartcare.emr"
    label = "emr"
    verbose_name = _("Electronic medical records")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from smartcare.emr import roles  # noqa: F401
        from smartcare.emr.icd10 import load_icd10_after_migrate

        post_migrate.connect(load_icd10_after_migrate, sender=self)
