from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulingConfig(AppConfig):
    name = "smartcare.scheduling"
    label = "scheduling"
    verbose_name = _("Scheduling and booking")

    def ready(self) -> None:
        from smartcare.core.periodic import register
        from smartcare.scheduling import roles  # noqa: F401
        from smartcare.scheduling.tasks import expire_overdue_waitlist_offers, maintain_schedules

        register("scheduling.maintain_schedules", maintain_schedules.enqueue, every_seconds=15 * 60)
        # Offers hold a place for minutes: a lost expiry task must not hold it much longer.
        register(
            "scheduling.expire_overdue_waitlist_offers",
            expire_overdue_waitlist_offers.enqueue,
            every_seconds=60,
        )
