from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.models import BilingualNameMixin, TimeStampedModel
from smartcare.scheduling.choices import (
    ACTIVE_STATUSES,
    AppointmentStatus,
    Channel,
    FeeClass,
    Period,
    PreVisitStatus,
    SessionStatus,
    WaitlistStatus,
)
from smartcare.scheduling.errors import InvalidSchedule

# Sessions are generated this many days ahead (tasks.maintain_schedules): a release rule must
# release sessions inside it, or they would be bookable the moment they are generated.
SESSION_HORIZON_DAYS = 22
MAX_PATIENT_AGE = 130


def _schedule_errors(problems: dict[str, list[Any]]) -> None:
    """Raise the collected master-data problems as one ValidationError, each message carrying
    SCHED-010 (invalid schedule) like the API's coded errors; nothing is raised when all is well."""
    errors = {
        field: [
            ValidationError(
                "%(code)s: %(detail)s",
                code=InvalidSchedule.code,
                params={"code": InvalidSchedule.code, "detail": InvalidSchedule(reason=reason).detail},
            )
            for reason in reasons
        ]
        for field, reasons in problems.items()
        if reasons
    }
    if errors:
        raise ValidationError(errors)


class ExamType(BilingualNameMixin, TimeStampedModel):
    """A bookable examination (CT, pelvic ultrasound, ECG, fasting blood glucose...)."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        related_name="exam_types",
        verbose_name=_("department"),
    )
    loinc = models.CharField(_("LOINC code"), max_length=20, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=15)
    preparation_zh = models.TextField(_("preparation (Chinese)"), blank=True)
    preparation_en = models.TextField(_("preparation (English)"), blank=True)
    is_routine_pre_visit = models.BooleanField(_("routine pre-visit exam"), default=False)

    class Meta:
        verbose_name = _("exam type")
        verbose_name_plural = _("exam types")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        problems: dict[str, list[Any]] = defaultdict(list)
        self.code = (self.code or "").strip()
        if not self.code:
            problems["code"].append(_("the exam needs a code"))
        if not self.duration_minutes:
            problems["duration_minutes"].append(_("the duration must be at least one minute"))
        # Reminders go out in the patient's language: a preparation note needs both.
        if bool((self.preparation_zh or "").strip()) != bool((self.preparation_en or "").strip()):
            field = "preparation_en" if (self.preparation_zh or "").strip() else "preparation_zh"
            problems[field].append(_("give the preparation in Chinese and in English"))
        _schedule_errors(problems)


class VisitPreparation(TimeStampedModel):
    """What to bring or do before a doctor's visit in a department (shown and sent in reminders)."""

    department = models.OneToOneField(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="visit_preparation",
        verbose_name=_("department"),
    )
    text_zh = models.TextField(_("instructions (Chinese)"))
    text_en = models.TextField(_("instructions (English)"))

    class Meta:
        verbose_name = _("visit preparation")
        verbose_name_plural = _("visit preparations")

    def __str__(self) -> str:
        return str(self.department)

    def clean(self) -> None:
        problems: dict[str, list[Any]] = defaultdict(list)
        for field in ("text_zh", "text_en"):
            if not (getattr(self, field) or "").strip():
                problems[field].append(_("give the instructions in Chinese and in English"))
        _schedule_errors(problems)


class ReleaseRule(TimeStampedModel):
    """Slots of a department become bookable ``days_ahead`` days before, at ``release_time``."""

    department = models.OneToOneField(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="release_rule",
        verbose_name=_("department"),
    )
    days_ahead = models.PositiveSmallIntegerField(_("days ahead"), default=7)
    release_time = models.TimeField(_("release time"), default=dt.time(8, 0))

    class Meta:
        verbose_name = _("release rule")
        verbose_name_plural = _("release rules")

    def __str__(self) -> str:
        return f"{self.department}: {self.days_ahead}d @ {self.release_time}"

    def clean(self) -> None:
        problems: dict[str, list[Any]] = defaultdict(list)
        if self.days_ahead is not None and self.days_ahead >= SESSION_HORIZON_DAYS:
            problems["days_ahead"].append(
                _("sessions are prepared %(days)s days ahead: release them at most %(max)s days ahead")
                % {"days": SESSION_HORIZON_DAYS, "max": SESSION_HORIZON_DAYS - 1}
            )
        if self.release_time is not None and (self.release_time.second or self.release_time.microsecond):
            problems["release_time"].append(_("the release time must be a whole minute"))
        _schedule_errors(problems)


