"""Decision support: evaluate the rules into CDS Hooks cards, log them, record feedback, and edit
rules by versions.

* ``evaluate`` guarantees that every card it returns is logged (``RuleFiring``, with the rule
  version, hook, patient or pseudonymous patient id, user and department) together with the
  consultation it belonged to, so analytics see exactly what users saw; within one encounter the
  same card is logged once (it keeps its first id), however often it is shown.
* ``record_feedback`` is all-or-nothing: one unknown card or invalid entry refuses the whole batch.
* ``new_rule_version`` never edits a rule in place: the old version is kept and retired.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.cdss.choices import (
    INDICATOR_RANK,
    OVERRIDE_REASON_SYSTEM,
    FeedbackOutcome,
    Hook,
    Indicator,
    OverrideReason,
)
from smartcare.cdss.engine import Finding, evaluate_rules
from smartcare.cdss.errors import InvalidFeedback, InvalidRule
from smartcare.cdss.expressions import validate_expression
from smartcare.cdss.models import Consultation, Rule, RuleFiring
from smartcare.cdss.selectors import review_scope, rule_in_scope
from smartcare.core import clock
from smartcare.core.errors import NotFound
from smartcare.core.permissions import require_capability
from smartcare.emr.facts import ClinicalFacts
from smartcare.patients.choices import AccessAction

SUMMARY_MAX = 140


@dataclass
class Card:
    """One CDS Hooks 2.0 card."""

    uuid: str
    summary: str
    indicator: str
    source: dict[str, str]
    detail: str = ""
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    overrideReasons: list[dict[str, str]] = field(default_factory=list)
    selectionBehavior: str = ""
    links: list[dict[str, str]] = field(default_factory=list)
    extension: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for optional in ("suggestions", "selectionBehavior", "links", "extension", "detail"):
            if not data[optional]:
                del data[optional]
        return data


def override_reasons() -> list[dict[str, str]]:
    return [
        {"code": value, "system": OVERRIDE_REASON_SYSTEM, "display": str(label)}
        for value, label in OverrideReason.choices
    ]


def pseudonym(patient_id: str, issuer: str = "") -> str:
    """A stable pseudonymous id for a patient of another system (never the id itself)."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{issuer}:{patient_id}".encode(), hashlib.sha256).hexdigest()[:32]


def _card(finding: Finding) -> Card:
    rule = finding.rule
    suggestions = [{**s, "uuid": str(uuid.uuid4())} for s in finding.suggestions]
    source = {"label": rule.source_label[:200] or str(_("smartcare decision support"))}
    if rule.source_url:
        source["url"] = rule.source_url
    summary = (
        finding.summary if len(finding.summary) <= SUMMARY_MAX else finding.summary[: SUMMARY_MAX - 1] + "…"
    )
    detail = finding.detail
    if rule.evidence_level:
        detail += "\n\n" + _("Evidence: %(level)s") % {"level": rule.evidence_level}
    return Card(
        uuid=str(uuid.uuid4()),
        summary=summary,
        detail=detail,
        indicator=finding.card_indicator,
        source=source,
        suggestions=suggestions,
        overrideReasons=override_reasons(),
        selectionBehavior="at-most-one" if suggestions else "",
        extension={"org.smartcare.rule": {"key": rule.key, "version": rule.version, "kind": rule.kind}},
    )


def _actions(card: Card) -> list[list[Any]]:
    """The card's suggested actions without their words: type, resources and codes."""
    found = []
    for suggestion in card.suggestions:
        for action in suggestion.get("actions") or []:
            coding = ((action.get("resource") or {}).get("code") or {}).get("coding") or []
            found.append(
                [
                    action.get("type", ""),
                    sorted(action.get("resourceId") or []),
                    sorted(f"{c.get('system', '')}|{c.get('code', '')}" for c in coding),
                ]
            )
    return found


