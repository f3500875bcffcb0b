from django.db import models
from django.utils.translation import gettext_lazy as _


class NodeType(models.TextChoices):
    DISEASE = "disease", _("Disease")
    SYMPTOM = "symptom", _("Symptom")
    SIGN = "sign", _("Sign")
    DEPARTMENT = "department", _("Department")
    DRUG = "drug", _("Drug")
    DRUG_CLASS = "drug_class", _("Drug class")
    EXAM = "exam", _("Examination")
    BODY_PART = "body_part", _("Body part")
    POPULATION_GROUP = "population_group", _("Population group")


class EdgeType(models.TextChoices):
    HAS_SYMPTOM = "has_symptom", _("has symptom")
    TREATED_IN = "treated_in", _("treated in")
    RECOMMENDED_EXAM = "recommended_exam", _("recommended exam")
    FIRST_LINE_DRUG = "first_line_drug", _("first-line drug")
    CONTRAINDICATED_IN = "contraindicated_in", _("contraindicated in")
    INTERACTS_WITH = "interacts_with", _("interacts with")
    BELONGS_TO_CLASS = "belongs_to_class", _("belongs to class")
    COMPLICATION_OF = "complication_of", _("complication of")
    LOCATED_IN = "located_in", _("located in")
    SERVES = "serves", _("serves")


class Severity(models.TextChoices):
    HIGH = "high", _("High")
    MODERATE = "moderate", _("Moderate")
    LOW = "low", _("Low")


class RedFlagAction(models.TextChoices):
    EMERGENCY = "emergency", _("Go to an emergency department now")
    CALL_120 = "call_120", _("Call 120 now")


class ReleaseFormat(models.TextChoices):
    SMARTCARE = "smartcare-knowledge", _("smartcare knowledge JSON")
    JSONL = "jsonl-disease", _("JSON lines, one disease per line")


class ReleaseStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    REJECTED = "rejected", _("Rejected")


# How an edge reads from its target's side, for node pages ("headache: symptom of migraine").
INVERSE_EDGE_LABELS = {
    EdgeType.HAS_SYMPTOM: _("symptom of"),
    EdgeType.TREATED_IN: _("treats"),
    EdgeType.RECOMMENDED_EXAM: _("recommended for"),
    EdgeType.FIRST_LINE_DRUG: _("first-line drug for"),
    EdgeType.CONTRAINDICATED_IN: _("contraindicated drugs"),
    EdgeType.INTERACTS_WITH: _("interacts with"),
    EdgeType.BELONGS_TO_CLASS: _("has members"),
    EdgeType.COMPLICATION_OF: _("has complication"),
    EdgeType.LOCATED_IN: _("location of"),
    EdgeType.SERVES: _("served by"),
}
