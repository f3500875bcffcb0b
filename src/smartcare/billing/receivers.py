"""Charges follow bookings, encounters and orders.

scheduling and emr sit below billing and must not import it, so billing listens to their models'
``post_save`` signals (connected in ``BillingConfig.ready``). The receivers only translate the
event into a billing service call, inside the same transaction as the change that caused it: a
booking that rolls back takes its registration fee with it. With no price catalog loaded nothing
is charged (and nothing is queried beyond one existence check).
"""

from __future__ import annotations

from typing import Any

from smartcare.billing import services


def appointment_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw or not services.catalog_loaded():
        return
    if created:
        services.charge_booking(instance)
    elif instance.status == "cancelled":
        services.cancel_source(
            f"scheduling.appointment:{instance.pk}", reason=instance.cancel_reason or "appointment cancelled"
        )


def encounter_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw or not services.catalog_loaded():
        return
    if created:
        services.charge_encounter(instance)
    elif instance.status == "cancelled":
        services.cancel_source(f"emr.encounter:{instance.pk}", reason="encounter cancelled")
    elif instance.kind == "inpatient" and instance.status == "finished":
        services.charge_bed_days(instance)


def order_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw or not services.catalog_loaded():
        return
    if instance.status in ("signed", "active", "completed"):
        services.charge_order(instance)
    elif instance.status == "cancelled":
        services.cancel_source(f"emr.order:{instance.pk}", reason=instance.end_reason or "order cancelled")
