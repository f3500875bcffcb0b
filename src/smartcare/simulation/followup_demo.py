"""Follow-up in the demo year: care plans for patients diagnosed with hypertension, diabetes,
heart failure or pregnancy in the record, post-operative plans for surgical patients, their tasks
in every state (done, missed and escalated, cancelled, due and overdue), phone follow-ups,
patient-reported outcome answers that improve over the plan, satisfaction surveys after visits
(some departments above the 90% target, some below), and the education each patient was sent and
read. The demo patient follows a hypertension plan with something to do today.

Written in bulk (like the other demo generators): it is history, not something users did. Answers
are checked and scored by the same ``questionnaires.evaluate`` as real ones.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import CareRelationship, User
from smartcare.core import clock
from smartcare.emr.choices import DiagnosisStatus, EncounterKind, EncounterStatus
from smartcare.emr.models import Diagnosis, Encounter
from smartcare.followup.choices import (
    CallOutcome,
    DeliveryReason,
    InvitationStatus,
    PlanOrigin,
    PlanStatus,
    PlanTrigger,
    QuestionKind,
    QuestionnaireKind,
    ResponsibleRole,
    SurveyOccasion,
    TaskKind,
    TaskStatus,
)
from smartcare.followup.conditions import code_matches
from smartcare.followup.models import (
    CarePlan,
    CarePlanTemplate,
    CareTask,
    EducationDelivery,
    PhoneFollowUp,
    Questionnaire,
    QuestionnaireResponse,
    SurveyInvitation,
    TaskEscalation,
)
from smartcare.followup.questionnaires import QuestionSpec, condition_met, evaluate
from smartcare.followup.seed import ensure_followup_content
from smartcare.followup.selectors import EducationProfile, matching_items
from smartcare.organization.models import Department
from smartcare.patients.models import Patient
from smartcare.simulation.registry import DemoContext, register_generator

MAX_CHRONIC_PLANS = 420
POST_OPERATIVE_PLANS = 90
SURVEY_SHARE = 0.6  # finished visits whose patient got the survey (a reachable channel)
SURVEY_ANSWERED = 0.68
PLAN_DAYS = 200  # plans start within this many days before today
CALL_NOTES = [
    "患者自述恢复良好，按时服药，无明显不适。",
    "血压控制尚可，嘱继续低盐饮食，按时复诊。",
    "伤口愈合良好，已提醒复查时间。",
    "患者偶有头晕，已告知监测血压并记录，必要时就诊。",
    "家属代接电话，患者状态稳定。",
    "患者询问用药调整，已转告主管医生。",
]
NO_ANSWER_NOTES = ["无人接听，稍后再拨。", "电话占线。", ""]


class _Builder:
    def __init__(self, ctx: DemoContext) -> None:
        self.ctx = ctx
        self.rng: random.Random = ctx.rng
        self.now = clock.now()
        self.today = clock.today()
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.templates = {t.key: t for t in CarePlanTemplate.objects.prefetch_related("tasks")}
        self.questionnaires = {q.key: q for q in Questionnaire.objects.prefetch_related("questions")}
        self.keys = {q.pk: k for k, q in self.questionnaires.items()}
        self.specs = {
            k: [QuestionSpec.of(x) for x in q.questions.all().order_by("position", "pk")]
            for k, q in self.questionnaires.items()
        }
        self.staff: dict[tuple[int, str], list[User]] = defaultdict(list)
        for user in User.objects.filter(
            role__in=[Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD], is_active=True
        ).select_related("practitioner"):
            practitioner = getattr(user, "practitioner", None)
            if practitioner is not None:
                role = "nurse" if user.role == Role.NURSE else "doctor"
                self.staff[(practitioner.department_id, role)].append(user)
        self.plans: list[tuple[CarePlan, list[CareTask]]] = []
        self.responses: list[QuestionnaireResponse] = []
        self.calls: list[PhoneFollowUp] = []
        self.escalations: list[TaskEscalation] = []
        self.deliveries: dict[tuple[int, int], EducationDelivery] = {}
        self.quality: dict[int, float] = {}

    def at(self, day: dt.date, hour: int = 10) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, self.rng.randrange(60)), tzinfo=self.tz)

    def clinician(self, department_id: int, role: str) -> User | None:
        pool = self.staff.get((department_id, role)) or []
        return self.rng.choice(pool) if pool else None

    # --- answers ---------------------------------------------------------------------------------------

    def answers(self, key: str, quality: float) -> dict[str, Any]:
        """Plausible answers: ``quality`` 0..1 moves choices toward the best-scoring options."""
        questionnaire = self.questionnaires[key]
        flip = not questionnaire.higher_is_better
        answers: dict[str, Any] = {}
        for spec in self.specs[key]:
            condition = spec.show_if
            if condition and condition.get("question") not in answers:
                continue
            if condition and not condition_met(condition, answers.get(condition["question"])):
                continue
            if spec.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
                options = sorted(spec.options, key=lambda o: float(o.get("score") or 0), reverse=not flip)
                if spec.kind == QuestionKind.SINGLE:
                    index = min(len(options) - 1, int(abs(self.rng.gauss(0, 0.2 + 2.5 * (1 - quality)))))
                    answers[spec.key] = str(options[index]["value"])
                else:
                    plain = [o for o in spec.options if not o.get("flag")] or list(spec.options)
                    chosen = {str(self.rng.choice(plain)["value"])}
                    if self.rng.random() > quality:
                        chosen.add(str(self.rng.choice(spec.options)["value"]))
                    answers[spec.key] = sorted(chosen)
            elif spec.kind == QuestionKind.SCALE:
                low, high = spec.scale_min or 0, spec.scale_max or 0
                good = high if not flip else low
                spread = (high - low) * (1 - quality)
                value = good - spread * self.rng.random() if not flip else good + spread * self.rng.random()
                answers[spec.key] = round(min(max(value, low), high))
            elif spec.kind == QuestionKind.NUMBER:
                bottom = float(spec.min_value if spec.min_value is not None else 0)
                top = float(spec.max_value if spec.max_value is not None else 100)
                middle = {
                    "systolic": 128 + 30 * (1 - quality),
                    "fasting": 6.2 + 4 * (1 - quality),
                    "weeks": 18.0,
                    "weight": 68.0,
                }.get(spec.key, (bottom + top) / 2)
                answers[spec.key] = round(
                    min(max(self.rng.gauss(middle, (top - bottom) / 25), bottom), top), 1
                )
            elif spec.required:
                answers[spec.key] = "无"
        return answers

    def response(self, key: str, quality: float, **fields: Any) -> QuestionnaireResponse:
        questionnaire = self.questionnaires[key]
        result = evaluate(self.specs[key], self.answers(key, quality))
        satisfied = None
        if questionnaire.kind == QuestionnaireKind.SATISFACTION:
            satisfied = result.percent is not None and result.percent >= questionnaire.satisfied_percent
        response = QuestionnaireResponse(
            questionnaire=questionnaire,
            answers=result.answers,
            score=result.score,
            max_score=result.max_score,
            score_percent=result.percent,
            satisfied=satisfied,
            flagged=bool(result.flagged),
            **fields,
        )
        self.responses.append(response)
        return response

    # --- plans -----------------------------------------------------------------------------------------

    def plan(
        self,
        template: CarePlanTemplate,
        patient_id: int,
        department_id: int,
        start: dt.date,
        origin: str,
        source: str,
    ) -> None:
        doctor = self.clinician(department_id, "doctor")
        nurse = self.clinician(department_id, "nurse")
        plan = CarePlan(
            patient_id=patient_id,
            template=template,
            department_id=department_id,
            responsible_doctor=doctor,
            responsible_nurse=nurse,
            origin=origin,
            source=source,
            start_date=start,
            started_by=doctor if origin == PlanOrigin.MANUAL else None,
            created_at=self.at(start, 9),
        )
        # How reliably this patient follows the plan, and how much they improve.
        diligence = self.rng.betavariate(6, 1.6)
        tasks: list[CareTask] = []
        for item in template.tasks.all():
            due = start + dt.timedelta(days=item.offset_days)
            responsible = doctor if item.responsible_role == ResponsibleRole.DOCTOR else nurse
            task = CareTask(
                plan=plan,
                patient_id=patient_id,
                department_id=department_id,
                template_task=item,
                kind=item.kind,
                title_zh=item.title_zh,
                title_en=item.title_en,
                instructions_zh=item.instructions_zh,
                instructions_en=item.instructions_en,
                due_on=due,
                remind_on=max(start, due - dt.timedelta(days=item.remind_days_before)),
                grace_days=item.grace_days,
                responsible=responsible,
                responsible_role=item.responsible_role,
                questionnaire=item.questionnaire,
                education_item=item.education_item,
                lab_code=item.lab_code,
                created_at=plan.created_at,
            )
            if task.remind_on <= self.today:
                task.reminded_at = self.at(task.remind_on, 8)
            missed_day = due + dt.timedelta(days=item.grace_days + 1)
            roll = self.rng.random()
            if missed_day <= self.today:  # its time has passed: what happened
                if roll < 0.025:
                    task.status, task.cancel_reason = (
                        TaskStatus.CANCELLED,
                        self.rng.choice(["患者转至社区卫生服务中心随访", "患者外出务工，改为电话随访"]),
                    )
                elif roll < diligence:
                    task.status = TaskStatus.DONE
                    done = due + dt.timedelta(days=self.rng.randint(-1, item.grace_days))
                    task.completed_at = self.at(min(max(done, start), self.today), 11)
                    task.completed_by = (
                        responsible
                        if task.kind in (TaskKind.PHONE_CALL, TaskKind.REVISIT, TaskKind.LAB_TEST)
                        else None
                    )
                else:
                    task.status, task.missed_at = TaskStatus.MISSED, self.at(missed_day, 8)
                    task.escalation_level = 2 if (self.today - missed_day).days >= 2 else 1
            elif due < self.today and roll < diligence * 0.6:  # overdue but within grace: some done
                task.status = TaskStatus.DONE
                task.completed_at = self.at(
                    self.today - dt.timedelta(days=self.rng.randint(0, (self.today - due).days)), 11
                )
                task.completed_by = responsible if task.kind != TaskKind.QUESTIONNAIRE else None
            tasks.append(task)
        self.plans.append((plan, tasks))
        self.quality[id(plan)] = diligence

    def chronic_plans(self) -> int:
        since = self.now - dt.timedelta(days=PLAN_DAYS)
        templates = [t for t in self.templates.values() if t.trigger == PlanTrigger.DIAGNOSIS and t.is_active]
        seen: set[tuple[int, int]] = set()
        rows = (
            Diagnosis.objects.filter(
                status=DiagnosisStatus.CONFIRMED,
                created_at__gte=since,
                encounter__status=EncounterStatus.FINISHED,
            )
            .values_list("encounter__patient_id", "encounter__department_id", "icd10_id", "created_at")
            .order_by("created_at", "pk")
        )
        count = 0
        demo_patient = getattr(self.ctx.state.get("demo_patient"), "pk", None)
        for patient_id, department_id, code, created in rows:
            if patient_id == demo_patient:
                continue  # her plans are written by demo_patient_plan
            for template in templates:
                if count >= MAX_CHRONIC_PLANS or not code_matches(code, template.icd10_prefixes):
                    continue
                if (patient_id, template.pk) in seen:
                    continue
                seen.add((patient_id, template.pk))
                self.plan(
                    template,
                    patient_id,
                    department_id,
                    created.astimezone(self.tz).date(),
                    PlanOrigin.RULE,
                    "demo:diagnosis",
                )
                count += 1
        return count

    def post_operative_plans(self) -> int:
        surgical = list(Department.objects.filter(national_code__code__startswith="04", is_active=True))
        if not surgical:
            return 0
        keys = ["post-op-general", "post-op-cholecystectomy", "post-op-joint-replacement", "post-op-general"]
        patients = list(
            CareRelationship.objects.filter(department__in=surgical)
            .exclude(patient_id=getattr(self.ctx.state.get("demo_patient"), "pk", 0))
            .values_list("patient_id", "department_id")
            .order_by("patient_id", "department_id")
            .distinct()[:2000]
        )
        self.rng.shuffle(patients)
        made = 0
        used: set[int] = set()
        for patient_id, department_id in patients:
            if made >= POST_OPERATIVE_PLANS or patient_id in used:
                continue
            used.add(patient_id)
            start = self.today - dt.timedelta(days=self.rng.randint(0, 120))
            template = self.templates.get(self.rng.choice(keys))
            if template is None:
                continue
            self.plan(template, patient_id, department_id, start, PlanOrigin.MANUAL, "")
            made += 1
        return made

    def demo_patient_plan(self) -> None:
        """张秀英: a completed hypertension plan last spring, and the current one with a
        questionnaire to fill in today, a missed call that was escalated, upcoming lab work."""
        patient = self.ctx.state.get("demo_patient")
        template = self.templates.get("hypertension")
        cardiology = Department.objects.filter(national_code_id="03.04").first()
        if patient is None or template is None or cardiology is None:
            return
        nurse = User.objects.filter(username="nurse").first() or self.clinician(cardiology.pk, "nurse")
        doctor = User.objects.filter(username="doctor").first() or self.clinician(cardiology.pk, "doctor")
        for start, current in (
            (self.today - dt.timedelta(days=300), False),
            (self.today - dt.timedelta(days=89), True),
        ):
            self.plan(
                template,
                patient.pk,
                cardiology.pk,
                start,
                PlanOrigin.RULE if not current else PlanOrigin.MANUAL,
                "demo:diagnosis",
            )
            plan, tasks = self.plans[-1]
            plan.responsible_doctor, plan.responsible_nurse = doctor, nurse
            plan.started_by = doctor if current else None
            self.quality[id(plan)] = 0.55 if not current else 0.8
            for task in tasks:
                task.responsible = doctor if task.responsible_role == ResponsibleRole.DOCTOR else nurse
                offset = (task.due_on - start).days
                if not current and offset == 14:  # away that week: the call was cancelled
                    task.status, task.cancel_reason, task.missed_at, task.escalation_level = (
                        TaskStatus.CANCELLED,
                        "患者外出探亲，改为复诊时随访",
                        None,
                        0,
                    )
                    task.completed_at = None
                elif not current or offset < 14 or offset == 30:
                    task.status, task.missed_at, task.escalation_level = TaskStatus.DONE, None, 0
                    task.completed_at = self.at(min(task.due_on, self.today), 11)
                    task.completed_by = (
                        task.responsible
                        if task.kind in (TaskKind.PHONE_CALL, TaskKind.REVISIT, TaskKind.LAB_TEST)
                        else None
                    )
                    task.cancel_reason = ""
                elif offset == 14:  # the call she missed: escalated to the doctor, then the head
                    task.status, task.missed_at, task.escalation_level = (
                        TaskStatus.MISSED,
                        self.at(task.due_on + dt.timedelta(days=3), 8),
                        2,
                    )
                    task.completed_at = None
                else:
                    task.status, task.completed_at, task.missed_at = TaskStatus.DUE, None, None
        self.demo_patient_id = patient.pk

    # --- writing -----------------------------------------------------------------------------------------

    def write_plans(self) -> None:
        for plan, tasks in self.plans:
            if all(t.status in (TaskStatus.DONE, TaskStatus.CANCELLED) for t in tasks):
                plan.status = PlanStatus.COMPLETED
                plan.ended_at = max((t.completed_at or plan.created_at) for t in tasks)
        CarePlan.objects.bulk_create([p for p, _t in self.plans], batch_size=500)
        for plan, tasks in self.plans:
            for task in tasks:
                task.plan = plan
        CareTask.objects.bulk_create([t for _p, tasks in self.plans for t in tasks], batch_size=1000)

    def activity(self) -> None:
        """Calls, answers, escalations and education for the tasks and plans just written."""
        patients = {
            p.pk: p
            for p in Patient.objects.filter(pk__in={p.patient_id for p, _t in self.plans}).select_related(
                "user"
            )
        }
        for plan, tasks in self.plans:
            quality = self.quality[id(plan)]
            patient = patients[plan.patient_id]
            questionnaires_done = 0
            for task in tasks:
                if task.kind == TaskKind.PHONE_CALL and task.status in (TaskStatus.DONE, TaskStatus.MISSED):
                    tries = [CallOutcome.NO_ANSWER] * (self.rng.random() < 0.25) + (
                        [CallOutcome.REACHED] if task.status == TaskStatus.DONE else [CallOutcome.NO_ANSWER]
                    )
                    when = task.completed_at or task.missed_at or self.now
                    for n, outcome in enumerate(tries):
                        self.calls.append(
                            PhoneFollowUp(
                                task=task,
                                patient_id=task.patient_id,
                                called_by=task.responsible
                                or plan.responsible_nurse
                                or plan.responsible_doctor,
                                called_at=when - dt.timedelta(hours=(len(tries) - n - 1) * 5),
                                outcome=outcome,
                                duration_minutes=self.rng.randint(3, 12)
                                if outcome == CallOutcome.REACHED
                                else 0,
                                notes=self.rng.choice(
                                    CALL_NOTES if outcome == CallOutcome.REACHED else NO_ANSWER_NOTES
                                ),
                                needs_doctor=outcome == CallOutcome.REACHED and self.rng.random() < 0.06,
                            )
                        )
                if (
                    task.kind == TaskKind.QUESTIONNAIRE
                    and task.status == TaskStatus.DONE
                    and task.questionnaire_id
                ):
                    # Patients get better along the plan.
                    progress = min(
                        1.0, quality * 0.75 + 0.12 * questionnaires_done + self.rng.uniform(-0.05, 0.08)
                    )
                    questionnaires_done += 1
                    self.response(
                        self.keys[task.questionnaire_id],
                        progress,
                        patient_id=task.patient_id,
                        task=task,
                        department_id=task.department_id,
                        submitted_at=task.completed_at or self.now,
                        submitted_by=patient.user if patient.user_id else None,
                    )
                if task.status == TaskStatus.MISSED and task.missed_at:
                    for level in range(1, task.escalation_level + 1):
                        self.escalations.append(
                            TaskEscalation(
                                task=task,
                                level=level,
                                notified=[
                                    u.pk for u in (task.responsible, plan.responsible_doctor) if u is not None
                                ],
                                created_at=task.missed_at + dt.timedelta(days=2 * (level - 1)),
                            )
                        )
                if (
                    task.kind == TaskKind.EDUCATION
                    and task.education_item_id
                    and task.remind_on <= self.today
                ):
                    self.deliver(
                        patient,
                        task.education_item,
                        plan,
                        task,
                        self.at(task.remind_on, 8),
                        read=task.status == TaskStatus.DONE,
                    )
            template = plan.template
            profile = EducationProfile(
                patient.age,
                patient.sex,
                frozenset(template.education_tags or [template.category]),
                frozenset({template.care_stage}),
            )
            for item in matching_items(
                profile, conditions=set(profile.conditions), stage=template.care_stage
            )[:4]:
                self.deliver(
                    patient, item, plan, None, plan.created_at, read=self.rng.random() < quality * 0.75
                )

    def deliver(
        self,
        patient: Patient,
        item: Any,
        plan: CarePlan,
        task: CareTask | None,
        sent: dt.datetime,
        *,
        read: bool,
    ) -> None:
        key = (patient.pk, item.pk)
        if key in self.deliveries:
            return
        opened = read or self.rng.random() < 0.35
        open_at = sent + dt.timedelta(hours=self.rng.randint(1, 60)) if opened else None
        if open_at is not None and open_at > self.now:
            open_at = self.now
        self.deliveries[key] = EducationDelivery(
            item=item,
            patient=patient,
            reason=DeliveryReason.PLAN,
            plan=plan,
            task=task,
            sent_at=sent,
            opened_at=open_at,
            read_at=open_at + dt.timedelta(minutes=self.rng.randint(2, 15)) if read and open_at else None,
        )

    def care(self) -> int:
        """The care relationships of the active plans (the department's and each clinician's)."""
        rows = []
        for plan, tasks in self.plans:
            if plan.status != PlanStatus.ACTIVE:
                continue
            last = max(t.due_on + dt.timedelta(days=t.grace_days) for t in tasks)
            until = dt.datetime.combine(last, dt.time.min, tzinfo=self.tz) + dt.timedelta(days=30)
            source = f"followup.plan:{plan.pk}"
            rows.append(
                CareRelationship(
                    patient_id=plan.patient_id,
                    department_id=plan.department_id,
                    kind=CareRelationshipKind.FOLLOW_UP,
                    source=source,
                    valid_from=plan.created_at,
                    valid_until=until,
                )
            )
            for clinician in (plan.responsible_doctor, plan.responsible_nurse):
                if clinician is not None:
                    rows.append(
                        CareRelationship(
                            patient_id=plan.patient_id,
                            department_id=plan.department_id,
                            kind=CareRelationshipKind.FOLLOW_UP,
                            source=f"{source}:user:{clinician.pk}",
                            practitioner_user=clinician,
                            valid_from=plan.created_at,
                            valid_until=until,
                        )
                    )
        CareRelationship.objects.bulk_create(rows, batch_size=1000)
        return len(rows)

    def surveys(self) -> tuple[int, int]:
        """Satisfaction surveys after finished visits; each department has its own level of care."""
        visits = list(
            Encounter.objects.filter(
                status=EncounterStatus.FINISHED, kind=EncounterKind.OUTPATIENT, ended_at__isnull=False
            )
            .select_related("patient")
            .order_by("pk")
        )
        departments = sorted({e.department_id for e in visits})
        level = {d: self.rng.uniform(0.8, 0.97) for d in departments}
        questionnaire = self.questionnaires.get("outpatient_satisfaction")
        if questionnaire is None:
            return 0, 0
        invitations: list[SurveyInvitation] = []
        answered: list[tuple[SurveyInvitation, Encounter]] = []
        days = max(1, int(getattr(settings, "SMARTCARE_SURVEY_OPEN_DAYS", 14)))
        for encounter in visits:
            if self.rng.random() > SURVEY_SHARE or encounter.ended_at is None:
                continue
            sent = encounter.ended_at + dt.timedelta(minutes=self.rng.randint(20, 240))
            if sent >= self.now:
                continue
            invitation = SurveyInvitation(
                questionnaire=questionnaire,
                patient_id=encounter.patient_id,
                encounter=encounter,
                department_id=encounter.department_id,
                occasion=SurveyOccasion.VISIT,
                sent_at=sent,
                expires_at=sent + dt.timedelta(days=days),
            )
            answers_at = sent + dt.timedelta(hours=self.rng.randint(1, 72))
            if self.rng.random() < SURVEY_ANSWERED and answers_at < self.now:
                invitation.status, invitation.answered_at = InvitationStatus.ANSWERED, answers_at
                answered.append((invitation, encounter))
            elif invitation.expires_at <= self.now:
                invitation.status = InvitationStatus.EXPIRED
            invitations.append(invitation)
        SurveyInvitation.objects.bulk_create(invitations, batch_size=1000)
        for invitation, encounter in answered:
            satisfied = self.rng.random() < level[encounter.department_id]
            self.response(
                questionnaire.key,
                self.rng.uniform(0.82, 1.0) if satisfied else self.rng.uniform(0.0, 0.45),
                patient_id=encounter.patient_id,
                invitation=invitation,
                department_id=encounter.department_id,
                submitted_at=invitation.answered_at,
                submitted_by=encounter.patient.user if encounter.patient.user_id else None,
            )
        return len(invitations), len(answered)

    def demo_patient_survey(self) -> None:
        """An open survey from her latest visit, waiting on the portal."""
        patient_id = getattr(self, "demo_patient_id", None)
        questionnaire = self.questionnaires.get("outpatient_satisfaction")
        if patient_id is None or questionnaire is None:
            return
        encounter = (
            Encounter.objects.filter(patient_id=patient_id, status=EncounterStatus.FINISHED)
            .order_by("-ended_at")
            .first()
        )
        cardiology = Department.objects.filter(national_code_id="03.04").first()
        if (
            SurveyInvitation.objects.filter(patient_id=patient_id, status=InvitationStatus.SENT).exists()
            or cardiology is None
        ):
            return
        if encounter is not None and SurveyInvitation.objects.filter(encounter=encounter).exists():
            encounter = None
        sent = self.now - dt.timedelta(hours=20)
        SurveyInvitation.objects.create(
            questionnaire=questionnaire,
            patient_id=patient_id,
            encounter=encounter,
            department=encounter.department if encounter else cardiology,
            occasion=SurveyOccasion.VISIT,
            sent_at=sent,
            expires_at=sent + dt.timedelta(days=14),
        )

    def run(self) -> None:
        started = time.monotonic()
        chronic = self.chronic_plans()
        surgical = self.post_operative_plans()
        self.demo_patient_plan()
        self.write_plans()
        self.activity()
        invited, answered = self.surveys()
        QuestionnaireResponse.objects.bulk_create(self.responses, batch_size=1000)
        self.demo_patient_survey()
        PhoneFollowUp.objects.bulk_create(self.calls, batch_size=1000)
        TaskEscalation.objects.bulk_create(self.escalations, batch_size=1000)
        EducationDelivery.objects.bulk_create(list(self.deliveries.values()), batch_size=1000)
        relationships = self.care()
        tasks = [t for _p, ts in self.plans for t in ts]
        states: defaultdict[str, int] = defaultdict(int)
        for task in tasks:
            states[task.status] += 1
        satisfied = sum(1 for r in self.responses if r.satisfied)
        surveyed = sum(1 for r in self.responses if r.satisfied is not None)
        read = sum(1 for d in self.deliveries.values() if d.read_at)
        self.ctx.log(
            f"followup: {len(self.plans)} plans ({chronic} chronic, {surgical} post-operative), {len(tasks)} tasks "
            f"({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}), {len(self.calls)} calls, "
            f"{len(self.escalations)} escalations, {len(self.responses) - surveyed} PRO answers, {invited} surveys "
            f"({answered} answered, {satisfied / max(1, surveyed):.1%} satisfied), {len(self.deliveries)} education items "
            f"sent ({read} read), {relationships} care relationships ({time.monotonic() - started:.1f}s)"
        )


def build_followup(ctx: DemoContext) -> None:
    ensure_followup_content()
    _Builder(ctx).run()


register_generator("followup", build_followup, order=60)
