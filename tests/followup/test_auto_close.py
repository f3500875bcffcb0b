"""Lab-test and return-visit tasks close themselves: a result with the task's LOINC code, or a
finished outpatient visit in the plan's department, from a week before the due day on."""

from __future__ import annotations

import datetime as dt

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.emr import services as emr
from smartcare.followup import services
from smartcare.followup.choices import ResponsibleRole, TaskKind, TaskStatus
from smartcare.followup.models import CareTask, TemplateTask
from tests.factories import TestHospital
from tests.followup.helpers import small_template

HBA1C = "4548-4"


def _plan(h: TestHospital) -> tuple[CareTask, CareTask]:
    template = small_template()  # return visit on day 10, doctor's
    TemplateTask.objects.create(
        template=template,
        kind=TaskKind.LAB_TEST,
        title_zh="复查糖化血红蛋白",
        title_en="HbA1c test",
        offset_days=30,
        responsible_role=ResponsibleRole.NURSE,
        lab_code=HBA1C,
    )
    plan = services.start_plan(h.user("doctor"), patient_id=h.patient_in_care.pk, template_id=template.pk)
    return plan.tasks.get(kind=TaskKind.LAB_TEST), plan.tasks.get(kind=TaskKind.REVISIT)


def _result(h: TestHospital, code: str, days: int) -> None:
    emr.record_result(
        h.user("doctor"),
        h.patient_in_care.pk,
        code=code,
        name="HbA1c",
        value="6.8",
        unit="%",
        observed_at=clock.now() + dt.timedelta(days=days),
    )


def test_a_result_with_the_tasks_code_completes_the_lab_task(h: TestHospital) -> None:
    lab, _revisit = _plan(h)
    _result(h, "2345-7", days=29)  # glucose: another test
    _result(h, HBA1C, days=10)  # three weeks early: an earlier check, not this one
    lab.refresh_from_db()
    assert lab.status == TaskStatus.DUE
    _result(h, HBA1C, days=25)
    lab.refresh_from_db()
    assert lab.status == TaskStatus.DONE and lab.completed_by is None
    assert lab.outcome.startswith("HbA1c: 6.8 %")
    assert AuditEvent.objects.filter(object_type="followup.CareTask", object_id=str(lab.pk)).exists()
    # A later result finds no open task and changes nothing.
    _result(h, HBA1C, days=31)
    assert CareTask.objects.filter(kind=TaskKind.LAB_TEST, status=TaskStatus.DONE).count() == 1


def test_a_finished_visit_in_the_plans_department_completes_the_return_visit(h: TestHospital) -> None:
    from smartcare.accounts.choices import CareRelationshipKind
    from smartcare.accounts.services import register_care_relationship

    _lab, revisit = _plan(h)  # cardiology, due on day 10
    register_care_relationship(
        patient=h.patient_in_care, department=h.neurology, kind=CareRelationshipKind.REFERRAL, source="test:n"
    )
    visit = emr.open_encounter(h.user("doctor"), patient_id=h.patient_in_care.pk)
    emr.finish_encounter(h.user("doctor"), visit.pk)
    revisit.refresh_from_db()
    assert revisit.status == TaskStatus.DUE  # today is ten days early: not the return visit
    with clock.frozen_at(clock.now() + dt.timedelta(days=6)):
        elsewhere = emr.open_encounter(h.user("neurologist"), patient_id=h.patient_in_care.pk)
        emr.finish_encounter(h.user("neurologist"), elsewhere.pk)
        revisit.refresh_from_db()
        assert revisit.status == TaskStatus.DUE  # another department's visit
        visit = emr.open_encounter(h.user("doctor"), patient_id=h.patient_in_care.pk)
        revisit.refresh_from_db()
        assert revisit.status == TaskStatus.DUE  # open, not finished yet
        emr.finish_encounter(h.user("doctor"), visit.pk)
    revisit.refresh_from_db()
    assert revisit.status == TaskStatus.DONE
    assert f"#{visit.pk}" in revisit.outcome
