"""Remote consultations: the request, its events, the opinion, the room's chat and connection log,
and the quality review of discordant cases.

Clinical text (question, working notes, opinion, chat) is encrypted at rest with the project's field
key. The ICD-10 codes stay in clear: concordance is computed and aggregated from them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.fields import EncryptedJSONField, EncryptedTextField
from smartcare.core.models import TimeStampedModel
from smartcare.telemedicine.choices import (
    OPEN_STATUSES,
    Concordance,
    ConsultationStatus,
    EventKind,
    RoomEventKind,
    Urgency,
)


class Consultation(TimeStampedModel):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requesting doctor"),
    )
    requesting_department = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requesting department"),
    )
    # An outside hospital asking (through a doctor account of ours acting for it), or empty.
    external_hospital = models.CharField(_("external hospital"), max_length=120, blank=True)
    specialty = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("consulted specialty"),
    )
    # Empty: the specialty's pool; whoever accepts becomes the expert.
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("expert"),
    )
    urgency = models.CharField(_("urgency"), max_length=12, choices=Urgency.choices, default=Urgency.ROUTINE)
    status = models.CharField(
        _("status"), max_length=16, choices=ConsultationStatus.choices, default=ConsultationStatus.REQUESTED
    )
    question = EncryptedTextField(_("question"))
    working_diagnosis = models.ForeignKey(
        "emr.Icd10Code", on_delete=models.PROTECT, related_name="+", verbose_name=_("working diagnosis")
    )
    encounter = models.ForeignKey(
        "emr.Encounter",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("encounter"),
    )
    notes = models.ManyToManyField("emr.Note", blank=True, related_name="+", verbose_name=_("shared notes"))
    results = models.ManyToManyField(
        "emr.Observation", blank=True, related_name="+", verbose_name=_("shared results")
    )
    diagnoses = models.ManyToManyField(
        "emr.Diagnosis", blank=True, related_name="+", verbose_name=_("shared diagnoses")
    )
    studies = models.ManyToManyField(
        "interop.ImagingStudy", blank=True, related_name="+", verbose_name=_("shared imaging studies")
    )
    consent = models.ForeignKey(
        "patients.Consent", on_delete=models.PROTECT, related_name="+", verbose_name=_("consent")
    )
    requested_at = models.DateTimeField(_("requested at"), default=clock.now)
    deadline_at = models.DateTimeField(_("answer due by"))
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    overdue_at = models.DateTimeField(_("deadline missed at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    closed_reason = models.CharField(_("reason"), max_length=300, blank=True)
    access_until = models.DateTimeField(_("record access until"), null=True, blank=True)
    # A terminal (equipment asset of the video terminal type) the room uses, if any.
    terminal = models.ForeignKey(
        "equipment.Asset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("video terminal"),
    )
    # Bumped when the room is closed: every token issued before stops working.
    room_generation = models.PositiveIntegerField(default=1, editable=False)
    viewer_state = models.JSONField(_("shared viewer state"), default=dict, blank=True)

    class Meta:
        verbose_name = _("remote consultation")
        verbose_name_plural = _("remote consultations")
        ordering = ["deadline_at"]
        indexes = [
            models.Index(fields=["status", "deadline_at"]),
            models.Index(fields=["specialty", "status"]),
            models.Index(fields=["requested_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in OPEN_STATUSES])
                | Q(status="answered", answered_at__isnull=False)
                | Q(status__in=["declined", "cancelled"]),
                name="telemedicine_answered_has_time",
            ),
            models.CheckConstraint(
                condition=Q(deadline_at__gt=models.F("requested_at")),
                name="telemedicine_deadline_after_request",
            ),
        ]

    def __str__(self) -> str:
        return f"TC-{self.pk}"

    @property
    def number(self) -> str:
        return f"TC-{self.pk:05d}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def response_hours(self) -> float | None:
        if self.answered_at is None:
            return None
        return (self.answered_at - self.requested_at).total_seconds() / 3600


class ConsultationEvent(models.Model):
    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("event"), max_length=16, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("at"), default=clock.now)
    text = EncryptedTextField(_("text"), blank=True)

    class Meta:
        verbose_name = _("consultation event")
        verbose_name_plural = _("consultation events")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.consultation_id}:{self.kind}"


class Opinion(TimeStampedModel):
    consultation = models.OneToOneField(Consultation, on_delete=models.CASCADE, related_name="opinion")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    diagnosis = models.ForeignKey(
        "emr.Icd10Code", on_delete=models.PROTECT, related_name="+", verbose_name=_("expert's diagnosis")
    )
    findings = EncryptedTextField(_("findings"), blank=True)
    recommendations = EncryptedTextField(_("recommendations"))
    # Measurements and annotations drawn in the shared viewer: [{kind, instance, frame, points, ...}]
    annotations = EncryptedJSONField(_("measurements and annotations"), default=list, blank=True)
    concordance = models.CharField(_("concordance"), max_length=16, choices=Concordance.choices)
    concordance_level = models.PositiveSmallIntegerField(_("category length compared"), default=3)
    # Where the opinion entered the record: "emr.diagnosis:<id>" or "emr.problem:<id>".
    record_entry = models.CharField(_("record entry"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("opinion")
        verbose_name_plural = _("opinions")
        indexes = [models.Index(fields=["concordance"])]

    def __str__(self) -> str:
        return f"{self.consultation_id}:{self.diagnosis_id}"


class DiscordanceReview(TimeStampedModel):
    consultation = models.OneToOneField(Consultation, on_delete=models.CASCADE, related_name="review")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    feedback = EncryptedTextField(_("feedback to the requester"))
    training_note = EncryptedTextField(_("training note"), blank=True)

    class Meta:
        verbose_name = _("discordance review")
        verbose_name_plural = _("discordance reviews")

    def __str__(self) -> str:
        return f"review {self.consultation_id}"


class ChatMessage(models.Model):
    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="chat")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField(default=clock.now)
    text = EncryptedTextField(_("message"))

    class Meta:
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")
        ordering = ["sent_at", "pk"]

    def __str__(self) -> str:
        return f"{self.consultation_id}:{self.pk}"


class RoomEvent(models.Model):
    """Joins, leaves, the browsers' connection quality samples and failures."""

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="room_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("event"), max_length=10, choices=RoomEventKind.choices)
    at = models.DateTimeField(default=clock.now)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("room event")
        verbose_name_plural = _("room events")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["consultation", "kind"])]

    def __str__(self) -> str:
        return f"{self.consultation_id}:{self.kind}"