def card_identity(patient_ref: str, encounter_ref: str, hook: str, finding: Finding, card: Card) -> str:
    """What makes a card the same card within one visit: the patient, the encounter, the hook, the
    rule version, what the card is about and what it offers to do, in codes rather than words (so
    the same card in the other language is the same card). Empty without an encounter."""
    if not encounter_ref:
        return ""
    about = finding.subject or card.summary
    text = json.dumps(
        [patient_ref, encounter_ref, hook, finding.rule.pk, card.indicator, about, _actions(card)],
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _reuse(card: Card, firing: RuleFiring) -> None:
    """Show a card already logged in this visit under its first id, with the feedback it got."""
    card.uuid = str(firing.card_uuid)
    # The same actions (the identity says so) in today's words, under the ids first shown.
    if len(firing.suggestions) == len(card.suggestions):
        card.suggestions = [
            {**now, "uuid": then.get("uuid", now.get("uuid"))}
            for now, then in zip(card.suggestions, firing.suggestions, strict=True)
        ]
    if firing.outcome:
        card.extension["org.smartcare.feedback"] = {
            "outcome": firing.outcome,
            "reason": firing.override_reason,
            "comment": firing.comment,
            "at": firing.feedback_at.isoformat() if firing.feedback_at else "",
        }


def evaluate(
    user: Any,
    facts: ClinicalFacts,
    hook: str,
    *,
    department_code: str = "",
    patient: Any = None,
    hook_instance: str = "",
    encounter_ref: str = "",
    patient_ref: str = "",
) -> list[Card]:
    """Evaluate the active rules for ``facts`` at ``hook`` and log every card shown.

    ``patient`` is the smartcare Patient when the facts are one of ours (already opened with
    ``access_patient`` by the caller); otherwise ``patient_ref`` is a pseudonymous id.

    Within one encounter a card is logged once (``RuleFiring.identity``): shown again (the chart
    reloaded, the same order-sign asked twice) it keeps its first id and the feedback given on it,
    and no new firing is counted. A consultation is logged once per user, encounter, hook and day
    unless it shows a new card.
    """
    hook = Hook(hook).value
    department = department_code or facts.department_code
    findings = evaluate_rules(facts, hook, department_code=department)
    findings.sort(key=lambda f: (INDICATOR_RANK[Indicator(f.card_indicator)], f.rule.key))
    cards = [_card(f) for f in findings]
    now = clock.now()
    ref = patient_ref or (f"sc-{patient.pk}" if patient is not None else pseudonym(facts.patient_id))
    encounter_ref = encounter_ref[:100]
    who = user if getattr(user, "is_authenticated", False) else None
    identities = [card_identity(ref, encounter_ref, hook, f, c) for c, f in zip(cards, findings, strict=True)]
    with transaction.atomic():
        logged = {
            firing.identity: firing
            for firing in RuleFiring.objects.filter(identity__in=[i for i in identities if i])
        }
        new = [
            (card, finding, identity)
            for card, finding, identity in zip(cards, findings, identities, strict=True)
            if not identity or identity not in logged
        ]
        for card, identity in zip(cards, identities, strict=True):
            if identity in logged:
                _reuse(card, logged[identity])
        if not new and encounter_ref and _consulted_today(who, hook, ref, encounter_ref, now):
            return cards
        consultation = Consultation.objects.create(
            hook=hook,
            hook_instance=hook_instance[:100] or str(uuid.uuid4()),
            user=who,
            patient=patient,
            patient_ref=ref,
            encounter_ref=encounter_ref,
            department_code=department[:20],
            cards=len(cards),
            at=now,
        )
        RuleFiring.objects.bulk_create(
            [
                RuleFiring(
                    card_uuid=card.uuid,
                    identity=identity,
                    suggestions=card.suggestions,
                    consultation=consultation,
                    rule=finding.rule,
                    hook=hook,
                    indicator=card.indicator,
                    summary=card.summary[:SUMMARY_MAX],
                    user=consultation.user,
                    patient=patient,
                    patient_ref=ref,
                    department_code=consultation.department_code,
                    fired_at=now,
                )
                for card, finding, identity in new
            ],
            # Two loads of the same chart at the same moment: the second one's duplicates are
            # dropped by the unique identity and its cards take the first one's ids below.
            ignore_conflicts=bool(encounter_ref),
        )
    if encounter_ref and new:
        winners = {
            firing.identity: firing
            for firing in RuleFiring.objects.filter(identity__in=[i for _c, _f, i in new if i])
        }
        for card, _finding, identity in new:
            if identity in winners and str(winners[identity].card_uuid) != card.uuid:
                _reuse(card, winners[identity])
    return cards


def _consulted_today(who: Any, hook: str, ref: str, encounter_ref: str, now: Any) -> bool:
    """Whether this user already consulted this hook for this encounter today (local day)."""
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return Consultation.objects.filter(
        hook=hook, patient_ref=ref, encounter_ref=encounter_ref, user=who, at__gte=start
    ).exists()


def shown_card(user: Any, card: Any) -> dict[str, Any] | None:
    """A card shown earlier (what the workstation needs to carry out its suggestion), or None when
    it does not exist or the user may not see it (neither shown it nor able to open its patient)."""
    from smartcare.patients.access import access_patient

    try:
        card_id = uuid.UUID(str(card).removeprefix("urn:uuid:"))
    except ValueError:
        return None
    firing = RuleFiring.objects.select_related("consultation").filter(card_uuid=card_id).first()
    if firing is None:
        return None
    if firing.user_id != getattr(user, "pk", None):
        if firing.patient_id is None:
            return None
        try:
            access_patient(user, firing.patient_id, AccessAction.CLINICAL, obj=firing, audit=False)
        except NotFound:
            return None
    return {
        "uuid": str(firing.card_uuid),
        "hook": firing.hook,
        "indicator": firing.indicator,
        "summary": firing.summary,
        "encounter_ref": firing.consultation.encounter_ref,
        "patient_id": firing.patient_id,
        "suggestions": firing.suggestions,
        "outcome": firing.outcome,
    }


# --- Feedback ------------------------------------------------------------------------------------


@dataclass
class FeedbackItem:
    card: str
    outcome: str
    accepted_suggestions: list[str]
    reason: str
    comment: str
    at: Any


def _parse_feedback(payload: Any) -> list[FeedbackItem]:
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("feedback"), list)
        or not payload["feedback"]
    ):
        raise InvalidFeedback(reason=_("the body must be an object with a non-empty feedback array"))
    items = []
    for index, entry in enumerate(payload["feedback"]):
        where = f"feedback[{index}]"
        if not isinstance(entry, dict):
            raise InvalidFeedback(reason=f"{where}: " + _("not an object"))
        card = str(entry.get("card", ""))
        try:
            card = str(uuid.UUID(card.removeprefix("urn:uuid:")))
        except ValueError as exc:
            raise InvalidFeedback(reason=f"{where}.card: " + _("not a card id")) from exc
        outcome = entry.get("outcome")
        if outcome not in FeedbackOutcome.values:
            raise InvalidFeedback(reason=f"{where}.outcome: " + _("must be accepted or overridden"))
        accepted = entry.get("acceptedSuggestions") or []
        if not isinstance(accepted, list) or not all(isinstance(a, dict) and a.get("id") for a in accepted):
            raise InvalidFeedback(reason=f"{where}.acceptedSuggestions: " + _("must be a list of {id}"))
        reason, comment = "", ""
        override = entry.get("overrideReason")
        if outcome == FeedbackOutcome.OVERRIDDEN and override is not None:
            if not isinstance(override, dict):
                raise InvalidFeedback(reason=f"{where}.overrideReason: " + _("not an object"))
            coding = override.get("reason") or {}
            reason = str(coding.get("code", "")) if isinstance(coding, dict) else ""
            if reason and reason not in OverrideReason.values:
                raise InvalidFeedback(reason=f"{where}.overrideReason.reason: " + _("unknown code"))
            comment = str(override.get("userComment", ""))[:2000]
        elif outcome == FeedbackOutcome.ACCEPTED and override:
            raise InvalidFeedback(reason=f"{where}: " + _("an accepted card has no override reason"))
        at = None
        if entry.get("outcomeTimestamp"):
            at = parse_datetime(str(entry["outcomeTimestamp"]))
            if at is None:
                raise InvalidFeedback(reason=f"{where}.outcomeTimestamp: " + _("not a date and time"))
            if timezone.is_naive(at):
                at = timezone.make_aware(at)
        items.append(FeedbackItem(card, outcome, [str(a["id"]) for a in accepted], reason, comment, at))
    return items