class BookingPolicy(TimeStampedModel):
    """Booking rules; the row without a department is the hospital default."""

    department = models.OneToOneField(
        "organization.Department",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="booking_policy",
        verbose_name=_("department"),
    )
    max_bookings_per_day = models.PositiveSmallIntegerField(_("bookings per patient per day"), default=3)
    cancellation_deadline_hours = models.PositiveSmallIntegerField(
        _("cancellation deadline (hours before)"), default=2
    )
    no_show_limit = models.PositiveSmallIntegerField(_("no-shows before suspension"), default=3)
    no_show_window_days = models.PositiveSmallIntegerField(_("no-show counting window (days)"), default=90)
    suspension_days = models.PositiveSmallIntegerField(_("suspension (days)"), default=30)
    check_in_opens_minutes = models.PositiveSmallIntegerField(
        _("phone check-in opens (minutes before)"), default=60
    )
    late_grace_minutes = models.PositiveSmallIntegerField(_("late arrival grace (minutes)"), default=15)
    waitlist_offer_minutes = models.PositiveSmallIntegerField(_("waitlist offer valid (minutes)"), default=30)

    class Meta:
        verbose_name = _("booking policy")
        verbose_name_plural = _("booking policies")
        constraints = [
            models.UniqueConstraint(fields=["department"], name="one_policy_per_department"),
            # One hospital default: every row without a department has the same key (0), and
            # only those rows are in the index. (A unique constraint on the nullable department
            # itself would not do: NULLs are distinct in unique indexes.)
            models.UniqueConstraint(
                Coalesce("department", Value(0)),
                condition=Q(department__isnull=True),
                name="one_default_policy",
                violation_error_message=_("There is already a hospital default booking policy."),
            ),
        ]

    def __str__(self) -> str:
        return str(self.department or _("Hospital default"))

    def clean(self) -> None:
        problems: dict[str, list[Any]] = defaultdict(list)
        at_least_one = {
            "max_bookings_per_day": _("a patient must be able to book at least once a day"),
            "no_show_limit": _("the no-show limit must be at least 1"),
            "no_show_window_days": _("the no-show counting window must be at least one day"),
            "suspension_days": _("a suspension must last at least one day"),
            "waitlist_offer_minutes": _("a waitlist offer must be valid for at least one minute"),
        }
        for field, reason in at_least_one.items():
            if getattr(self, field) is not None and getattr(self, field) < 1:
                problems[field].append(reason)
        _schedule_errors(problems)


