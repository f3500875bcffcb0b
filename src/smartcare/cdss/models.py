"""Decision-support rules as data, the cards they showed, and the feedback on those cards.

A rule is identified by its ``key``; editing a rule creates a new ``version`` row and retires the
previous one (kept for the firing statistics), so exactly one version per key is active.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from smartcare.cdss.choices import FeedbackOutcome, Hook, Indicator, RuleKind
from smartcare.core import clock


def _english() -> bool:
    return (get_language() or "zh-hans").lower().startswith("en")


class Rule(models.Model):
    key = models.CharField(_("key"), max_length=160, db_index=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    is_active = models.BooleanField(_("active version"), default=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    kind = models.CharField(_("kind"), max_length=20, choices=RuleKind.choices, db_index=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    detail_zh = models.TextField(_("detail (Chinese)"), blank=True)
    detail_en = models.TextField(_("detail (English)"), blank=True)
    indicator = models.CharField(_("indicator"), max_length=10, choices=Indicator.choices)
    source_label = models.CharField(_("guideline source"), max_length=300)
    source_url = models.URLField(_("source address"), blank=True)
    evidence_level = models.CharField(_("evidence level"), max_length=40, blank=True)
    departments = models.JSONField(
        _("enabled in departments"),
        default=list,
        blank=True,
        help_text=_("National department codes; empty means every department. 03 includes 03.04."),
    )
    hooks = models.JSONField(
        _("hooks"), default=list, blank=True, help_text=_("Hooks the rule answers; empty means all.")
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    condition = models.TextField(
        _("condition"),
        blank=True,
        help_text=_("Optional CEL expression over the patient context; the rule fires only when it is true."),
    )
    change_note = models.CharField(_("change note"), max_length=300, blank=True)
    # A condition that fails at run time (a CEL evaluation error) does not fire: counted here per
    # version, logged, and shown on the review page so the rule owner can fix it.
    condition_errors = models.PositiveIntegerField(_("condition errors"), default=0)
    last_condition_error = models.CharField(_("last condition error"), max_length=300, blank=True)
    last_condition_error_at = models.DateTimeField(_("last condition error at"), null=True, blank=True)
    origin = models.CharField(_("origin"), max_length=40, default="seed")
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("decision-support rule")
        verbose_name_plural = _("decision-support rules")
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="cdss_rule_key_version"),
            models.UniqueConstraint(fields=["key"], condition=Q(is_active=True), name="cdss_rule_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

    @property
    def title(self) -> str:
        return self.title_en if _english() else self.title_zh

    @property
    def detail(self) -> str:
        return self.detail_en if _english() else self.detail_zh


class Consultation(models.Model):
    """One call of a CDS service: who asked, for which encounter, how many cards were shown."""

    hook = models.CharField(_("hook"), max_length=20, choices=Hook.choices)
    hook_instance = models.CharField(_("hook instance"), max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("user"),
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("patient"),
    )
    patient_ref = models.CharField(_("pseudonymous patient id"), max_length=64, db_index=True)
    encounter_ref = models.CharField(_("encounter"), max_length=100, blank=True, db_index=True)
    department_code = models.CharField(_("department"), max_length=20, blank=True)
    cards = models.PositiveIntegerField(_("cards shown"), default=0)
    at = models.DateTimeField(_("at"), default=clock.now, db_index=True)

    class Meta:
        verbose_name = _("decision-support consultation")
        verbose_name_plural = _("decision-support consultations")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.hook} {self.at:%Y-%m-%d %H:%M} ({self.cards})"


class RuleFiring(models.Model):
    """A card shown to a user, with the feedback the user gave on it."""

    card_uuid = models.UUIDField(_("card"), unique=True)
    # The card's identity within a visit (patient, encounter, hook, rule version, what it says):
    # a card shown again in the same visit, e.g. each time the chart is reloaded, is the same
    # firing, so fire counts, override rates and usage are not inflated. Empty without an encounter.
    identity = models.CharField(_("card identity"), max_length=64, blank=True, default="")
    # The suggestions offered with the card (with their ids), so accepting one later carries out
    # exactly what was shown.
    suggestions = models.JSONField(_("suggestions"), default=list, blank=True)
    consultation = models.ForeignKey(
        Consultation, on_delete=models.CASCADE, related_name="firings", verbose_name=_("consultation")
    )
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="firings", verbose_name=_("rule"))
    hook = models.CharField(_("hook"), max_length=20, choices=Hook.choices)
    indicator = models.CharField(_("indicator"), max_length=10, choices=Indicator.choices)
    summary = models.CharField(_("summary"), max_length=140)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("user"),
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("patient"),
    )
    patient_ref = models.CharField(_("pseudonymous patient id"), max_length=64)
    department_code = models.CharField(_("department"), max_length=20, blank=True)
    fired_at = models.DateTimeField(_("fired at"), default=clock.now, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=12, choices=FeedbackOutcome.choices, blank=True)
    override_reason = models.CharField(_("override reason"), max_length=60, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    accepted_suggestions = models.JSONField(_("accepted suggestions"), default=list, blank=True)
    feedback_at = models.DateTimeField(_("feedback at"), null=True, blank=True)
    feedback_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("feedback by"),
    )

    class Meta:
        verbose_name = _("rule firing")
        verbose_name_plural = _("rule firings")
        ordering = ["-fired_at"]
        indexes = [models.Index(fields=["rule", "fired_at"], name="cdss_firing_rule_at")]
        constraints = [
            models.UniqueConstraint(
                fields=["identity"], condition=~Q(identity=""), name="cdss_firing_once_per_visit"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.fired_at:%Y-%m-%d %H:%M}"
