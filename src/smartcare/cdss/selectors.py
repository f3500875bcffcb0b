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

# Review scope: ``None`` is every rule and every department's firings (the IT administrator); a
# national department code (a department head's) is the rules enabled in that department and the
# firings there; "" is a reviewer without a department: hospital-wide rules only.
Scope = str | None


def review_scope(user: Any) -> Scope:
    """Every rule for a reviewer with ``cdss.review_all`` (the IT administrator); otherwise the
    national code of the reviewer's department ("" without one)."""
    from smartcare.core.permissions import has_capability

    if has_capability(user, "cdss.review_all"):
        return None
    department = getattr(getattr(user, "practitioner", None), "department", None)
    return str(getattr(department, "national_code_id", "") or "")


def _related(a: str, b: str) -> bool:
    """Two department codes are the same department, or one contains the other (03 and 03.04)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def rule_in_scope(rule: Rule, scope: Scope) -> bool:
    """A rule matters to a department when it is hospital-wide or enabled in (a part of) it."""
    if scope is None or not rule.departments:
        return True
    return bool(scope) and any(_related(scope, code) for code in rule.departments)


def _department_firings(scope: Scope, prefix: str = "") -> Q:
    if scope is None:
        return Q()
    if not scope:
        return Q(**{f"{prefix}pk__lt": 0})  # no department: no firings
    return Q(**{f"{prefix}department_code": scope}) | Q(
        **{f"{prefix}department_code__startswith": scope + "."}
    )


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

    @property
    def condition_errors(self) -> int:
        """Run-time errors of the active version's condition (each made the rule stay silent)."""
        return self.rule.condition_errors


def rule_statistics(
    *,
    kind: str = "",
    query: str = "",
    since: dt.datetime | None = None,
    limit: int = 200,
    scope: Scope = None,
) -> list[RuleStats]:
    """Active rules in the reviewer's scope with their firing counts over all versions (in the
    scope's department), noisiest first (fired, override rate)."""
    firings = RuleFiring.objects.filter(_department_firings(scope))
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
        if rule_in_scope(rule, scope)
    ]
    stats.sort(key=lambda s: (-s.fired, -s.override_rate, -s.condition_errors, s.key))
    return stats[:limit]


def rule_versions(key: str, *, scope: Scope = None) -> QuerySet[Rule]:
    """Every version of rule ``key`` with its counts; NotFound when the rule is outside the scope."""
    if scope is None:
        counts = {
            "fired": Count("firings"),
            "accepted": Count("firings", filter=_ACCEPTED),
            "overridden": Count("firings", filter=_OVERRIDDEN),
        }
    else:
        in_scope = _department_firings(scope, "firings__")
        counts = {
            "fired": Count("firings", filter=in_scope),
            "accepted": Count("firings", filter=_ACCEPTED & in_scope),
            "overridden": Count("firings", filter=_OVERRIDDEN & in_scope),
        }
    versions = Rule.objects.filter(key=key).annotate(**counts).order_by("-version")
    active = next((v for v in versions if v.is_active), None) or versions.first()
    if active is None or not rule_in_scope(active, scope):
        raise NotFound()
    return versions


def override_reasons(key: str, *, scope: Scope = None) -> list[dict[str, Any]]:
    rows = (
        RuleFiring.objects.filter(
            _department_firings(scope), rule__key=key, outcome=FeedbackOutcome.OVERRIDDEN
        )
        .values("override_reason")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    return [dict(row) for row in rows]


def recent_comments(key: str, limit: int = 20, *, scope: Scope = None) -> QuerySet[RuleFiring]:
    """Feedback comments (no patient identity: rule owners review the rule, not the patient)."""
    return (
        RuleFiring.objects.filter(_department_firings(scope), rule__key=key)
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
