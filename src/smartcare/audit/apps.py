from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "smartcare.audit"
    label = "audit"
    verbose_name = _("Audit trail")

    def ready(self) -> None:
        from smartcare.audit.tasks import chain_pending
        from smartcare.core.periodic import register

        register("audit.chain_pending", chain_pending.enqueue, every_seconds=300)
