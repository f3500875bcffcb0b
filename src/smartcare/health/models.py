"""Health management: risk assessments with their inputs and model version, the patient's own
lifestyle answers, hospital-trained models with their evaluation, intervention programmes,
enrolments, personalised advice and the patient's adherence reports."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.fields import EncryptedJSONField
from smartcare.core.models import BilingualNameMixin, TimeStampedModel
from smartcare.health.choices import (
    Adherence,
    AdviceCategory,
    Algorithm,
    AssessmentSource,
    EnrolmentStatus,
    FamilyHistory,
    ModelStatus,
    Outcome,
    RiskModel,
)


class LifestyleAnswers(models.Model):
    """What only the patient can tell (FINDRISC questions, smoking); the latest row counts."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    smoker = models.BooleanField(_("smokes"))
    physically_active = models.BooleanField(_("at least 30 minutes of activity a day"))
    daily_vegetables = models.BooleanField(_("vegetables or fruit every day"))
    high_glucose_history = models.BooleanField(_("high blood glucose found before"))
    family_history = models.CharField(
        _("diabetes in the family"), max_length=16, choices=FamilyHistory.choices
    )
    waist_cm = models.FloatField(_("waist (cm)"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), default=clock.now)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        verbose_name = _("lifestyle answers")
        verbose_name_plural = _("lifestyle answers")
        ordering = ["-answered_at", "-pk"]
        indexes = [models.Index(fields=["patient", "answered_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(waist_cm__isnull=True) | Q(waist_cm__gte=40, waist_cm__lte=200),
                name="health_lifestyle_waist_plausible",
            )
        ]

    def __str__(self) -> str:
        return f"lifestyle {self.patient_id} {self.answered_at:%Y-%m-%d}"


class TrainedModel(TimeStampedModel):
    """A model the hospital trained for an outcome; used for patients only once promoted."""

    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    algorithm = models.CharField(_("algorithm"), max_length=24, choices=Algorithm.choices)
    version = models.PositiveIntegerField(_("version"))
    status = models.CharField(
        _("status"), max_length=10, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE
    )
    horizon_years = models.PositiveSmallIntegerField(_("horizon (years)"))
    features = models.JSONField(_("features"), default=list)
    metrics = models.JSONField(_("evaluation"), default=dict)
    model_card = models.JSONField(_("model card"), default=dict)
    # The fitted scikit-learn estimator, pickled by smartcare itself (never uploaded); its
    # SHA-256 is checked before it is loaded.
    artifact = models.BinaryField(_("fitted model"))
    artifact_sha256 = models.CharField(_("SHA-256 of the fitted model"), max_length=64)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    promoted_at = models.DateTimeField(_("promoted at"), null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("trained model")
        verbose_name_plural = _("trained models")
        ordering = ["outcome", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["outcome", "version"], name="health_model_version_once"),
            models.UniqueConstraint(
                fields=["outcome"],
                condition=Q(status="promoted"),
                name="health_one_promoted_model_per_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} v{self.version} ({self.algorithm})"

    @property
    def label(self) -> str:
        return f"{self.get_outcome_display()} v{self.version}"


class RiskAssessment(models.Model):
    """One computed risk with the inputs it used and the model version, never edited."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    model = models.CharField(_("model"), max_length=12, choices=RiskModel.choices)
    model_version = models.CharField(_("model version"), max_length=40)
    trained_model = models.ForeignKey(
        TrainedModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    risk = models.FloatField(_("risk"))
    score = models.SmallIntegerField(_("points"), null=True, blank=True)
    band = models.CharField(_("band"), max_length=20, blank=True)
    optimal_risk = models.FloatField(_("risk with optimal factors"), null=True, blank=True)
    inputs = EncryptedJSONField(_("inputs"), default=dict)
    drivers = EncryptedJSONField(_("drivers"), default=list)
    # Blood pressure, LDL, HbA1c and weight at the time, for the effect evaluation.
    measures = EncryptedJSONField(_("measures"), default=dict)
    fingerprint = models.CharField(_("inputs fingerprint"), max_length=64)
    source = models.CharField(_("source"), max_length=8, choices=AssessmentSource.choices)
    computed_at = models.DateTimeField(_("computed at"), default=clock.now)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("risk assessment")
        verbose_name_plural = _("risk assessments")
        ordering = ["-computed_at", "-pk"]
        indexes = [models.Index(fields=["patient", "model", "computed_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(risk__gte=0, risk__lte=1), name="health_risk_is_a_fraction"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.risk:.3f}"

    @property
    def percent(self) -> float:
        return round(self.risk * 100, 1)


class Programme(BilingualNameMixin, TimeStampedModel):
    """An intervention programme (e.g. cardiovascular risk reduction); hospital-wide when it has
    no department. Enrolments record the enrolling department, so effects show per department."""

    key = models.SlugField(_("key"), max_length=60, unique=True)
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    risk_model = models.CharField(_("risk model followed"), max_length=12, choices=RiskModel.choices)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class Enrolment(TimeStampedModel):
    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="enrolments")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(
        "organization.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=EnrolmentStatus.choices, default=EnrolmentStatus.ACTIVE
    )
    enrolled_on = models.DateField(_("enrolled on"))
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    baseline = models.ForeignKey(RiskAssessment, on_delete=models.PROTECT, related_name="+")
    ended_on = models.DateField(_("ended on"), null=True, blank=True)

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        ordering = ["-enrolled_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "patient"],
                condition=Q(status="active"),
                name="health_one_active_enrolment",
            ),
        ]


class Advice(models.Model):
    """A piece of personalised advice made by a rule from a risk assessment and its drivers."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    assessment = models.ForeignKey(RiskAssessment, on_delete=models.PROTECT, related_name="advice")
    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.PROTECT, null=True, blank=True, related_name="advice"
    )
    rule = models.CharField(_("rule"), max_length=40)
    category = models.CharField(_("category"), max_length=20, choices=AdviceCategory.choices)
    for_doctor = models.BooleanField(_("for the doctor"), default=False)
    education_key = models.CharField(_("education item"), max_length=80, blank=True)
    is_current = models.BooleanField(_("current"), default=True)
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("advice")
        verbose_name_plural = _("advice")
        ordering = ["patient", "category", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "rule"],
                condition=Q(is_current=True),
                name="health_one_current_advice_per_rule",
            ),
        ]

    def __str__(self) -> str:
        return self.rule

    @property
    def text(self) -> str:
        from smartcare.health.advice import RULES

        rule = RULES.get(self.rule)
        return str(rule.text) if rule else self.rule


class AdherenceReport(models.Model):
    """The patient says how well they followed one piece of advice, at most once a day."""

    advice = models.ForeignKey(Advice, on_delete=models.PROTECT, related_name="reports")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    reported_on = models.DateField(_("reported on"))
    level = models.CharField(_("adherence"), max_length=14, choices=Adherence.choices)
    note = models.CharField(_("note"), max_length=300, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)

    class Meta:
        verbose_name = _("adherence report")
        verbose_name_plural = _("adherence reports")
        ordering = ["-reported_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["advice", "reported_on"], name="health_one_report_per_advice_and_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.reported_on}"
