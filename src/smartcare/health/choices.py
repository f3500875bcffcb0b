from django.db import models
from django.utils.translation import gettext_lazy as _


class RiskModel(models.TextChoices):
    PCE = "pce", _("Pooled Cohort Equations (10-year ASCVD)")
    FRAMINGHAM = "framingham", _("Framingham general CVD (10-year)")
    FINDRISC = "findrisc", _("FINDRISC (10-year type 2 diabetes)")
    TRAINED = "trained", _("Hospital-trained model")


class AssessmentSource(models.TextChoices):
    RECORD = "record", _("Computed from the record")
    MANUAL = "manual", _("Entered by a clinician")
    DEMO = "demo", _("Demo data")


class Outcome(models.TextChoices):
    NEW_DIABETES = "new_diabetes", _("New type 2 diabetes diagnosis")
    NEW_CVD = "new_cvd", _("New cardiovascular disease diagnosis")


class Algorithm(models.TextChoices):
    LOGISTIC_REGRESSION = "logistic_regression", _("Logistic regression")
    GRADIENT_BOOSTING = "gradient_boosting", _("Gradient boosting")


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate", _("Candidate (not used for patients)")
    PROMOTED = "promoted", _("Promoted (used for patients)")
    RETIRED = "retired", _("Retired")


class FamilyHistory(models.TextChoices):
    NONE = "none", _("No diabetes in the family")
    SECOND_DEGREE = "second_degree", _("Grandparent, aunt, uncle or first cousin")
    FIRST_DEGREE = "first_degree", _("Parent, brother, sister or own child")


class AdviceCategory(models.TextChoices):
    DIET = "diet", _("Diet")
    EXERCISE = "exercise", _("Exercise")
    SMOKING = "smoking", _("Stop smoking")
    WEIGHT = "weight", _("Weight")
    BLOOD_PRESSURE = "blood_pressure", _("Blood pressure control")
    LIPIDS = "lipids", _("Cholesterol control")
    MEDICATION_REVIEW = "medication_review", _("Medication review by the doctor")


class EnrolmentStatus(models.TextChoices):
    ACTIVE = "active", _("Taking part")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Adherence(models.TextChoices):
    FOLLOWED = "followed", _("I followed it")
    PARTLY = "partly", _("Partly")
    NOT_FOLLOWED = "not_followed", _("I did not manage")


ADHERENCE_SCORE: dict[str, float] = {
    Adherence.FOLLOWED.value: 1.0,
    Adherence.PARTLY.value: 0.5,
    Adherence.NOT_FOLLOWED.value: 0.0,
}