class ScheduleTemplate(TimeStampedModel):
    """A weekly clinic or exam session: a doctor's Monday morning, the CT room's afternoons."""

    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="schedule_templates",
        verbose_name=_("department"),
    )
    practitioner = models.ForeignKey(
        "organization.Practitioner",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="schedule_templates",
        verbose_name=_("doctor"),
    )
    room = models.ForeignKey(
        "organization.Room",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="schedule_templates",
        verbose_name=_("room"),
    )
    exam_type = models.ForeignKey(
        ExamType,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="schedule_templates",
        verbose_name=_("exam type"),
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), help_text=_("0 = Monday"))
    period = models.CharField(_("period"), max_length=10, choices=Period.choices)
    start_time = models.TimeField(_("start"))
    end_time = models.TimeField(_("end"))
    slot_minutes = models.PositiveSmallIntegerField(_("slot length (minutes)"), default=30)
    capacity_per_slot = models.PositiveSmallIntegerField(_("patients per slot"), default=4)
    fee_class = models.CharField(
        _("fee class"), max_length=10, choices=FeeClass.choices, default=FeeClass.ORDINARY
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("schedule template")
        verbose_name_plural = _("schedule templates")
        constraints = [
            models.CheckConstraint(
                condition=Q(practitioner__isnull=False) | Q(exam_type__isnull=False),
                name="template_has_resource",
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="template_weekday_valid"),
            models.CheckConstraint(condition=Q(start_time__lt=F("end_time")), name="template_times_ordered"),
            models.CheckConstraint(condition=Q(slot_minutes__gte=5), name="template_slot_length_valid"),
        ]

    def __str__(self) -> str:
        who = self.practitioner or self.exam_type
        return f"{who} {self.weekday} {self.period}"

    def clean(self) -> None:
        """What the admin checks before a template is saved (SCHED-010): a resource that fits the
        fee class, ordered times, slots that fill the session exactly, at least one patient per
        slot, and no doctor in two overlapping sessions."""
        problems: dict[str, list[Any]] = defaultdict(list)
        if self.weekday is not None and self.weekday > 6:
            problems["weekday"].append(_("the weekday must be 0 (Monday) to 6 (Sunday)"))
        if self.fee_class == FeeClass.EXAM:
            if self.exam_type_id is None:
                problems["exam_type"].append(_("an exam session needs an exam type"))
            if self.practitioner_id is not None:
                problems["practitioner"].append(_("an exam session is booked by exam, not by doctor"))
        else:
            if self.practitioner_id is None:
                problems["practitioner"].append(_("a clinic session needs a doctor"))
            if self.exam_type_id is not None:
                problems["exam_type"].append(_("a clinic session has no exam type; use the fee class exam"))
        if (
            self.practitioner_id is not None
            and self.department_id is not None
            and self.practitioner is not None
            and self.practitioner.department_id != self.department_id
        ):
            problems["practitioner"].append(_("the doctor does not work in this department"))
        length: int | None = None
        if self.start_time is not None and self.end_time is not None:
            if self.end_time <= self.start_time:
                problems["end_time"].append(_("the end must be after the start"))
            else:
                start = dt.datetime.combine(dt.date.min, self.start_time)
                length = int((dt.datetime.combine(dt.date.min, self.end_time) - start).total_seconds() // 60)
        if self.slot_minutes is not None:
            if self.slot_minutes < 5:
                problems["slot_minutes"].append(_("a slot must last at least 5 minutes"))
            elif length is not None and length % self.slot_minutes:
                problems["slot_minutes"].append(
                    _("%(length)s minutes cannot be divided into slots of %(slot)s minutes")
                    % {"length": length, "slot": self.slot_minutes}
                )
        if self.capacity_per_slot is not None and self.capacity_per_slot < 1:
            problems["capacity_per_slot"].append(_("a slot must take at least one patient"))
        if not problems and self.is_active and self.practitioner_id is not None:
            overlapping = ScheduleTemplate.objects.filter(
                practitioner_id=self.practitioner_id,
                weekday=self.weekday,
                is_active=True,
                start_time__lt=self.end_time,
                end_time__gt=self.start_time,
            ).exclude(pk=self.pk)
            if overlapping.exists():
                problems["start_time"].append(_("the doctor already has a session at this time"))
        _schedule_errors(problems)


class ClinicSession(TimeStampedModel):
    """One dated session generated from a template (or added by hand)."""

    template = models.ForeignKey(
        ScheduleTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name=_("template"),
    )
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="clinic_sessions",
        verbose_name=_("department"),
    )
    practitioner = models.ForeignKey(
        "organization.Practitioner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clinic_sessions",
        verbose_name=_("doctor"),
    )
    room = models.ForeignKey(
        "organization.Room",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clinic_sessions",
        verbose_name=_("room"),
    )
    exam_type = models.ForeignKey(
        ExamType,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clinic_sessions",
        verbose_name=_("exam type"),
    )
    date = models.DateField(_("date"), db_index=True)
    period = models.CharField(_("period"), max_length=10, choices=Period.choices)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    fee_class = models.CharField(
        _("fee class"), max_length=10, choices=FeeClass.choices, default=FeeClass.ORDINARY
    )
    status = models.CharField(
        _("status"), max_length=10, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    stop_reason = models.CharField(_("reason for stopping"), max_length=300, blank=True)
    replaced_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replaces",
        verbose_name=_("replacement session"),
    )
    releases_at = models.DateTimeField(_("bookable from"), db_index=True)

    class Meta:
        verbose_name = _("clinic session")
        verbose_name_plural = _("clinic sessions")
        constraints = [
            models.UniqueConstraint(fields=["template", "date"], name="one_session_per_template_and_date"),
            models.CheckConstraint(condition=Q(starts_at__lt=F("ends_at")), name="session_times_ordered"),
        ]
        indexes = [models.Index(fields=["department", "date"])]

    def __str__(self) -> str:
        return f"{self.date} {self.period} {self.practitioner or self.exam_type}"

    @property
    def is_open(self) -> bool:
        return self.status == SessionStatus.SCHEDULED and self.releases_at <= clock.now() < self.ends_at


class Slot(models.Model):
    """A time slot with a capacity. ``booked`` never exceeds ``capacity``: the database checks it,
    and booking increments it with a conditional update."""

    session = models.ForeignKey(
        ClinicSession, on_delete=models.CASCADE, related_name="slots", verbose_name=_("session")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveSmallIntegerField(_("capacity"))
    booked = models.PositiveSmallIntegerField(_("booked"), default=0)

    class Meta:
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(booked__lte=F("capacity")), name="slot_never_overbooked"),
            models.UniqueConstraint(fields=["session", "starts_at"], name="one_slot_per_start"),
        ]

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d %H:%M} ({self.booked}/{self.capacity})"

    @property
    def remaining(self) -> int:
        return max(0, self.capacity - self.booked)


