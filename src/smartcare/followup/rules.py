"""Where follow-up plugs into the medical record: plans and surveys started by what happens there.

emr sits below followup and knows nothing about it, so followup listens to the record's own saves
(Django's ``post_save`` of ``emr.Encounter``, ``emr.Diagnosis``, ``emr.Problem`` and ``emr.Observation``), connected in
``FollowupConfig.ready``:

* an encounter finished: the satisfaction survey for the visit, or for the stay when it is a
  discharge, and for a discharge after a procedure the post-operative plans
  (``services.plans_after_discharge``);
* a confirmed diagnosis or a problem-list entry the patient did not have before: the plans for
  that diagnosis (hypertension, diabetes, heart failure, pregnancy...) and the education that
  fits (``services.plans_for_new_diagnosis``);
* a finished outpatient visit completes an open return-visit task of its department, and a new
  result (``emr.Observation``) an open lab task with its LOINC code
  (``services.close_revisit_task_by_encounter``, ``services.close_lab_task_by_result``).

The receivers only read the saved row and call the services. Each runs in a savepoint inside the
clinician's transaction: the plan is written with the discharge or the diagnosis, and if follow-up
fails it is logged and rolled back alone, never the clinician's work. Bulk writes (the demo year,
imports) send no signals and start nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from smartcare.emr.choices import DiagnosisStatus, EncounterKind, EncounterStatus, MovementKind, ProblemStatus

logger = logging.getLogger("smartcare.followup")


def _safely(work: Callable[[], Any], what: str) -> None:
    try:
        with transaction.atomic():
            work()
    except Exception:  # follow-up must never undo the clinician's discharge or diagnosis
        logger.exception("follow-up rule failed: %s", what)


def _department_of(user: Any) -> Any:
    practitioner = getattr(user, "practitioner", None)
    return practitioner.department if practitioner is not None else None


def encounter_saved(
    sender: Any,
    instance: Any,
    created: bool = False,
    update_fields: Any = None,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    if raw or instance.status != EncounterStatus.FINISHED:
        return
    if update_fields is not None and "status" not in update_fields:
        return
    from smartcare.followup import services

    def run() -> None:
        if instance.kind != EncounterKind.INPATIENT:
            services.close_revisit_task_by_encounter(instance)
        actor = None
        if instance.kind == EncounterKind.INPATIENT:
            discharge = instance.movements.filter(kind=MovementKind.DISCHARGE).order_by("-at", "-pk").first()
            actor = discharge.by if discharge is not None else None
            services.plans_after_discharge(instance, actor)
        services.invite_to_survey(instance)

    _safely(run, f"encounter {instance.pk} finished")


def diagnosis_saved(
    sender: Any,
    instance: Any,
    created: bool = False,
    update_fields: Any = None,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    if raw or instance.status != DiagnosisStatus.CONFIRMED:
        return
    if not created and (update_fields is None or "status" not in update_fields):
        return
    from smartcare.followup import services

    def run() -> None:
        encounter = instance.encounter
        services.plans_for_new_diagnosis(
            encounter.patient,
            instance.icd10_id,
            department=encounter.department,
            actor=instance.recorded_by,
            diagnosis_id=instance.pk,
        )

    _safely(run, f"diagnosis {instance.pk}")


def problem_saved(
    sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any
) -> None:
    if raw or not created or instance.status != ProblemStatus.ACTIVE:
        return
    from smartcare.followup import services

    def run() -> None:
        services.plans_for_new_diagnosis(
            instance.patient,
            instance.icd10_id,
            department=_department_of(instance.recorded_by),
            actor=instance.recorded_by,
            problem_id=instance.pk,
        )

    _safely(run, f"problem {instance.pk}")


def observation_saved(
    sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any
) -> None:
    if raw or not created:
        return
    from smartcare.followup import services

    _safely(lambda: services.close_lab_task_by_result(instance), f"result {instance.pk}")


def connect() -> None:
    from django.db.models.signals import post_save

    post_save.connect(encounter_saved, sender="emr.Encounter", dispatch_uid="followup.encounter_saved")
    post_save.connect(diagnosis_saved, sender="emr.Diagnosis", dispatch_uid="followup.diagnosis_saved")
    post_save.connect(problem_saved, sender="emr.Problem", dispatch_uid="followup.problem_saved")
    post_save.connect(observation_saved, sender="emr.Observation", dispatch_uid="followup.observation_saved")
