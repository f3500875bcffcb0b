from __future__ import annotations

from django_tasks import task

from smartcare.billing import reconciliation, sandbox_gateway, services


@task()
def deliver_sandbox_notification(event_id: int) -> bool:
    """The sandbox gateway POSTs its signed notification to the merchant's callback URL."""
    return sandbox_gateway.SandboxGateway().deliver(event_id)


@task()
def send_payout(payout_id: int) -> str:
    return services.send_payout(payout_id)


@task()
def expire_payments() -> int:
    return services.expire_overdue_payments()


@task()
def charge_open_stays() -> int:
    """Bed days of every open inpatient stay (idempotent per stay and day)."""
    from smartcare.emr.models import Encounter

    if not services.catalog_loaded():
        return 0
    count = 0
    for encounter in Encounter.objects.filter(
        kind="inpatient", status="in_progress", admitted_at__isnull=False
    ):
        count += services.charge_bed_days(encounter)
    return count


@task()
def reconcile_yesterday() -> int:
    return reconciliation.reconcile_yesterday()