class Appointment(TimeStampedModel):
    slot = models.ForeignKey(
        Slot, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("slot")
    )
    session = models.ForeignKey(
        ClinicSession, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("session")
    )
    # Copied from the session so the database can enforce one booking per department and session.
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.PROTECT,
        related_name="appointments",
        verbose_name=_("department"),
    )
    date = models.DateField(_("date"))
    period = models.CharField(_("period"), max_length=10, choices=Period.choices)
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments", verbose_name=_("patient")
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=AppointmentStatus.choices,
        default=AppointmentStatus.BOOKED,
        db_index=True,
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    booked_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("booked by")
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=80, null=True, blank=True)
    fee_class = models.CharField(_("fee class"), max_length=10, choices=FeeClass.choices)
    preparation_zh = models.TextField(_("preparation (Chinese)"), blank=True)
    preparation_en = models.TextField(_("preparation (English)"), blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=300, blank=True)
    checked_in_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    called_at = models.DateTimeField(_("called at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "department", "date", "period"],
                condition=Q(status__in=[s.value for s in ACTIVE_STATUSES]),
                name="one_active_booking_per_department_and_session",
            ),
            models.UniqueConstraint(
                fields=["booked_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="booking_idempotency_key_unique",
            ),
        ]
        indexes = [models.Index(fields=["patient", "date"]), models.Index(fields=["session", "status"])]

    def __str__(self) -> str:
        return f"{self.patient_id} @ {self.slot_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class WaitlistEntry(TimeStampedModel):
    """A patient waiting for a place in a department (optionally with one doctor) on a date."""

    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.CASCADE,
        related_name="waitlist_entries",
        verbose_name=_("patient"),
    )
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="waitlist_entries",
        verbose_name=_("department"),
    )
    practitioner = models.ForeignKey(
        "organization.Practitioner",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="waitlist_entries",
        verbose_name=_("doctor"),
    )
    date = models.DateField(_("date"))
    status = models.CharField(
        _("status"), max_length=10, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING
    )
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    offered_slot = models.ForeignKey(
        Slot,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("offered slot"),
    )
    offer_expires_at = models.DateTimeField(_("offer expires at"), null=True, blank=True)
    appointment = models.ForeignKey(
        Appointment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("appointment"),
    )

    class Meta:
        verbose_name = _("waitlist entry")
        verbose_name_plural = _("waitlist entries")
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "department", "date"],
                condition=Q(status__in=["waiting", "offered"]),
                name="one_open_waitlist_entry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.department_id} {self.date} ({self.status})"


class PreVisitRule(TimeStampedModel):
    """Routine exams a department wants done before the visit (ECG before cardiology, fasting
    glucose before endocrinology), ordered automatically at booking."""

    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="pre_visit_rules",
        verbose_name=_("department"),
    )
    exam_type = models.ForeignKey(
        ExamType, on_delete=models.CASCADE, related_name="pre_visit_rules", verbose_name=_("exam")
    )
    min_age = models.PositiveSmallIntegerField(_("from age"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("pre-visit exam rule")
        verbose_name_plural = _("pre-visit exam rules")
        constraints = [models.UniqueConstraint(fields=["department", "exam_type"], name="one_pre_visit_rule")]

    def __str__(self) -> str:
        return f"{self.department_id}: {self.exam_type_id}"

    def clean(self) -> None:
        problems: dict[str, list[Any]] = defaultdict(list)
        if self.min_age is not None and self.min_age > MAX_PATIENT_AGE:
            problems["min_age"].append(_("the age must be %(max)s or less") % {"max": MAX_PATIENT_AGE})
        _schedule_errors(problems)


class PreVisitExam(TimeStampedModel):
    """A routine exam ordered before a visit (by the doctor or by a rule), booked by the patient."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="pre_visit_exams", verbose_name=_("visit")
    )
    exam_type = models.ForeignKey(
        ExamType, on_delete=models.PROTECT, related_name="+", verbose_name=_("exam")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=PreVisitStatus.choices, default=PreVisitStatus.ORDERED
    )
    ordered_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ordered by"),
    )
    rule = models.CharField(_("rule"), max_length=100, blank=True)
    exam_appointment = models.ForeignKey(
        Appointment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("exam booking"),
    )
    result_summary = models.TextField(_("result"), blank=True)
    resulted_at = models.DateTimeField(_("resulted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("pre-visit exam")
        verbose_name_plural = _("pre-visit exams")
        constraints = [
            models.UniqueConstraint(fields=["appointment", "exam_type"], name="one_pre_visit_exam_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.exam_type_id} for {self.appointment_id}"
