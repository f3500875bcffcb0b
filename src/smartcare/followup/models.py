"""Follow-up after the visit: care plan templates and the plans and tasks made from them, phone
follow-ups, escalations, questionnaires with their answers, satisfaction surveys and the health
education library with what each patient was sent and read.

Invariants the database enforces: one active plan per patient and template, a done task has its
completion time and a missed one its missing time, one escalation per task and level, one answer
per task and per survey invitation, one survey per encounter, one delivery of an education item
per patient, and the kind-specific links of template tasks (a questionnaire task names its
questionnaire, an education task its item). Free text about a patient and the answers are
encrypted at rest.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.fields import EncryptedJSONField, EncryptedTextField
from smartcare.core.models import BilingualNameMixin, TimeStampedModel
from smartcare.followup.choices import (
    CallOutcome,
    CareStage,
    DataOrigin,
    DeliveryReason,
    EducationKind,
    InvitationStatus,
    PlanCategory,
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


def in_language(zh: str, en: str) -> str:
    """The English text in an English interface (when there is one), otherwise the Chinese."""
    language = (get_language() or "zh-hans").lower()
    return en if language.startswith("en") and en else zh


# --- Questionnaires --------------------------------------------------------------------------------


class Questionnaire(BilingualNameMixin, TimeStampedModel):
    key = models.SlugField(_("key"), max_length=60, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=QuestionnaireKind.choices)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    occasion = models.CharField(
        _("sent after"),
        max_length=10,
        choices=SurveyOccasion.choices,
        blank=True,
        help_text=_("Satisfaction surveys only: sent after each visit or after each discharge."),
    )
    higher_is_better = models.BooleanField(_("a higher score is better"), default=True)
    satisfied_percent = models.PositiveSmallIntegerField(
        _("satisfied from (percentage of the maximum score)"),
        default=80,
        help_text=_("Satisfaction surveys: an answer scoring at least this share counts as satisfied."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    origin = models.CharField(_("origin"), max_length=8, choices=DataOrigin.choices, default=DataOrigin.LOCAL)

    class Meta:
        verbose_name = _("questionnaire")
        verbose_name_plural = _("questionnaires")
        ordering = ["kind", "key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfied_percent__gte=1, satisfied_percent__lte=100),
                name="followup_satisfied_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(occasion="") | Q(kind=QuestionnaireKind.SATISFACTION),
                name="followup_occasion_only_for_surveys",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def description(self) -> str:
        return in_language(self.description_zh, self.description_en)


class Question(models.Model):
    """One question. ``options`` (choice questions): ``[{"value": "a", "label_zh": "...",
    "label_en": "...", "score": 2, "flag": false}]``; a flagged option alerts the care team.
    ``show_if``: ``{"question": "<earlier key>", "operator": "in", "values": ["a"]}`` (operators
    in ``ConditionOperator``; ``gte``/``lte`` take ``"value"``)."""

    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.CASCADE, related_name="questions", verbose_name=_("questionnaire")
    )
    key = models.SlugField(_("key"), max_length=40)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=QuestionKind.choices)
    text_zh = models.CharField(_("question (Chinese)"), max_length=300)
    text_en = models.CharField(_("question (English)"), max_length=300, blank=True)
    required = models.BooleanField(_("required"), default=True)
    options = models.JSONField(_("options"), default=list, blank=True)
    scale_min = models.SmallIntegerField(_("scale from"), null=True, blank=True)
    scale_max = models.SmallIntegerField(_("scale to"), null=True, blank=True)
    low_label_zh = models.CharField(_("label of the low end (Chinese)"), max_length=60, blank=True)
    low_label_en = models.CharField(_("label of the low end (English)"), max_length=60, blank=True)
    high_label_zh = models.CharField(_("label of the high end (Chinese)"), max_length=60, blank=True)
    high_label_en = models.CharField(_("label of the high end (English)"), max_length=60, blank=True)
    min_value = models.DecimalField(
        _("lowest number"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    max_value = models.DecimalField(
        _("highest number"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    scored = models.BooleanField(_("counts in the score"), default=True)
    show_if = models.JSONField(_("shown only if"), null=True, blank=True)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["questionnaire", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "key"], name="followup_one_question_per_key"),
            models.CheckConstraint(
                condition=Q(scale_min__isnull=True)
                | Q(scale_max__isnull=True)
                | Q(scale_max__gt=models.F("scale_min")),
                name="followup_scale_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.text}"

    @property
    def text(self) -> str:
        return in_language(self.text_zh, self.text_en)

    @property
    def low_label(self) -> str:
        return in_language(self.low_label_zh, self.low_label_en)

    @property
    def high_label(self) -> str:
        return in_language(self.high_label_zh, self.high_label_en)

    def labelled_options(self) -> list[dict[str, Any]]:
        return [
            {**o, "label": in_language(o.get("label_zh", ""), o.get("label_en", ""))} for o in self.options
        ]

    def scale_values(self) -> list[int]:
        if self.scale_min is None or self.scale_max is None:
            return []
        return list(range(self.scale_min, self.scale_max + 1))


# --- Health education ------------------------------------------------------------------------------


class EducationItem(TimeStampedModel):
    """An article or a video. Videos are files the hospital hosts (never a CDN)."""

    key = models.SlugField(_("key"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=EducationKind.choices)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    summary_zh = models.CharField(_("summary (Chinese)"), max_length=400, blank=True)
    summary_en = models.CharField(_("summary (English)"), max_length=400, blank=True)
    body_zh = models.TextField(_("text (Chinese)"), blank=True)
    body_en = models.TextField(_("text (English)"), blank=True)
    video_url = models.CharField(_("video file"), max_length=300, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(_("minutes"), null=True, blank=True)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    care_stages = models.JSONField(_("care stages"), default=list, blank=True)
    min_age = models.PositiveSmallIntegerField(_("from age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(_("to age"), null=True, blank=True)
    sex = models.CharField(_("for sex"), max_length=10, blank=True)
    is_published = models.BooleanField(_("published"), default=True)
    origin = models.CharField(_("origin"), max_length=8, choices=DataOrigin.choices, default=DataOrigin.LOCAL)

    class Meta:
        verbose_name = _("education item")
        verbose_name_plural = _("education items")
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_age__isnull=True)
                | Q(max_age__isnull=True)
                | Q(max_age__gte=models.F("min_age")),
                name="followup_education_age_range",
            ),
            models.CheckConstraint(
                condition=~Q(kind=EducationKind.VIDEO) | ~Q(video_url=""), name="followup_video_has_file"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return in_language(self.title_zh, self.title_en)

    @property
    def summary(self) -> str:
        return in_language(self.summary_zh, self.summary_en)

    @property
    def body(self) -> str:
        return in_language(self.body_zh, self.body_en)

    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.body.split("\n") if p.strip()]


# --- Care plan templates ---------------------------------------------------------------------------


class CarePlanTemplate(BilingualNameMixin, TimeStampedModel):
    """A pathway: the tasks to do after a procedure or for a chronic condition, and the rule that
    starts it (a discharge after a procedure whose name contains a keyword, a new diagnosis whose
    ICD-10 code starts with a prefix, or only by hand)."""

    key = models.SlugField(_("key"), max_length=60, unique=True)
    category = models.CharField(_("category"), max_length=20, choices=PlanCategory.choices)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    trigger = models.CharField(
        _("started by"), max_length=20, choices=PlanTrigger.choices, default=PlanTrigger.MANUAL
    )
    icd10_prefixes = models.JSONField(
        _("ICD-10 codes"),
        default=list,
        blank=True,
        help_text=_("New diagnosis: code prefixes, e.g. I10, E11."),
    )
    procedure_keywords = models.JSONField(
        _("procedure keywords"),
        default=list,
        blank=True,
        help_text=_(
            "Discharge after a procedure: words of the procedure's name. No keyword: used when no other "
            "post-operative template fits."
        ),
    )
    education_tags = models.JSONField(
        _("education conditions"),
        default=list,
        blank=True,
        help_text=_("Condition tags of the education items pushed with this plan."),
    )
    care_stage = models.CharField(
        _("care stage"), max_length=20, choices=CareStage.choices, default=CareStage.LONG_TERM
    )
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only in department"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    origin = models.CharField(_("origin"), max_length=8, choices=DataOrigin.choices, default=DataOrigin.LOCAL)

    class Meta:
        verbose_name = _("care plan template")
        verbose_name_plural = _("care plan templates")
        ordering = ["category", "key"]

    def __str__(self) -> str:
        return self.name

    @property
    def description(self) -> str:
        return in_language(self.description_zh, self.description_en)


class TemplateTask(models.Model):
    template = models.ForeignKey(
        CarePlanTemplate, on_delete=models.CASCADE, related_name="tasks", verbose_name=_("template")
    )
    kind = models.CharField(_("kind"), max_length=14, choices=TaskKind.choices)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    instructions_zh = models.TextField(_("instructions (Chinese)"), blank=True)
    instructions_en = models.TextField(_("instructions (English)"), blank=True)
    offset_days = models.PositiveSmallIntegerField(_("days after the start"))
    responsible_role = models.CharField(
        _("responsible"), max_length=8, choices=ResponsibleRole.choices, default=ResponsibleRole.NURSE
    )
    grace_days = models.PositiveSmallIntegerField(_("missed after (days past due)"), default=3)
    remind_days_before = models.PositiveSmallIntegerField(_("reminder (days before)"), default=1)
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    education_item = models.ForeignKey(
        EducationItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lab_code = models.CharField(_("lab test (LOINC)"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("template task")
        verbose_name_plural = _("template tasks")
        ordering = ["template", "offset_days", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=TaskKind.QUESTIONNAIRE) | Q(questionnaire__isnull=False),
                name="followup_template_questionnaire_task_names_it",
            ),
            models.CheckConstraint(
                condition=~Q(kind=TaskKind.EDUCATION) | Q(education_item__isnull=False),
                name="followup_template_education_task_names_it",
            ),
        ]

    def __str__(self) -> str:
        return f"+{self.offset_days}d {self.title}"

    @property
    def title(self) -> str:
        return in_language(self.title_zh, self.title_en)


# --- Plans and tasks -------------------------------------------------------------------------------


class CarePlan(TimeStampedModel):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="care_plans", verbose_name=_("patient")
    )
    template = models.ForeignKey(
        CarePlanTemplate, on_delete=models.PROTECT, related_name="plans", verbose_name=_("template")
    )
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, related_name="+", verbose_name=_("department")
    )
    responsible_doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("responsible doctor"),
    )
    responsible_nurse = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("responsible nurse"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=PlanStatus.choices, default=PlanStatus.ACTIVE
    )
    origin = models.CharField(_("origin"), max_length=8, choices=PlanOrigin.choices)
    source = models.CharField(_("started from"), max_length=80, blank=True)
    start_date = models.DateField(_("start date"))
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("care plan")
        verbose_name_plural = _("care plans")
        ordering = ["-start_date", "-pk"]
        indexes = [models.Index(fields=["patient", "status"]), models.Index(fields=["department", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "template"],
                condition=Q(status=PlanStatus.ACTIVE),
                name="followup_one_active_plan_per_template",
            ),
            models.CheckConstraint(
                condition=Q(status=PlanStatus.ACTIVE) | Q(ended_at__isnull=False),
                name="followup_ended_plan_has_end_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} ({self.patient_id})"


class CareTask(TimeStampedModel):
    plan = models.ForeignKey(CarePlan, on_delete=models.PROTECT, related_name="tasks", verbose_name=_("plan"))
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey("organization.Department", on_delete=models.PROTECT, related_name="+")
    template_task = models.ForeignKey(
        TemplateTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=14, choices=TaskKind.choices)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    instructions_zh = models.TextField(_("instructions (Chinese)"), blank=True)
    instructions_en = models.TextField(_("instructions (English)"), blank=True)
    due_on = models.DateField(_("due on"))
    remind_on = models.DateField(_("remind on"))
    grace_days = models.PositiveSmallIntegerField(_("missed after (days past due)"), default=3)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="followup_tasks",
        verbose_name=_("responsible"),
    )
    responsible_role = models.CharField(_("responsible role"), max_length=8, choices=ResponsibleRole.choices)
    status = models.CharField(_("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.DUE)
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    education_item = models.ForeignKey(
        EducationItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lab_code = models.CharField(_("lab test (LOINC)"), max_length=20, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    missed_at = models.DateTimeField(_("missed at"), null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    completed_at = models.DateTimeField(_("done at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    outcome = EncryptedTextField(_("outcome"), blank=True)
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("care task")
        verbose_name_plural = _("care tasks")
        ordering = ["due_on", "pk"]
        indexes = [
            models.Index(fields=["status", "due_on"]),
            models.Index(fields=["status", "remind_on"]),
            models.Index(fields=["department", "status", "due_on"]),
            models.Index(fields=["responsible", "status", "due_on"]),
            models.Index(fields=["patient", "status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.DONE) | Q(completed_at__isnull=False),
                name="followup_done_task_has_completion_time",
            ),
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.MISSED) | Q(missed_at__isnull=False),
                name="followup_missed_task_has_missing_time",
            ),
            models.CheckConstraint(
                condition=Q(remind_on__lte=models.F("due_on")), name="followup_remind_before_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} {self.due_on} ({self.status})"

    @property
    def title(self) -> str:
        return in_language(self.title_zh, self.title_en)

    @property
    def instructions(self) -> str:
        return in_language(self.instructions_zh, self.instructions_en)

    def missed_on(self) -> Any:
        import datetime as dt

        return self.due_on + dt.timedelta(days=self.grace_days + 1)

    @property
    def is_open(self) -> bool:
        return self.status in (TaskStatus.DUE, TaskStatus.MISSED)

    def is_overdue(self, today: Any = None) -> bool:
        return self.is_open and self.due_on < (today or clock.today())


class PhoneFollowUp(models.Model):
    """One call of the follow-up nurse (or doctor) to the patient about a task."""

    task = models.ForeignKey(CareTask, on_delete=models.PROTECT, related_name="calls", verbose_name=_("task"))
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    called_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    called_at = models.DateTimeField(_("called at"), default=clock.now)
    outcome = models.CharField(_("outcome"), max_length=14, choices=CallOutcome.choices)
    duration_minutes = models.PositiveSmallIntegerField(_("minutes"), null=True, blank=True)
    notes = EncryptedTextField(_("notes"), blank=True)
    needs_doctor = models.BooleanField(_("needs the doctor's attention"), default=False)
    next_call_on = models.DateField(_("call again on"), null=True, blank=True)

    class Meta:
        verbose_name = _("phone follow-up")
        verbose_name_plural = _("phone follow-ups")
        ordering = ["-called_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__isnull=True) | Q(duration_minutes__lte=240),
                name="followup_call_duration_plausible",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_id} {self.outcome} {self.called_at:%Y-%m-%d %H:%M}"


class TaskEscalation(models.Model):
    """A missed task taken higher: level 1 to the responsible clinicians, level 2 to the
    department head. One row per task and level, so two workers never escalate twice."""

    task = models.ForeignKey(CareTask, on_delete=models.CASCADE, related_name="escalations")
    level = models.PositiveSmallIntegerField(_("level"))
    notified = models.JSONField(_("notified users"), default=list)
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["task", "level"], name="followup_one_escalation_per_level")
        ]

    def __str__(self) -> str:
        return f"{self.task_id} level {self.level}"


# --- Surveys and answers ---------------------------------------------------------------------------


class SurveyInvitation(models.Model):
    """A satisfaction survey sent to the patient after a visit or a discharge."""

    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="survey_invitations"
    )
    encounter = models.ForeignKey(
        "emr.Encounter", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    department = models.ForeignKey("organization.Department", on_delete=models.PROTECT, related_name="+")
    occasion = models.CharField(_("survey after"), max_length=10, choices=SurveyOccasion.choices)
    sent_at = models.DateTimeField(_("sent at"), default=clock.now)
    expires_at = models.DateTimeField(_("open until"))
    status = models.CharField(
        _("status"), max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.SENT
    )
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("survey invitation")
        verbose_name_plural = _("survey invitations")
        ordering = ["-sent_at", "-pk"]
        indexes = [
            models.Index(fields=["department", "sent_at"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["encounter"],
                condition=Q(encounter__isnull=False),
                name="followup_one_survey_per_encounter",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("sent_at")), name="followup_survey_open_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire_id} → {self.patient_id} ({self.status})"

    def is_open(self) -> bool:
        return self.status == InvitationStatus.SENT and self.expires_at > clock.now()


class QuestionnaireResponse(models.Model):
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="responses")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="questionnaire_responses"
    )
    task = models.OneToOneField(
        CareTask, on_delete=models.PROTECT, null=True, blank=True, related_name="response"
    )
    invitation = models.OneToOneField(
        SurveyInvitation, on_delete=models.PROTECT, null=True, blank=True, related_name="response"
    )
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answers = EncryptedJSONField(_("answers"))
    score = models.DecimalField(_("score"), max_digits=8, decimal_places=2, null=True, blank=True)
    max_score = models.DecimalField(_("maximum score"), max_digits=8, decimal_places=2, null=True, blank=True)
    score_percent = models.DecimalField(_("score (%)"), max_digits=5, decimal_places=1, null=True, blank=True)
    satisfied = models.BooleanField(_("satisfied"), null=True, blank=True)
    flagged = models.BooleanField(_("answers needing attention"), default=False)
    submitted_at = models.DateTimeField(_("submitted at"), default=clock.now)
    # Who sent the answers: the patient, or the nurse who asked them on the phone. Empty only for
    # answers written in bulk as history (the demo year, an import from another survey system).
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("questionnaire answer")
        verbose_name_plural = _("questionnaire answers")
        ordering = ["submitted_at", "pk"]
        indexes = [
            models.Index(fields=["patient", "questionnaire", "submitted_at"]),
            models.Index(fields=["questionnaire", "submitted_at"]),
            models.Index(fields=["department", "submitted_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(score_percent__isnull=True) | Q(score_percent__gte=0, score_percent__lte=100),
                name="followup_score_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(task__isnull=True) | Q(invitation__isnull=True),
                name="followup_answer_one_purpose",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire_id} {self.patient_id} {self.submitted_at:%Y-%m-%d}"


class EducationDelivery(models.Model):
    """An education item sent to one patient, and whether they opened and read it."""

    item = models.ForeignKey(EducationItem, on_delete=models.PROTECT, related_name="deliveries")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="education_deliveries"
    )
    reason = models.CharField(_("why"), max_length=8, choices=DeliveryReason.choices)
    plan = models.ForeignKey(CarePlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    task = models.ForeignKey(CareTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = EncryptedTextField(_("message from the clinician"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), default=clock.now)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("education sent")
        verbose_name_plural = _("education sent")
        ordering = ["-sent_at", "-pk"]
        indexes = [models.Index(fields=["patient", "read_at"])]
        constraints = [
            models.UniqueConstraint(fields=["patient", "item"], name="followup_one_delivery_per_item"),
            models.CheckConstraint(
                condition=Q(read_at__isnull=True) | Q(opened_at__isnull=False),
                name="followup_read_after_opened",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} → {self.patient_id}"
