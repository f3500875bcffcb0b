"""The medical knowledge graph: typed nodes, typed edges with provenance, red flags, questions.

Everything here is reference knowledge, never patient data. Each import is recorded as a
``KnowledgeRelease``; nodes, edges, red flags and questions remember the origin (dataset) and the
release that last wrote them, so a new release of one dataset replaces that dataset's content
without touching what other datasets or curators added.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.core.models import BilingualNameMixin, TimeStampedModel
from smartcare.knowledge.choices import (
    EdgeType,
    NodeType,
    RedFlagAction,
    ReleaseFormat,
    ReleaseStatus,
    Severity,
)


def _english() -> bool:
    return (get_language() or "zh-hans").lower().startswith("en")


class KnowledgeRelease(models.Model):
    """One import of one dataset (``origin``) at one version."""

    origin = models.CharField(_("dataset"), max_length=80, db_index=True)
    version = models.CharField(_("version"), max_length=40)
    format = models.CharField(_("format"), max_length=30, choices=ReleaseFormat.choices)
    source = models.CharField(_("source"), max_length=300, blank=True)
    file_name = models.CharField(_("file name"), max_length=300, blank=True)
    checksum = models.CharField(_("SHA-256 of the file"), max_length=64, db_index=True)
    status = models.CharField(_("status"), max_length=12, choices=ReleaseStatus.choices)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)
    imported_at = models.DateTimeField(_("imported at"), default=clock.now)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("imported by"),
    )

    class Meta:
        verbose_name = _("knowledge release")
        verbose_name_plural = _("knowledge releases")
        ordering = ["-imported_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.origin} {self.version}"


class FromDataset(models.Model):
    """The dataset (origin) and the release that last wrote a row: a new release of a dataset
    updates and retires only its own rows (see ``services.apply_dataset``)."""

    origin = models.CharField(_("dataset"), max_length=80, db_index=True)
    release = models.ForeignKey(
        KnowledgeRelease, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True


class Node(BilingualNameMixin, TimeStampedModel, FromDataset):
    """A concept: disease, symptom, sign, department, drug, drug class, exam, body part, group."""

    key = models.CharField(_("id"), max_length=120, unique=True, help_text=_("<type>:<slug>"))
    type = models.CharField(_("type"), max_length=20, choices=NodeType.choices, db_index=True)
    synonyms_zh = models.JSONField(_("synonyms (Chinese)"), default=list, blank=True)
    synonyms_en = models.JSONField(_("synonyms (English)"), default=list, blank=True)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    icd10 = models.CharField(_("ICD-10"), max_length=10, blank=True, db_index=True)
    atc = models.CharField(_("ATC"), max_length=10, blank=True, db_index=True)
    drugbank = models.CharField(_("DrugBank id"), max_length=10, blank=True)
    loinc = models.CharField(_("LOINC"), max_length=10, blank=True)
    department = models.ForeignKey(
        "organization.NationalDepartmentCode",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="knowledge_nodes",
        verbose_name=_("national department code"),
    )
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=6, blank=True)
    search_text = models.TextField(editable=False, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("knowledge node")
        verbose_name_plural = _("knowledge nodes")
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def save(self, *args: object, **kwargs: object) -> None:
        self.search_text = self.build_search_text()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def build_search_text(self) -> str:
        words = [self.key, self.name_zh, self.name_en, self.icd10, self.atc, self.loinc]
        words += list(self.synonyms_zh or []) + list(self.synonyms_en or [])
        return "\n".join(w for w in words if w).lower()

    @property
    def synonyms(self) -> list[str]:
        return list(self.synonyms_en if _english() else self.synonyms_zh)

    @property
    def description(self) -> str:
        return self.description_en if _english() and self.description_en else self.description_zh

    @property
    def surface_forms(self) -> list[str]:
        return [self.name_zh, self.name_en, *self.synonyms_zh, *self.synonyms_en]


class Edge(FromDataset):
    type = models.CharField(_("type"), max_length=20, choices=EdgeType.choices, db_index=True)
    source = models.ForeignKey(
        Node, on_delete=models.CASCADE, related_name="out_edges", verbose_name=_("source")
    )
    target = models.ForeignKey(
        Node, on_delete=models.CASCADE, related_name="in_edges", verbose_name=_("target")
    )
    provenance = models.CharField(_("provenance"), max_length=400)
    frequency = models.FloatField(_("typical frequency"), null=True, blank=True)
    rank = models.PositiveSmallIntegerField(_("rank"), null=True, blank=True)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, blank=True)
    management_zh = models.TextField(_("management (Chinese)"), blank=True)
    management_en = models.TextField(_("management (English)"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("knowledge edge")
        verbose_name_plural = _("knowledge edges")
        constraints = [
            models.UniqueConstraint(fields=["type", "source", "target"], name="knowledge_edge_unique"),
            models.CheckConstraint(
                condition=models.Q(frequency__isnull=True)
                | (models.Q(frequency__gte=0) & models.Q(frequency__lte=1)),
                name="knowledge_edge_frequency_range",
            ),
        ]
        indexes = [models.Index(fields=["source", "type"]), models.Index(fields=["target", "type"])]

    def __str__(self) -> str:
        return f"{self.source.key} {self.type} {self.target.key}"

    @property
    def management(self) -> str:
        return self.management_en if _english() and self.management_en else self.management_zh


class RedFlag(BilingualNameMixin, FromDataset):
    """A finding combination that sends the patient to emergency care instead of a clinic."""

    key = models.CharField(_("id"), max_length=80, unique=True)
    all_of = models.JSONField(_("all of (finding ids)"), default=list, blank=True)
    any_of = models.JSONField(_("any of (finding ids)"), default=list, blank=True)
    max_age_months = models.PositiveSmallIntegerField(_("maximum age in months"), null=True, blank=True)
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    pregnant = models.BooleanField(_("pregnancy only"), default=False)
    action = models.CharField(_("action"), max_length=12, choices=RedFlagAction.choices)
    reason_zh = models.TextField(_("reason and first aid (Chinese)"))
    reason_en = models.TextField(_("reason and first aid (English)"))
    # The conditions the flag warns of (acute myocardial infarction for crushing chest pain): the
    # disease page lists its red flags and triage names them in its explanation.
    conditions = models.ManyToManyField(
        Node,
        blank=True,
        related_name="red_flags",
        verbose_name=_("conditions it warns of"),
        limit_choices_to={"type": NodeType.DISEASE},
    )
    provenance = models.CharField(_("provenance"), max_length=400, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("red flag")
        verbose_name_plural = _("red flags")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name

    @property
    def reason(self) -> str:
        return self.reason_en if _english() else self.reason_zh


class FollowUpQuestion(FromDataset):
    """A yes/no question whose answer decides whether one finding is present."""

    key = models.CharField(_("id"), max_length=80, unique=True)
    question_zh = models.CharField(_("question (Chinese)"), max_length=300)
    question_en = models.CharField(_("question (English)"), max_length=300)
    symptom = models.ForeignKey(
        Node, on_delete=models.CASCADE, related_name="questions", verbose_name=_("finding")
    )
    context = models.JSONField(_("useful for (finding ids)"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("follow-up question")
        verbose_name_plural = _("follow-up questions")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.question

    @property
    def question(self) -> str:
        return self.question_en if _english() else self.question_zh
