"""Where health plugs into the record: risks recomputed when their inputs change.

emr and monitoring sit below health and know nothing about it, so health listens to their saves
(``post_save`` of a vital sign, a result, a problem, a medication order, a home reading) and of the
patient's lifestyle answers, connected in ``HealthConfig.ready``. As in follow-up, the receiver
runs in a savepoint inside the writer's transaction: the risk is stored with the new value, and if
the computation fails it is logged and rolled back alone, never the clinician's or the device's
write. Bulk writes (the demo year, imports) send no signals; the demo generator computes itself.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger("smartcare.health")

RISK_CODES = ("2093-3", "2085-9", "13457-7", "18262-6", "2089-1", "4548-4")


def _refresh(patient_id: int) -> None:
    from smartcare.health.services import refresh_from_record

    try:
        with transaction.atomic():
            refresh_from_record(patient_id)
    except Exception:  # a risk must never undo the record write that triggered it
        logger.exception("risk refresh failed for patient %s", patient_id)


def vital_saved(sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
    if raw or not created or instance.kind not in ("bp", "weight", "height"):
        return
    _refresh(instance.patient_id)


def result_saved(sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
    if raw or not created or instance.code not in RISK_CODES or instance.value is None:
        return
    _refresh(instance.patient_id)


def problem_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    code = (instance.icd10_id or "").upper()
    if code.startswith(("E1", "F17", "Z72.0")):
        _refresh(instance.patient_id)


def order_saved(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or instance.kind != "medication" or not (instance.code or "").upper().startswith("C0"):
        return
    if update_fields is not None and "status" not in update_fields:
        return
    _refresh(instance.patient_id)


def reading_saved(
    sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any
) -> None:
    if raw or not created or instance.kind not in ("blood_pressure", "weight"):
        return
    _refresh(instance.patient_id)


def connect() -> None:
    from django.db.models.signals import post_save

    from smartcare.emr.models import Observation, Order, Problem, VitalSign
    from smartcare.monitoring.models import Reading

    post_save.connect(vital_saved, sender=VitalSign, dispatch_uid="health.vital_saved")
    post_save.connect(result_saved, sender=Observation, dispatch_uid="health.result_saved")
    post_save.connect(problem_saved, sender=Problem, dispatch_uid="health.problem_saved")
    post_save.connect(order_saved, sender=Order, dispatch_uid="health.order_saved")
    post_save.connect(reading_saved, sender=Reading, dispatch_uid="health.reading_saved")
