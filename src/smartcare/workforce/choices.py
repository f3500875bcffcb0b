from django.db import models
from django.utils.translation import gettext_lazy as _


class HalfDay(models.TextChoices):
    AM = "am", _("Morning (00:00-12:00)")
    PM = "pm", _("Afternoon and evening (12:00-24:00)")


class Metric(models.TextChoices):
    """The kinds of workload counted per department and half-day."""

    OUTPATIENT_VISITS = "outpatient_visits", _("Outpatient visits")
    ADMISSIONS = "admissions", _("Admissions")
    SURGERIES = "surgeries", _("Surgeries and procedures")
    EXAMS = "exams", _("Examinations")
    INPATIENTS = "inpatients", _("Occupied beds")


METRICS = tuple(m.value for m in Metric)


class WorkloadSource(models.TextChoices):
    PLATFORM = "platform", _("Counted from smartcare")
    IMPORTED = "imported", _("Imported from a file")


class StaffGroup(models.TextChoices):
    DOCTOR = "doctor", _("Doctors")
    NURSE = "nurse", _("Nurses")


class ForecastMethod(models.TextChoices):
    MODEL = "model", _("Gradient boosting model")
    BASELINE = "baseline", _("Seasonal naive (same half-day last week)")


class RosterStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SOLVING = "solving", _("Being solved")
    SOLVED = "solved", _("Solved")
    FAILED = "failed", _("No roster found")
    PUBLISHED = "published", _("Published")


EDITABLE_STATUSES = (RosterStatus.DRAFT, RosterStatus.SOLVED, RosterStatus.FAILED, RosterStatus.PUBLISHED)


class AssignmentSource(models.TextChoices):
    SOLVER = "solver", _("Solver")
    MANUAL = "manual", _("Edited by hand")


class RequestKind(models.TextChoices):
    ON = "on", _("Wants to work")
    OFF = "off", _("Wants to be off")


class LeaveKind(models.TextChoices):
    ANNUAL = "annual", _("Annual leave")
    SICK = "sick", _("Sick leave")
    STUDY = "study", _("Study leave")
    MATERNITY = "maternity", _("Maternity or paternity leave")
    OTHER = "other", _("Other leave")


class LeaveStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class CalendarKind(models.TextChoices):
    HOLIDAY = "holiday", _("Public holiday (day off)")
    WORKDAY = "workday", _("Adjusted working day")


class SuggestionKind(models.TextChoices):
    COVERAGE = "coverage", _("Change of coverage")
    WEIGHT = "weight", _("Change of a rule weight")


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the planner")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


# Soft-rule weights of a department's roster policy that feedback may suggest changing.
WEIGHT_FIELDS = (
    "weight_request",
    "weight_preferred_shift",
    "weight_night_fairness",
    "weight_weekend_fairness",
    "weight_load_band",
)
