from django.db import models
from django.utils.translation import gettext_lazy as _


class PlanCategory(models.TextChoices):
    POST_OPERATIVE = "post_operative", _("After surgery")
    HYPERTENSION = "hypertension", _("Hypertension")
    DIABETES = "diabetes", _("Diabetes")
    HEART_FAILURE = "heart_failure", _("Heart failure")
    CORONARY_DISEASE = "coronary_disease", _("Coronary heart disease")
    PREGNANCY = "pregnancy", _("Pregnancy")
    OTHER = "other", _("Other")


class PlanTrigger(models.TextChoices):
    DISCHARGE_PROCEDURE = "discharge_procedure", _("Discharge after a procedure")
    DIAGNOSIS = "diagnosis", _("New diagnosis")
    MANUAL = "manual", _("Started by hand only")


class CareStage(models.TextChoices):
    NEWLY_DIAGNOSED = "newly_diagnosed", _("Newly diagnosed")
    LONG_TERM = "long_term", _("Long-term management")
    AFTER_SURGERY = "after_surgery", _("After surgery")
    AFTER_DISCHARGE = "after_discharge", _("After discharge")
    PREGNANCY = "pregnancy", _("During pregnancy")


class TaskKind(models.TextChoices):
    QUESTIONNAIRE = "questionnaire", _("Questionnaire")
    REVISIT = "revisit", _("Return visit")
    LAB_TEST = "lab_test", _("Lab test")
    PHONE_CALL = "phone_call", _("Phone call")
    EDUCATION = "education", _("Education item")


# Tasks the patient does themself (the nurse follows them); the others are the care team's.
PATIENT_TASKS = frozenset({TaskKind.QUESTIONNAIRE, TaskKind.REVISIT, TaskKind.LAB_TEST, TaskKind.EDUCATION})


class TaskStatus(models.TextChoices):
    DUE = "due", _("Due")
    DONE = "done", _("Done")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_TASK_STATUSES = (TaskStatus.DUE, TaskStatus.MISSED)


class ResponsibleRole(models.TextChoices):
    NURSE = "nurse", _("Nurse")
    DOCTOR = "doctor", _("Doctor")


class PlanStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class PlanOrigin(models.TextChoices):
    RULE = "rule", _("Started by a rule")
    MANUAL = "manual", _("Started by hand")


class CallOutcome(models.TextChoices):
    REACHED = "reached", _("Reached the patient")
    NO_ANSWER = "no_answer", _("No answer")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    DECLINED = "declined", _("Patient declined")


class QuestionnaireKind(models.TextChoices):
    PRO = "pro", _("Patient-reported outcome")
    SATISFACTION = "satisfaction", _("Satisfaction survey")
    GENERAL = "general", _("General questionnaire")


class SurveyOccasion(models.TextChoices):
    VISIT = "visit", _("After a visit")
    DISCHARGE = "discharge", _("After discharge")


class QuestionKind(models.TextChoices):
    SINGLE = "single", _("Single choice")
    MULTIPLE = "multiple", _("Multiple choice")
    SCALE = "scale", _("Scale")
    NUMBER = "number", _("Number")
    TEXT = "text", _("Free text")


CHOICE_KINDS = (QuestionKind.SINGLE, QuestionKind.MULTIPLE)


class ConditionOperator(models.TextChoices):
    """How a conditional question tests the answer of an earlier question."""

    IN = "in", _("is one of")
    NOT_IN = "not_in", _("is none of")
    GTE = "gte", _("is at least")
    LTE = "lte", _("is at most")
    ANSWERED = "answered", _("is answered")


class InvitationStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    ANSWERED = "answered", _("Answered")
    EXPIRED = "expired", _("Expired")


class EducationKind(models.TextChoices):
    ARTICLE = "article", _("Article")
    VIDEO = "video", _("Video")


class DeliveryReason(models.TextChoices):
    PROFILE = "profile", _("Matches the patient's profile")
    PLAN = "plan", _("Part of the care plan")
    MANUAL = "manual", _("Sent by a clinician")


class DataOrigin(models.TextChoices):
    SHIPPED = "shipped", _("Shipped with smartcare")
    LOCAL = "local", _("Made in this hospital")
