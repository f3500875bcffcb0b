"""Reminders, missed tasks and escalation over two weeks of a plan, with a frozen clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.audit.models import AuditEvent
from smartcare.core import clock, periodic
from smartcare.followup import reminders, services
from smartcare.followup.choices import InvitationStatus, PlanStatus, TaskKind, TaskStatus
from smartcare.followup.models import CareTask, EducationDelivery, SurveyInvitation, TaskEscalation
from smartcare.notifications.models import Notification
from tests.factories import TestHospital
from tests.followup.helpers import at, small_template


def _notes(user: Any, category: str) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, category=category).order_by("pk"))


def _task(plan: Any, kind: str) -> CareTask:
    return CareTask.objects.get(plan=plan, kind=kind)


def test_reminders_missed_tasks_and_escalation_follow_the_calendar(h: TestHospital) -> None:
    day0 = clock.today() + dt.timedelta(days=1)
    nurse, doctor, head, patient_user = h.user("nurse"), h.user("doctor"), h.user("head"), h.user("patient")
    with clock.frozen_at(at(day0)):
        plan = services.start_plan(nurse, patient_id=h.own_patient.pk, template_id=small_template().pk)
        assert plan.responsible_nurse == nurse and plan.responsible_doctor == doctor
        result = reminders.run_round()
        assert result == {"reminded": 1, "missed": 0, "escalated": 0, "surveys_expired": 0}
        education = _task(plan, TaskKind.EDUCATION)
        delivery = EducationDelivery.objects.get(patient=h.own_patient, task=education)
        reminder = _notes(patient_user, "followup_reminder")
        assert len(reminder) == 1 and reminder[0].link == f"/followup/me/education/{delivery.pk}/"
        # A second round the same day (or a second worker) repeats nothing.
        assert reminders.run_round() == {"reminded": 0, "missed": 0, "escalated": 0, "surveys_expired": 0}
        assert len(_notes(patient_user, "followup_reminder")) == 1

    with clock.frozen_at(at(day0 + dt.timedelta(days=1))):
        services.open_education(patient_user, delivery.pk)
        services.mark_read(patient_user, delivery.pk)
        assert CareTask.objects.get(pk=education.pk).status == TaskStatus.DONE

    with clock.frozen_at(at(day0 + dt.timedelta(days=2))):
        result = reminders.run_round()
        assert result["reminded"] == 2  # the patient's questionnaire, the nurse's calls of the day
        calls = _notes(nurse, "followup_calls")
        assert len(calls) == 1 and "1" in calls[0].subject
        questionnaire = _task(plan, TaskKind.QUESTIONNAIRE)
        assert _notes(patient_user, "followup_reminder")[-1].link == f"/followup/me/tasks/{questionnaire.pk}/"

    with clock.frozen_at(at(day0 + dt.timedelta(days=3))):
        # Due on day 2, missed after one day of grace: still due on day 3.
        assert reminders.run_round()["missed"] == 0
        assert _task(plan, TaskKind.PHONE_CALL).status == TaskStatus.DUE

    with clock.frozen_at(at(day0 + dt.timedelta(days=4))):
        assert reminders.run_round()["missed"] == 1
        call = _task(plan, TaskKind.PHONE_CALL)
        assert call.status == TaskStatus.MISSED and call.escalation_level == 1
        assert call.missed_at == at(day0 + dt.timedelta(days=4))
        assert len(_notes(nurse, "followup_escalation")) == 1
        assert len(_notes(doctor, "followup_escalation")) == 1
        assert not _notes(head, "followup_escalation")
        assert not _notes(patient_user, "followup_missed")  # the team calls; the patient is not blamed
        assert reminders.run_round()["missed"] == 0

    with clock.frozen_at(at(day0 + dt.timedelta(days=5, hours=-1))):
        assert reminders.run_round()["escalated"] == 0  # level 2 waits two days

    with clock.frozen_at(at(day0 + dt.timedelta(days=6))):
        result = reminders.run_round()
        assert result["escalated"] == 1 and result["missed"] == 1  # the questionnaire is missed now
        assert len(_notes(head, "followup_escalation")) == 1
        assert _task(plan, TaskKind.PHONE_CALL).escalation_level == 2
        assert len(_notes(patient_user, "followup_missed")) == 1
        assert reminders.run_round() == {"reminded": 0, "missed": 0, "escalated": 0, "surveys_expired": 0}
        assert TaskEscalation.objects.filter(task=call).count() == 2
        assert AuditEvent.objects.filter(action="update", detail__event="task_escalated").count() >= 3

    with clock.frozen_at(at(day0 + dt.timedelta(days=7))):
        # Done late: the call reached the patient after all; the questionnaire is answered late.
        services.record_call(nurse, call.pk, outcome="reached", notes="已联系上，恢复良好")
        assert CareTask.objects.get(pk=call.pk).status == TaskStatus.DONE
        services.answer_task(
            patient_user,
            questionnaire.pk,
            {
                "home_bp": "daily",
                "systolic": "138",
                "missed_doses": "none",
                "salt": "often",
                "exercise": "3-4",
                "smoking": "never",
            },
        )
        assert plan.tasks.filter(status__in=["due", "missed"]).count() == 1  # the revisit on day 10

    with clock.frozen_at(at(day0 + dt.timedelta(days=9))):
        reminders.run_round()
        assert _notes(patient_user, "followup_reminder")[-1].link == "/booking/"
        services.complete_task(doctor, _task(plan, TaskKind.REVISIT).pk, outcome="复诊，血压达标")
        plan.refresh_from_db()
        assert plan.status == PlanStatus.COMPLETED


def test_an_unanswered_call_sets_the_day_to_call_again(h: TestHospital) -> None:
    day0 = clock.today() + dt.timedelta(days=1)
    nurse = h.user("nurse")
    with clock.frozen_at(at(day0)):
        plan = services.start_plan(nurse, patient_id=h.patient_in_care.pk, template_id=small_template().pk)
    call = _task(plan, TaskKind.PHONE_CALL)
    with clock.frozen_at(at(day0 + dt.timedelta(days=4))):
        reminders.run_round()
        assert CareTask.objects.get(pk=call.pk).status == TaskStatus.MISSED
        services.record_call(nurse, call.pk, outcome="no_answer", next_call_on=day0 + dt.timedelta(days=5))
        call.refresh_from_db()
        assert call.status == TaskStatus.DUE and call.due_on == day0 + dt.timedelta(days=5)
        assert call.reminded_at is None and call.escalation_level == 1
    with clock.frozen_at(at(day0 + dt.timedelta(days=5))):
        reminders.run_round()
        assert len(_notes(nurse, "followup_calls")) == 2  # reminded again on the new day


def test_cancelled_and_completed_plans_are_never_reminded(h: TestHospital) -> None:
    day0 = clock.today() + dt.timedelta(days=1)
    nurse = h.user("nurse")
    with clock.frozen_at(at(day0)):
        plan = services.start_plan(nurse, patient_id=h.own_patient.pk, template_id=small_template().pk)
        services.cancel_plan(nurse, plan.pk, "患者转至社区管理")
    with clock.frozen_at(at(day0 + dt.timedelta(days=20))):
        assert reminders.run_round() == {"reminded": 0, "missed": 0, "escalated": 0, "surveys_expired": 0}
    assert not Notification.objects.filter(category__in=["followup_reminder", "followup_escalation"]).exists()


def test_surveys_close_when_their_open_period_ends(h: TestHospital) -> None:
    from smartcare.emr import services as emr

    start = at(clock.today() + dt.timedelta(days=1))
    with clock.frozen_at(start):
        encounter = emr.open_encounter(h.user("doctor"), patient_id=h.own_patient.pk)
        emr.finish_encounter(h.user("doctor"), encounter.pk)
    invitation = SurveyInvitation.objects.get(encounter=encounter)
    assert invitation.expires_at == start + dt.timedelta(days=14)
    with clock.frozen_at(start + dt.timedelta(days=13)):
        assert reminders.run_round()["surveys_expired"] == 0
    with clock.frozen_at(start + dt.timedelta(days=14)):
        assert reminders.run_round()["surveys_expired"] == 1
    assert SurveyInvitation.objects.get(pk=invitation.pk).status == InvitationStatus.EXPIRED


def test_the_round_is_a_periodic_job_and_a_task() -> None:
    assert "followup.run_round" in {job.name for job in periodic.jobs()}
    job = next(j for j in periodic.jobs() if j.name == "followup.run_round")
    assert job.every_seconds == 900


def test_the_round_task_runs_the_round(h: TestHospital) -> None:
    from smartcare.followup.tasks import run_round

    with clock.frozen_at(at(clock.today() + dt.timedelta(days=1))):
        services.start_plan(h.user("nurse"), patient_id=h.own_patient.pk, template_id=small_template().pk)
        result = run_round.enqueue()
    assert result.return_value == {"reminded": 1, "missed": 0, "escalated": 0, "surveys_expired": 0}