def record_feedback(user: Any, payload: Any) -> int:
    """Record CDS Hooks feedback (accepted / overridden with a coded reason and comment).

    A card is found only if the user was shown it, or may open its patient; otherwise NotFound,
    exactly as for a card that does not exist. Returns the number of cards updated."""
    from smartcare.patients.access import access_patient

    require_capability(user, "cdss.hooks")
    items = _parse_feedback(payload)
    with transaction.atomic():
        firings = []
        for item in items:
            firing = RuleFiring.objects.select_for_update().filter(card_uuid=item.card).first()
            if firing is None:
                raise NotFound()
            if firing.user_id != user.pk:
                if firing.patient_id is None:
                    raise NotFound()
                access_patient(user, firing.patient_id, AccessAction.CLINICAL, obj=firing, audit=False)
            firings.append((firing, item))
        for firing, item in firings:
            firing.outcome = item.outcome
            firing.override_reason = item.reason
            firing.comment = item.comment
            firing.accepted_suggestions = item.accepted_suggestions
            firing.feedback_at = item.at or clock.now()
            firing.feedback_by = user
            firing.save(
                update_fields=[
                    "outcome",
                    "override_reason",
                    "comment",
                    "accepted_suggestions",
                    "feedback_at",
                    "feedback_by",
                ]
            )
            record(
                user,
                AuditAction.UPDATE,
                patient=firing.patient_id,
                obj=firing,
                reason=item.comment[:200],
                detail={"outcome": item.outcome, "override_reason": item.reason, "rule": firing.rule_id},
            )
    return len(firings)


