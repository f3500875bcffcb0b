"""Reads for operating the rules: firing statistics, versions, override reasons, usage per doctor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from smartcare.cdss.choices import FeedbackOutcome
from smartcare.cdss.models import Consultation, Rule, RuleFiring
from smartcare.core.errors import NotFound

_ACCEPTED = Q(firings__outcome=FeedbackOutcome.ACCEPTED)
_OVERRIDDEN = Q(firings__outcome=FeedbackOutcome.OVERRIDDEN)


@dataclass
class RuleStats:
    key: str
    rule: Rule  # the active version
    fired: int
    accepted: int
    overridden: int

    @property
    def override_rate(self) -> float:
        answered = self.accepted + self.overridden
        return self.overridden / answered if answered else 0.0


def rule_statistics(
    *, kind: str = "", query: str = "", since: dt.datetime | None = None, limit: int = 200
) -> list[RuleStats]:
    """Active rules with their firing counts over all versions, noisiest first (fired, override rate)."""
    firings = RuleFiring.objects.all()
    if since is not None:
        firings = firings.filter(fired_at__gte=since)
    counts: dict[str, dict[str, Any]] = {}
    for row in firings.values("rule__key").annotate(
        fired=Count("pk"),
        accepted=Count("pk", filter=Q(outcome=FeedbackOutcome.ACCEPTED)),
        overridden=Count("pk", filter=Q(outcome=FeedbackOutcome.OVERRIDDEN)),
    ):
        counts[row["rule__key"]] = dict(row)
    rules = Rule.objects.filter(is_active=True)
    if kind:
        rules = rules.filter(kind=kind)
    if query:
        rules = rules.filter(
            Q(key__icontains=query) | Q(title_zh__icontains=query) | Q(title_en__icontains=query)
        )
    stats = [
        RuleStats(
            key=rule.key,
            rule=rule,
            fired=counts.get(rule.key, {}).get("fired", 0),
            accepted=counts.get(rule.key, {}).get("accepted", 0),
            overridden=counts.get(rule.key, {}).get("overridden", 0),
        )
        for rule in rules
    ]
    stats.sort(key=lambda s: (-s.fired, -s.override_rate, s.key))
    return stats[:limit]


def rule_versions(key: str) -> QuerySet[Rule]:
    versions = (
        Rule.objects.filter(key=key)
        .annotate(
            fired=Count("firings"),
            accepted=Count("firings", filter=_ACCEPTED),
            overridden=Count("firings", filter=_OVERRIDDEN),
        )
        .order_by("-version")
    )
    if not versions.exists():
        raise NotFound()
    return versions


def override_reasons(key: str) -> list[dict[str, Any]]:
    rows = (
        RuleFiring.objects.filter(rule__key=key, outcome=FeedbackOutcome.OVERRIDDEN)
        .values("override_reason")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    return [dict(row) for row in rows]


def recent_comments(key: str, limit: int = 20) -> QuerySet[RuleFiring]:
    """Feedback comments (no patient identity: rule owners review the rule, not the patient)."""
    return (
        RuleFiring.objects.filter(rule__key=key)
        .exclude(comment="")
        .only("fired_at", "outcome", "override_reason", "comment", "department_code", "rule__version")
        .select_related("rule")
        .order_by("-feedback_at")[:limit]
    )


@dataclass
class DoctorUsage:
    user_id: int
    username: str
    encounters: int  # encounters of the doctor in the period
    consulted: int  # encounters in which decision support was called
    with_cards: int  # encounters in which at least one card was shown
    share: float  # with_cards / encounters (the KPI: target 80% of outpatient doctors)


def decision_support_usage(
    start: dt.datetime, end: dt.datetime, *, encounters_by_doctor: Mapping[int, int] | None = None
) -> list[DoctorUsage]:
    """Per doctor: share of encounters where decision support was consulted and a card seen.

    ``encounters_by_doctor`` (user id -> number of encounters, from the EMR) is the denominator;
    without it, the encounters seen by decision support are used.
    """
    rows = (
        Consultation.objects.filter(at__gte=start, at__lt=end, user__isnull=False)
        .exclude(encounter_ref="")
        .values("user_id")
        .annotate(
            consulted=Count("encounter_ref", distinct=True),
            with_cards=Count("encounter_ref", distinct=True, filter=Q(cards__gt=0)),
        )
    )
    by_user = {row["user_id"]: row for row in rows}
    user_ids = set(by_user) | set(encounters_by_doctor or {})
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    usage = []
    for user_id in sorted(user_ids):
        row = by_user.get(user_id, {"consulted": 0, "with_cards": 0})
        total = (encounters_by_doctor or {}).get(user_id, row["consulted"])
        usage.append(
            DoctorUsage(
                user_id=user_id,
                username=names.get(user_id, ""),
                encounters=total,
                consulted=row["consulted"],
                with_cards=row["with_cards"],
                share=row["with_cards"] / total if total else 0.0,
            )
        )
    return usage
