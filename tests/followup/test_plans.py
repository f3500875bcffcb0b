"""Care plans: started by rules (discharge after a procedure, a new diagnosis) and by hand, with
their tasks, responsible clinicians, care relationships, cancellation and bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.accounts.models import CareRelationship
from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
from smartcare.emr import services as emr
from smartcare.emr.models import Encounter
from smartcare.followup import services
from smartcare.followup.choices import PlanOrigin, PlanStatus, TaskKind, TaskStatus
from smartcare.followup.errors import PlanAlreadyActive, ReasonRequired, TaskTransitionRefused
from smartcare.followup.models import CarePlan, CarePlanTemplate, CareTask, EducationDelivery
from smartcare.patients.access import access_patient
from smartcare.patients.models import Patient
from tests.factories import TestHospital
from tests.followup.helpers import discharge_after, small_template


def test_discharge_after_a_cholecystectomy_starts_its_post_operative_plan(h: TestHospital) -> None:
    encounter = discharge_after(h, "腹腔镜胆囊切除术")
    plan = CarePlan.objects.get(patient=h.patient_in_care)
    assert plan.template.key == "post-op-cholecystectomy"
    assert plan.origin == PlanOrigin.RULE and plan.source == f"emr.encounter:{encounter.pk}"
    assert plan.department == h.cardiology
    assert plan.start_date == clock.today()
    assert plan.responsible_nurse == h.user("nurse")
    # No attending on the stay: the department's doctor with the fewest open tasks.
    assert plan.responsible_doctor in (h.user("doctor"), h.user("head"))
    tasks = list(plan.tasks.order_by("due_on", "pk"))
    offsets = [(t.due_on - plan.start_date).days for t in tasks]
    assert offsets == [0, 1, 3, 7, 30, 30]
    revisit = next(t for t in tasks if t.kind == TaskKind.REVISIT)
    assert revisit.responsible == plan.responsible_doctor
    assert revisit.remind_on == revisit.due_on - dt.timedelta(days=2)
    call = next(t for t in tasks if t.kind == TaskKind.PHONE_CALL)
    assert call.responsible == h.user("nurse") and call.status == TaskStatus.DUE
    assert AuditEvent.objects.filter(
        object_type="followup.CarePlan", object_id=str(plan.pk), action="create"
    ).exists()


def test_a_procedure_without_its_own_pathway_gets_the_general_plan(h: TestHospital) -> None:
    discharge_after(h, "Inguinal hernia repair")
    assert CarePlan.objects.get(patient=h.patient_in_care).template.key == "post-op-general"


def test_keywords_match_in_english_and_without_case(h: TestHospital) -> None:
    discharge_after(h, "Right total knee ARTHROPLASTY")
    assert CarePlan.objects.get(patient=h.patient_in_care).template.key == "post-op-joint-replacement"


def test_discharge_without_a_procedure_starts_no_plan(h: TestHospital) -> None:
    discharge_after(h, None)
    assert not CarePlan.objects.exists()


def test_an_outpatient_visit_with_a_procedure_order_starts_no_post_operative_plan(h: TestHospital) -> None:
    encounter = emr.open_encounter(h.user("doctor"), patient_id=h.patient_in_care.pk)
    order = emr.place_order(
        h.user("doctor"), encounter.pk, emr.OrderData(kind="procedure", name="胆囊切除术")
    )
    emr.sign_order(h.user("doctor"), order.pk)
    emr.finish_encounter(h.user("doctor"), encounter.pk)
    assert not CarePlan.objects.exists()


def test_the_plan_gives_the_responsible_clinicians_access_until_it_ends(h: TestHospital) -> None:
    from smartcare.accounts.services import end_care_relationship

    template = small_template()
    nurse, patient = h.user("nurse"), h.patient_in_care
    plan = services.start_plan(nurse, patient_id=patient.pk, template_id=template.pk)
    assert plan.responsible_doctor is not None
    for clinician in (plan.responsible_doctor, nurse):
        relationship = CareRelationship.objects.get(source=f"followup.plan:{plan.pk}:user:{clinician.pk}")
        assert relationship.practitioner_user == clinician and relationship.kind == "follow_up"
    department = CareRelationship.objects.get(source=f"followup.plan:{plan.pk}")
    assert department.practitioner_user is None and department.department == h.cardiology
    last = max(t.due_on + dt.timedelta(days=t.grace_days) for t in plan.tasks.all())
    assert department.valid_until is not None
    assert department.valid_until.date() >= last + dt.timedelta(days=29)
    # The appointment that brought the patient ends: the plan alone keeps the team's access.
    end_care_relationship(source="test:1")
    assert Patient.objects.visible_to(nurse).filter(pk=patient.pk).exists()
    access_patient(nurse, patient, "clinical")
    services.cancel_plan(nurse, plan.pk, "患者要求停止随访")
    assert not Patient.objects.visible_to(nurse).filter(pk=patient.pk).exists()
    assert not Patient.objects.visible_to(h.user("doctor")).filter(pk=patient.pk).exists()


def test_a_new_chronic_diagnosis_starts_its_plan_once(h: TestHospital) -> None:
    doctor = h.user("doctor")
    patient = h.patient_in_care
    first = emr.open_encounter(doctor, patient_id=patient.pk)
    emr.add_diagnosis(doctor, first.pk, code="I10")
    plan = CarePlan.objects.get(patient=patient)
    assert plan.template.key == "hypertension"
    assert plan.responsible_doctor == doctor and plan.source.startswith("emr.diagnosis:")
    # The plan's education reached the patient: the items about hypertension for a new diagnosis.
    keys = set(EducationDelivery.objects.filter(patient=patient).values_list("item__key", flat=True))
    assert {"low-salt-diet", "bp-medicines"} <= keys
    assert "home-bp-measurement" not in keys  # the plan's own education task delivers it on its day
    assert "pregnancy-nutrition" not in keys and "diabetes-diet" not in keys
    emr.finish_encounter(doctor, first.pk)
    second = emr.open_encounter(doctor, patient_id=patient.pk)
    emr.add_diagnosis(doctor, second.pk, code="I10")
    assert CarePlan.objects.filter(patient=patient).count() == 1


def test_a_diagnosis_the_patient_had_before_is_not_new(h: TestHospital) -> None:
    doctor = h.user("doctor")
    patient = h.patient_in_care
    emr.record_problem(doctor, patient.pk, code="E11.9")
    plan = CarePlan.objects.get(patient=patient, template__key="diabetes")
    services.cancel_plan(doctor, plan.pk, "患者转至社区管理")
    encounter = emr.open_encounter(doctor, patient_id=patient.pk)
    emr.add_diagnosis(doctor, encounter.pk, code="E11.9")
    assert CarePlan.objects.filter(patient=patient).count() == 1


def test_a_problem_recorded_by_a_nurse_starts_the_plan_in_her_department(h: TestHospital) -> None:
    emr.record_problem(h.user("nurse"), h.patient_in_care.pk, code="I50.9")
    plan = CarePlan.objects.get(patient=h.patient_in_care)
    assert plan.template.key == "heart-failure"
    assert plan.department == h.cardiology and plan.responsible_nurse == h.user("nurse")


def test_provisional_diagnoses_and_unrelated_codes_start_nothing(h: TestHospital) -> None:
    doctor = h.user("doctor")
    encounter = emr.open_encounter(doctor, patient_id=h.patient_in_care.pk)
    emr.add_diagnosis(doctor, encounter.pk, code="E11.9", status="provisional")
    emr.add_diagnosis(doctor, encounter.pk, code="J06.9")
    assert not CarePlan.objects.exists()


def test_pregnancy_booking_starts_the_pregnancy_plan(h: TestHospital) -> None:
    doctor = h.user("doctor")
    encounter = emr.open_encounter(doctor, patient_id=h.patient_in_care.pk)
    emr.add_diagnosis(doctor, encounter.pk, code=_first_code("Z34"))
    plan = CarePlan.objects.get(patient=h.patient_in_care)
    assert plan.template.key == "pregnancy"
    assert plan.tasks.filter(kind=TaskKind.REVISIT).count() == 2


def _first_code(prefix: str) -> str:
    from smartcare.emr.models import Icd10Code

    found = Icd10Code.objects.filter(code__startswith=prefix).order_by("code").first()
    if found is None:
        pytest.skip(f"the shipped ICD-10 table has no {prefix} code")
    return found.code


def test_a_failing_rule_never_undoes_the_discharge(h: TestHospital, monkeypatch: Any, caplog: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("template store unavailable")

    monkeypatch.setattr(services, "plans_after_discharge", broken)
    encounter = discharge_after(h, "胆囊切除术")
    encounter.refresh_from_db()
    assert encounter.status == "finished" and encounter.discharged_at is not None
    assert not CarePlan.objects.exists()
    assert "follow-up rule failed" in caplog.text


# --- By hand ----------------------------------------------------------------------------------------


def test_a_nurse_starts_a_plan_by_hand_and_is_its_nurse(h: TestHospital) -> None:
    template = small_template()
    nurse = h.user("nurse")
    start = clock.today() + dt.timedelta(days=2)
    plan = services.start_plan(
        nurse, patient_id=h.patient_in_care.pk, template_id=template.pk, start_date=start
    )
    assert plan.origin == PlanOrigin.MANUAL and plan.started_by == nurse
    assert plan.responsible_nurse == nurse and plan.responsible_doctor is not None
    assert [t.due_on for t in plan.tasks.order_by("due_on")] == [
        start,
        start + dt.timedelta(days=2),
        start + dt.timedelta(days=3),
        start + dt.timedelta(days=10),
    ]
    assert plan.tasks.get(kind=TaskKind.REVISIT).responsible == plan.responsible_doctor


def test_starting_the_same_plan_twice_is_refused_and_writes_nothing(h: TestHospital) -> None:
    template = small_template()
    services.start_plan(h.user("nurse"), patient_id=h.patient_in_care.pk, template_id=template.pk)
    counts = (CarePlan.objects.count(), CareTask.objects.count(), CareRelationship.objects.count())
    with pytest.raises(PlanAlreadyActive) as raised:
        services.start_plan(h.user("doctor"), patient_id=h.patient_in_care.pk, template_id=template.pk)
    assert raised.value.code == "FU-002" and raised.value.status == 409
    assert (CarePlan.objects.count(), CareTask.objects.count(), CareRelationship.objects.count()) == counts


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("template_id", None),
        ("template_id", "abc"),
        ("start_date", "2020-01-01"),
        ("start_date", "not a date"),
        ("doctor_id", "999999"),
    ],
)
def test_bad_input_when_starting_a_plan(h: TestHospital, field: str, value: Any) -> None:
    template = small_template()
    arguments: dict[str, Any] = {"patient_id": h.patient_in_care.pk, "template_id": template.pk, field: value}
    with pytest.raises((InvalidInput, NotFound)):
        services.start_plan(h.user("nurse"), **arguments)
    assert not CarePlan.objects.exists() and not CareTask.objects.exists()


def test_who_may_start_a_plan(h: TestHospital) -> None:
    template = small_template()
    with pytest.raises(NotFound):
        services.start_plan(h.user("neurologist"), patient_id=h.patient_in_care.pk, template_id=template.pk)
    with pytest.raises(PermissionDenied):
        services.start_plan(h.user("frontdesk"), patient_id=h.patient_in_care.pk, template_id=template.pk)
    with pytest.raises(PermissionDenied):
        services.start_plan(h.user("patient"), patient_id=h.own_patient.pk, template_id=template.pk)
    assert not CarePlan.objects.exists()


def test_cancelling_a_plan_needs_a_reason_and_cancels_its_open_tasks(h: TestHospital) -> None:
    template = small_template()
    nurse = h.user("nurse")
    plan = services.start_plan(nurse, patient_id=h.patient_in_care.pk, template_id=template.pk)
    first = plan.tasks.order_by("due_on", "pk").first()
    assert first is not None
    services.complete_task(nurse, first.pk, outcome="已阅读")
    with pytest.raises(ReasonRequired) as raised:
        services.cancel_plan(nurse, plan.pk, "  ")
    assert raised.value.code == "FU-004"
    assert CarePlan.objects.get(pk=plan.pk).status == PlanStatus.ACTIVE
    services.cancel_plan(nurse, plan.pk, "患者转院")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED and plan.ended_at is not None
    assert set(plan.tasks.values_list("status", flat=True)) == {TaskStatus.DONE, TaskStatus.CANCELLED}
    assert (
        not CareRelationship.objects.active().filter(source__startswith=f"followup.plan:{plan.pk}").exists()
    )


def test_a_finished_task_cannot_be_done_again_and_the_plan_completes(h: TestHospital) -> None:
    template = small_template()
    nurse = h.user("nurse")
    plan = services.start_plan(nurse, patient_id=h.patient_in_care.pk, template_id=template.pk)
    tasks = list(plan.tasks.order_by("due_on", "pk"))
    services.complete_task(nurse, tasks[0].pk)
    with pytest.raises(TaskTransitionRefused) as raised:
        services.complete_task(nurse, tasks[0].pk)
    assert raised.value.code == "FU-003"
    services.record_call(nurse, tasks[1].pk, outcome="reached", notes="恢复良好")
    services.cancel_task(nurse, tasks[2].pk, "患者已在社区随访")
    assert CarePlan.objects.get(pk=plan.pk).status == PlanStatus.ACTIVE
    services.complete_task(h.user("doctor"), tasks[3].pk, outcome="血压控制良好")
    assert CarePlan.objects.get(pk=plan.pk).status == PlanStatus.COMPLETED


def test_discharge_sends_the_inpatient_survey_to_patients_with_an_account(h: TestHospital) -> None:
    from smartcare.followup.models import SurveyInvitation

    discharge_after(h, "胆囊切除术", patient=h.own_patient)
    invitation = SurveyInvitation.objects.get(patient=h.own_patient)
    assert invitation.occasion == "discharge" and invitation.questionnaire.key == "inpatient_satisfaction"
    assert invitation.encounter == Encounter.objects.get(patient=h.own_patient)
    assert h.user("patient").notifications.filter(category="followup_survey").exists()
    assert h.user("patient").notifications.filter(category="followup_plan").exists()


def test_the_template_must_be_usable(h: TestHospital) -> None:
    empty = CarePlanTemplate.objects.create(key="empty", name_zh="空", name_en="Empty", category="other")
    with pytest.raises(Exception) as raised:
        services.start_plan(h.user("nurse"), patient_id=h.patient_in_care.pk, template_id=empty.pk)
    assert getattr(raised.value, "code", "") == "FU-001"
    assert not CarePlan.objects.exists()


def test_a_patient_without_a_portal_account_is_surveyed_by_sms(h: TestHospital) -> None:
    from smartcare.followup.models import SurveyInvitation
    from smartcare.notifications.models import Delivery

    discharge_after(h, "胆囊切除术")
    invitation = SurveyInvitation.objects.get(patient=h.patient_in_care)
    assert invitation.occasion == "discharge"
    assert Delivery.objects.get(notification__category="followup_survey").channel == "sms"
    assert CarePlan.objects.filter(patient=h.patient_in_care).exists()


def test_saving_the_discharged_encounter_again_starts_nothing(h: TestHospital) -> None:
    encounter = discharge_after(h, "胆囊切除术")
    plan = CarePlan.objects.get(patient=h.patient_in_care)
    services.cancel_plan(h.user("nurse"), plan.pk, "患者转院继续治疗")
    encounter.refresh_from_db()
    encounter.reason = "更正"
    encounter.save()  # a full save of a finished encounter (no update_fields)
    assert CarePlan.objects.filter(patient=h.patient_in_care).count() == 1
