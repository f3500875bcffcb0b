"""Workforce: workload history, forecasts, staffing ratios, shift types, rosters and feedback.

Invariants the database enforces: one workload row per department, date and half-day; one shift
per person and day in a roster; one requirement per roster, date, shift and staff group; one
rating per assignment; positive ratios and weights in range. Nothing here is patient data: the
workload rows are counts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.models import BilingualNameMixin, TimeStampedModel
from smartcare.workforce.choices import (
    AssignmentSource,
    CalendarKind,
    ForecastMethod,
    HalfDay,
    LeaveKind,
    LeaveStatus,
    Metric,
    RequestKind,
    RosterStatus,
    StaffGroup,
    SuggestionKind,
    SuggestionStatus,
    WorkloadSource,
)


class WorkloadRecord(models.Model):
    """What a department handled in one half-day (AM: 00:00-12:00, PM: 12:00-24:00)."""

    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="workload_records",
        verbose_name=_("department"),
    )
    date = models.DateField(_("date"))
    half_day = models.CharField(_("half-day"), max_length=2, choices=HalfDay.choices)
    outpatient_visits = models.PositiveIntegerField(_("outpatient visits"), default=0)
    admissions = models.PositiveIntegerField(_("admissions"), default=0)
    surgeries = models.PositiveIntegerField(_("surgeries and procedures"), default=0)
    exams = models.PositiveIntegerField(_("examinations"), default=0)
    inpatients = models.PositiveIntegerField(_("occupied beds"), default=0)
    source = models.CharField(_("source"), max_length=10, choices=WorkloadSource.choices)
    updated_at = models.DateTimeField(_("updated at"), default=clock.now)

    class Meta:
        verbose_name = _("workload record")
        verbose_name_plural = _("workload records")
        ordering = ["department", "date", "half_day"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "date", "half_day"], name="workload_one_row_per_half_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.date} {self.half_day}"

    def value(self, metric: str) -> int:
        return int(getattr(self, metric))


class CalendarOverride(models.Model):
    """A public holiday or adjusted working day the ``holidays`` package does not carry yet
    (the State Council publishes next year's arrangement each autumn)."""

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=CalendarKind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("calendar override")
        verbose_name_plural = _("calendar overrides")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.kind}"


class ForecastRun(TimeStampedModel):
    """One training and backtest of one department's workload of one kind, and its forecast."""

    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="forecast_runs",
        verbose_name=_("department"),
    )
    metric = models.CharField(_("workload"), max_length=20, choices=Metric.choices)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    history_from = models.DateField(_("history from"))
    history_to = models.DateField(_("history to"))
    horizon_days = models.PositiveSmallIntegerField(_("horizon (days)"))
    folds = models.PositiveSmallIntegerField(_("backtest folds"))
    mape_model = models.FloatField(_("MAPE of the model (%)"), null=True, blank=True)
    mape_baseline = models.FloatField(_("MAPE of the seasonal naive baseline (%)"), null=True, blank=True)
    method = models.CharField(_("method used"), max_length=10, choices=ForecastMethod.choices)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("forecast")
        verbose_name_plural = _("forecasts")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["department", "metric", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(history_from__lte=F("history_to")), name="forecast_history_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.metric} {self.created_at:%Y-%m-%d}"


class ForecastPoint(models.Model):
    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="points")
    date = models.DateField(_("date"))
    half_day = models.CharField(_("half-day"), max_length=2, choices=HalfDay.choices)
    value = models.FloatField(_("forecast"))  # what the chosen method predicts
    model_value = models.FloatField(_("model"), null=True, blank=True)
    baseline_value = models.FloatField(_("baseline"))

    class Meta:
        verbose_name = _("forecast point")
        verbose_name_plural = _("forecast points")
        ordering = ["date", "half_day"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "date", "half_day"], name="forecast_one_point_per_half_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.half_day} {self.value:.1f}"


