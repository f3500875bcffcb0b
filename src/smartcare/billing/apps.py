from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "smartcare.billing"
    label = "billing"
    verbose_name = _("Billing and insurance")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from smartcare.billing import receivers, roles  # noqa: F401
        from smartcare.billing.tasks import charge_open_stays, expire_payments, reconcile_yesterday
        from smartcare.core.periodic import register

        post_save.connect(
            receivers.appointment_saved, sender="scheduling.Appointment", dispatch_uid="billing-appointment"
        )
        post_save.connect(receivers.encounter_saved, sender="emr.Encounter", dispatch_uid="billing-encounter")
        post_save.connect(receivers.order_saved, sender="emr.Order", dispatch_uid="billing-order")
        register("billing.expire_payments", expire_payments.enqueue, every_seconds=60)
        register("billing.charge_open_stays", charge_open_stays.enqueue, every_seconds=3600)
        register("billing.reconcile_yesterday", reconcile_yesterday.enqueue, every_seconds=6 * 3600)
