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

        # The workstation (emr, a lower layer) asks decision support through this registration,
        # so it gets exactly the advice an external EMR gets over CDS Hooks.
        from smartcare.cdss.services import evaluate, record_feedback, shown_card
        from smartcare.emr.hooks import register_advisor

        register_advisor(evaluate, feedback=record_feedback, card=shown_card)