class ShiftType(BilingualNameMixin, TimeStampedModel):
    """A shift of one department (early, day, late, night...). A shift whose end is not after its
    start ends the next day."""

    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="shift_types",
        verbose_name=_("department"),
    )
    code = models.CharField(_("code"), max_length=8)
    group = models.CharField(
        _("worked by"),
        max_length=10,
        choices=StaffGroup.choices,
        blank=True,
        help_text=_("Empty: doctors and nurses."),
    )
    start_time = models.TimeField(_("starts"))
    end_time = models.TimeField(_("ends"))
    is_night = models.BooleanField(_("night shift"), default=False)
    cannot_follow = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="+",
        verbose_name=_("may not be followed next day by"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("shift type")
        verbose_name_plural = _("shift types")
        ordering = ["department", "start_time", "code"]
        constraints = [models.UniqueConstraint(fields=["department", "code"], name="shift_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    @property
    def start_minute(self) -> int:
        return self.start_time.hour * 60 + self.start_time.minute

    @property
    def end_minute(self) -> int:
        """Minutes from the start of the shift's day to its end (beyond 1440 when it ends next day)."""
        end = self.end_time.hour * 60 + self.end_time.minute
        return end if end > self.start_minute else end + 1440

    @property
    def minutes(self) -> int:
        return self.end_minute - self.start_minute

    @property
    def hours(self) -> Decimal:
        return (Decimal(self.minutes) / 60).quantize(Decimal("0.1"))

    def starts_on(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.start_time)


class StaffingRatio(TimeStampedModel):
    """How many people a shift needs for the forecast workload: one per ``per_staff`` units of
    ``metric`` (patients per doctor per session, occupied beds per nurse), never fewer than
    ``minimum``. A skill makes it a requirement for people with that skill."""

    shift_type = models.ForeignKey(
        ShiftType, on_delete=models.CASCADE, related_name="ratios", verbose_name=_("shift type")
    )
    group = models.CharField(_("staff group"), max_length=10, choices=StaffGroup.choices)
    skill = models.ForeignKey(
        "organization.Skill",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("skill"),
    )
    metric = models.CharField(_("workload"), max_length=20, choices=Metric.choices, blank=True)
    per_staff = models.DecimalField(
        _("workload per person"),
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Empty: only the minimum applies."),
    )
    minimum = models.PositiveSmallIntegerField(_("minimum on shift"), default=0)

    class Meta:
        verbose_name = _("staffing ratio")
        verbose_name_plural = _("staffing ratios")
        constraints = [
            models.UniqueConstraint(
                fields=["shift_type", "group", "skill", "metric"], name="one_ratio_per_shift_group_skill"
            ),
            models.CheckConstraint(
                condition=Q(per_staff__isnull=True) | Q(per_staff__gt=0), name="ratio_per_staff_positive"
            ),
            models.CheckConstraint(
                condition=Q(per_staff__isnull=True) | ~Q(metric=""), name="ratio_has_metric"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.shift_type} {self.group} {self.metric} 1:{self.per_staff} (min {self.minimum})"


def _weight() -> list[MinValueValidator | MaxValueValidator]:
    return [MinValueValidator(0), MaxValueValidator(1000)]


class RosterPolicy(TimeStampedModel):
    """A department's hard limits and the weights of its soft rules."""

    department = models.OneToOneField(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="roster_policy",
        verbose_name=_("department"),
    )
    min_rest_hours = models.PositiveSmallIntegerField(_("minimum rest between shifts (hours)"), default=11)
    max_consecutive_days = models.PositiveSmallIntegerField(_("most working days in a row"), default=6)
    weight_request = models.PositiveSmallIntegerField(
        _("weight: shift-on and shift-off requests"), default=10, validators=_weight()
    )
    weight_preferred_shift = models.PositiveSmallIntegerField(
        _("weight: preferred shift types"), default=2, validators=_weight()
    )
    weight_night_fairness = models.PositiveSmallIntegerField(
        _("weight: fair spread of nights"), default=6, validators=_weight()
    )
    weight_weekend_fairness = models.PositiveSmallIntegerField(
        _("weight: fair spread of weekends"), default=4, validators=_weight()
    )
    weight_load_band = models.PositiveSmallIntegerField(
        _("weight: staff load within 80-90 %"), default=5, validators=_weight()
    )
    weight_overstaffing = models.PositiveSmallIntegerField(
        _("weight: more people than required"), default=1, validators=_weight()
    )

    class Meta:
        verbose_name = _("roster policy")
        verbose_name_plural = _("roster policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_consecutive_days__gte=1), name="policy_consecutive_positive"
            ),
            models.CheckConstraint(condition=Q(min_rest_hours__lte=24), name="policy_rest_within_a_day"),
        ]

    def __str__(self) -> str:
        return str(self.department)


class StaffProfile(TimeStampedModel):
    """What rostering needs to know about a person: contract hours, limits and preferences."""

    practitioner = models.OneToOneField(
        "organization.Practitioner",
        on_delete=models.CASCADE,
        related_name="staff_profile",
        verbose_name=_("practitioner"),
    )
    contract_hours_per_week = models.DecimalField(
        _("contract hours per week"), max_digits=4, decimal_places=1, default=Decimal("40.0")
    )
    max_hours_per_week = models.DecimalField(
        _("most hours in a week"), max_digits=4, decimal_places=1, default=Decimal("48.0")
    )
    min_hours_per_week = models.DecimalField(
        _("fewest hours per week on average"), max_digits=4, decimal_places=1, default=Decimal("24.0")
    )
    max_consecutive_days = models.PositiveSmallIntegerField(
        _("most working days in a row"), null=True, blank=True, help_text=_("Empty: the department's rule.")
    )
    works_nights = models.BooleanField(_("works night shifts"), default=True)
    preferred_shift_types = models.ManyToManyField(
        ShiftType, blank=True, related_name="+", verbose_name=_("preferred shift types")
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        constraints = [
            models.CheckConstraint(
                condition=Q(min_hours_per_week__lte=F("max_hours_per_week")), name="profile_hours_ordered"
            ),
            models.CheckConstraint(condition=Q(max_hours_per_week__lte=84), name="profile_hours_plausible"),
        ]

    def __str__(self) -> str:
        return str(self.practitioner)


class Leave(TimeStampedModel):
    practitioner = models.ForeignKey(
        "organization.Practitioner", on_delete=models.CASCADE, related_name="leaves", verbose_name=_("person")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=LeaveKind.choices, default=LeaveKind.ANNUAL)
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until"))
    status = models.CharField(
        _("status"), max_length=10, choices=LeaveStatus.choices, default=LeaveStatus.REQUESTED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("leave")
        verbose_name_plural = _("leave")
        ordering = ["start_date"]
        constraints = [
            models.CheckConstraint(condition=Q(start_date__lte=F("end_date")), name="leave_dates_ordered")
        ]

    def __str__(self) -> str:
        return f"{self.practitioner_id} {self.start_date}..{self.end_date} ({self.status})"


class ShiftRequest(TimeStampedModel):
    """A wish for one day: to work (a given shift, or any) or to be off."""

    practitioner = models.ForeignKey(
        "organization.Practitioner",
        on_delete=models.CASCADE,
        related_name="shift_requests",
        verbose_name=_("person"),
    )
    date = models.DateField(_("date"))
    shift_type = models.ForeignKey(
        ShiftType,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="requests",
        verbose_name=_("shift"),
        help_text=_("Empty: the whole day."),
    )
    kind = models.CharField(_("kind"), max_length=3, choices=RequestKind.choices)
    weight = models.PositiveSmallIntegerField(
        _("importance"), default=1, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("shift request")
        verbose_name_plural = _("shift requests")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["practitioner", "date"], name="one_request_per_person_and_day"),
            models.CheckConstraint(condition=Q(weight__gte=1, weight__lte=3), name="request_weight_range"),
        ]

    def __str__(self) -> str:
        return f"{self.practitioner_id} {self.date} {self.kind}"


class Roster(TimeStampedModel):
    department = models.ForeignKey(
        "organization.Department",
        on_delete=models.CASCADE,
        related_name="rosters",
        verbose_name=_("department"),
    )
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until"))
    status = models.CharField(
        _("status"), max_length=10, choices=RosterStatus.choices, default=RosterStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    time_limit_seconds = models.PositiveSmallIntegerField(_("solver time limit (seconds)"), default=30)
    solver_status = models.CharField(_("solver status"), max_length=20, blank=True)
    objective = models.IntegerField(_("penalty"), null=True, blank=True)
    best_bound = models.FloatField(_("lower bound"), null=True, blank=True)
    solve_seconds = models.FloatField(_("solving time (seconds)"), null=True, blank=True)
    solved_at = models.DateTimeField(_("solved at"), null=True, blank=True)
    # What the solver could not satisfy, and why (rule, cost, person, day, explanation).
    report = models.JSONField(_("solver report"), default=dict, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("roster")
        verbose_name_plural = _("rosters")
        ordering = ["-start_date", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(start_date__lte=F("end_date")), name="roster_dates_ordered"),
            models.CheckConstraint(
                condition=Q(time_limit_seconds__gte=1, time_limit_seconds__lte=600),
                name="roster_time_limit_range",
            ),
        ]
        indexes = [models.Index(fields=["department", "status", "start_date"])]

    def __str__(self) -> str:
        return f"{self.department} {self.start_date}..{self.end_date}"

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    def dates(self) -> list[dt.date]:
        return [self.start_date + dt.timedelta(days=n) for n in range(self.days)]


class RosterMember(models.Model):
    """Who the roster plans (the department's doctors and nurses when it was created)."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="members")
    practitioner = models.ForeignKey(
        "organization.Practitioner", on_delete=models.CASCADE, related_name="roster_memberships"
    )
    group = models.CharField(_("staff group"), max_length=10, choices=StaffGroup.choices)

    class Meta:
        verbose_name = _("roster member")
        verbose_name_plural = _("roster members")
        constraints = [
            models.UniqueConstraint(fields=["roster", "practitioner"], name="one_membership_per_roster")
        ]

    def __str__(self) -> str:
        return f"{self.roster_id}: {self.practitioner_id}"


class Assignment(models.Model):
    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="assignments")
    practitioner = models.ForeignKey(
        "organization.Practitioner", on_delete=models.CASCADE, related_name="assignments"
    )
    date = models.DateField(_("date"))
    shift_type = models.ForeignKey(ShiftType, on_delete=models.PROTECT, related_name="assignments")
    source = models.CharField(
        _("source"), max_length=10, choices=AssignmentSource.choices, default=AssignmentSource.SOLVER
    )

    class Meta:
        verbose_name = _("shift assignment")
        verbose_name_plural = _("shift assignments")
        ordering = ["date", "shift_type__start_time"]
        constraints = [
            # One shift per person and day: the first hard rule, kept by the database.
            models.UniqueConstraint(fields=["roster", "practitioner", "date"], name="one_shift_per_day")
        ]
        indexes = [models.Index(fields=["practitioner", "date"])]

    def __str__(self) -> str:
        return f"{self.date} {self.practitioner_id} {self.shift_type_id}"


class RosterRequirement(models.Model):
    """How many people of a group (with a skill) a shift needs on a date, and why: the forecast
    workload it covers and the load band that keeps them 80-90 % busy."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="requirements")
    date = models.DateField(_("date"))
    shift_type = models.ForeignKey(ShiftType, on_delete=models.CASCADE, related_name="+")
    group = models.CharField(_("staff group"), max_length=10, choices=StaffGroup.choices)
    skill = models.ForeignKey(
        "organization.Skill", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    required = models.PositiveSmallIntegerField(_("required"))
    demand = models.FloatField(_("forecast demand (people)"), default=0)
    band_low = models.PositiveSmallIntegerField(_("load band from"), null=True, blank=True)
    band_high = models.PositiveSmallIntegerField(_("load band to"), null=True, blank=True)
    basis = models.CharField(_("basis"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("roster requirement")
        verbose_name_plural = _("roster requirements")
        ordering = ["date", "shift_type__start_time", "group"]
        constraints = [
            models.UniqueConstraint(
                fields=["roster", "date", "shift_type", "group", "skill"],
                name="one_requirement_per_shift_group",
            ),
            models.UniqueConstraint(
                fields=["roster", "date", "shift_type", "group"],
                condition=Q(skill__isnull=True),
                name="one_plain_requirement_per_shift_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.shift_type_id} {self.group} {self.required}"


class RosterEdit(models.Model):
    """A planner's change to one cell, and the hard rules the roster broke right after it."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="edits")
    practitioner = models.ForeignKey("organization.Practitioner", on_delete=models.CASCADE, related_name="+")
    date = models.DateField(_("date"))
    previous = models.CharField(_("value before"), max_length=8, blank=True)
    current = models.CharField(_("value after"), max_length=8, blank=True)
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    edited_at = models.DateTimeField(_("edited at"), default=clock.now)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    violations = models.JSONField(_("broken hard rules"), default=list, blank=True)

    class Meta:
        verbose_name = _("roster edit")
        verbose_name_plural = _("roster edits")
        ordering = ["-edited_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.roster_id} {self.date} {self.previous}->{self.current}"


class ShiftFeedback(models.Model):
    """A person's rating of a shift they worked, and whether it was too heavy."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="feedback")
    rating = models.PositiveSmallIntegerField(
        _("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    overload = models.BooleanField(_("too heavy"), default=False)
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("rated at"), default=clock.now)

    class Meta:
        verbose_name = _("shift feedback")
        verbose_name_plural = _("shift feedback")
        constraints = [models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="rating_range")]

    def __str__(self) -> str:
        return f"{self.assignment_id}: {self.rating}"

    @property
    def satisfied(self) -> bool:
        return self.rating >= 4


class WeeklySummary(TimeStampedModel):
    department = models.ForeignKey(
        "organization.Department", on_delete=models.CASCADE, related_name="+", verbose_name=_("department")
    )
    week_start = models.DateField(_("week of"))
    ratings = models.PositiveIntegerField(_("ratings"), default=0)
    satisfied = models.PositiveIntegerField(_("satisfied (4-5)"), default=0)
    overload_flags = models.PositiveIntegerField(_("too heavy"), default=0)
    shifts = models.PositiveIntegerField(_("shifts worked"), default=0)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("weekly feedback summary")
        verbose_name_plural = _("weekly feedback summaries")
        ordering = ["-week_start", "department"]
        constraints = [
            models.UniqueConstraint(fields=["department", "week_start"], name="one_summary_per_week"),
            models.CheckConstraint(condition=Q(satisfied__lte=F("ratings")), name="summary_counts_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.week_start}"

    @property
    def satisfaction_rate(self) -> float | None:
        return self.satisfied / self.ratings if self.ratings else None


class Suggestion(TimeStampedModel):
    """A change the weekly summary proposes: more people on a shift, or a heavier rule weight."""

    summary = models.ForeignKey(WeeklySummary, on_delete=models.CASCADE, related_name="suggestions")
    kind = models.CharField(_("kind"), max_length=10, choices=SuggestionKind.choices)
    ratio = models.ForeignKey(
        StaffingRatio, on_delete=models.CASCADE, null=True, blank=True, related_name="suggestions"
    )
    # The ratio's "minimum" or "per_staff", or the policy's weight field.
    field_name = models.CharField(_("setting"), max_length=40)
    current_value = models.DecimalField(_("now"), max_digits=8, decimal_places=2)
    proposed_value = models.DecimalField(_("proposed"), max_digits=8, decimal_places=2)
    reason = models.JSONField(_("reason"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("suggestion")
        verbose_name_plural = _("suggestions")
        ordering = ["status", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=SuggestionKind.COVERAGE) & Q(ratio__isnull=False))
                | Q(kind=SuggestionKind.WEIGHT),
                name="suggestion_has_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.current_value}->{self.proposed_value} ({self.status})"