# --- Rules ---------------------------------------------------------------------------------------

EDITABLE = {
    "title_zh",
    "title_en",
    "detail_zh",
    "detail_en",
    "indicator",
    "source_label",
    "source_url",
    "evidence_level",
    "departments",
    "hooks",
    "parameters",
    "condition",
    "enabled",
}


def validate_rule_fields(values: dict[str, Any]) -> None:
    """Checks shared by the admin and the review page (CDSS-002 / CDSS-006)."""
    if "condition" in values:
        validate_expression(values.get("condition") or "")
    if "indicator" in values and values["indicator"] not in Indicator.values:
        raise InvalidRule(reason=_("unknown indicator"))
    if "parameters" in values and not isinstance(values["parameters"], dict):
        raise InvalidRule(reason=_("parameters must be a JSON object"))
    for name in ("departments", "hooks"):
        if name in values and (
            not isinstance(values[name], list) or not all(isinstance(v, str) for v in values[name])
        ):
            raise InvalidRule(reason=_("%(field)s must be a list of codes") % {"field": name})
    if "hooks" in values and not set(values["hooks"]) <= set(Hook.values):
        raise InvalidRule(reason=_("unknown hook"))


def new_rule_version(user: Any, key: str, changes: dict[str, Any], *, note: str = "") -> Rule:
    """Create version n+1 of rule ``key`` with ``changes`` and retire version n (kept)."""
    require_capability(user, "cdss.review")
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidRule(
            reason=_("fields that cannot be changed: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    validate_rule_fields(changes)
    with transaction.atomic():
        current = Rule.objects.select_for_update().filter(key=key, is_active=True).first()
        if current is None or not rule_in_scope(current, review_scope(user)):
            raise NotFound()
        latest = Rule.objects.filter(key=key).aggregate(v=Max("version"))["v"] or current.version
        Rule.objects.filter(pk=current.pk).update(is_active=False)
        values = {f: getattr(current, f) for f in EDITABLE | {"kind", "key"}}
        values.update(changes)
        rule = Rule.objects.create(
            **values,
            version=latest + 1,
            is_active=True,
            origin="edited",
            change_note=note[:300],
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        record(
            user,
            AuditAction.UPDATE,
            obj=rule,
            reason=note[:200],
            detail={
                "rule": key,
                "from_version": current.version,
                "to_version": rule.version,
                "fields": sorted(changes),
            },
        )
    return rule
