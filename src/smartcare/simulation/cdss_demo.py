"""Decision support in the demo year: the real rules asked about the demo encounters as the
workstation asks them (patient-view when the chart opens, order-sign with the visit's orders as
drafts), and the doctors' answers recorded at realistic rates: most critical cards followed, many
warnings overridden with a coded reason and a comment, information cards often left unanswered.
A followed card with a "remove the order" suggestion cancels that order, as at the workstation.

So the rule review page, the override reasons and the usage indicator show real figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import Counter
from typing import Any

from smartcare.cdss.choices import FeedbackOutcome, Indicator, OverrideReason, RuleKind
from smartcare.cdss.models import Consultation, RuleFiring
from smartcare.cdss.seed import load_rules
from smartcare.cdss.services import Card, evaluate
from smartcare.emr.choices import EncounterKind, OrderKind, OrderStatus
from smartcare.emr.models import Encounter, Observation, Order
from smartcare.emr.selectors import clinical_facts
from smartcare.simulation.registry import DemoContext, register_generator

ENCOUNTERS = 1200
CONSULTED = 0.88  # share of encounters in which the doctor's workstation consulted decision support
# Share of shown cards that got an answer, by indicator (information cards are often just read).
ANSWERED = {Indicator.CRITICAL: 0.95, Indicator.WARNING: 0.85, Indicator.INFO: 0.45}
# Share of answered cards that were followed (accepted), by kind and indicator; the rest overridden.
FOLLOWED: dict[str, float | dict[str, float]] = {
    RuleKind.DRUG_INTERACTION: {Indicator.CRITICAL: 0.6, Indicator.WARNING: 0.35, Indicator.INFO: 0.1},
    RuleKind.DRUG_ALLERGY: 0.85,
    RuleKind.DRUG_CONDITION: {Indicator.CRITICAL: 0.75, Indicator.WARNING: 0.45, Indicator.INFO: 0.3},
    RuleKind.DOSE_RANGE: 0.7,
    RuleKind.DUPLICATE_THERAPY: 0.55,
    RuleKind.REPEATED_EXAM: 0.45,
    RuleKind.MISSED_EXAM: 0.5,
    RuleKind.CUSTOM: 0.4,
    RuleKind.COVERAGE: 0.3,
}
# Why doctors override, by kind: (reason, weight, comment).
REASONS: dict[str, list[tuple[str, int, str]]] = {
    RuleKind.DRUG_INTERACTION: [
        (OverrideReason.BENEFIT_OUTWEIGHS_RISK, 45, "短期使用，获益大于风险，已告知患者"),
        (OverrideReason.ALREADY_MONITORED, 35, "已安排复查INR/血药浓度并监测"),
        (OverrideReason.PATIENT_TOLERATED, 15, "患者既往联用耐受良好"),
        (OverrideReason.NOT_APPLICABLE, 5, "低剂量，本例不适用"),
    ],
    RuleKind.DRUG_ALLERGY: [
        (OverrideReason.PATIENT_TOLERATED, 60, "既往使用同类药物无过敏反应，皮试阴性"),
        (OverrideReason.DATA_INCORRECT, 40, "过敏史记录有误，已核实"),
    ],
    RuleKind.DRUG_CONDITION: [
        (OverrideReason.BENEFIT_OUTWEIGHS_RISK, 60, "无替代药物，专科评估后使用"),
        (OverrideReason.ALREADY_MONITORED, 40, "减量使用并密切监测"),
    ],
    RuleKind.DOSE_RANGE: [
        (OverrideReason.BENEFIT_OUTWEIGHS_RISK, 50, "负荷剂量，次日减量"),
        (OverrideReason.DATA_INCORRECT, 50, "剂量单位录入有误，已更正"),
    ],
    RuleKind.DUPLICATE_THERAPY: [
        (OverrideReason.NOT_APPLICABLE, 50, "换药过渡期"),
        (OverrideReason.BENEFIT_OUTWEIGHS_RISK, 50, "短期联用"),
    ],
    RuleKind.REPEATED_EXAM: [
        (OverrideReason.NOT_APPLICABLE, 55, "病情变化，需复查"),
        (OverrideReason.BENEFIT_OUTWEIGHS_RISK, 30, "外院结果不能互认"),
        (OverrideReason.DATA_INCORRECT, 15, "上次结果标本不合格"),
    ],
    RuleKind.MISSED_EXAM: [
        (OverrideReason.PATIENT_DECLINED, 40, "患者拒绝今日检查"),
        (OverrideReason.ALREADY_MONITORED, 35, "已在外院检查"),
        (OverrideReason.NOT_APPLICABLE, 25, "本次就诊不适用"),
    ],
    RuleKind.CUSTOM: [
        (OverrideReason.BENEFIT_OUTWEIGHS_RISK, 60, "短期使用，已评估跌倒风险"),
        (OverrideReason.ALREADY_MONITORED, 40, "家属陪同，已告知注意事项"),
    ],
    RuleKind.COVERAGE: [(OverrideReason.NOT_APPLICABLE, 100, "中成药，已人工核对")],
}
CANCELLED_BY_ADVICE = "Not signed after decision support"


def _followed_share(kind: str, indicator: str) -> float:
    share = FOLLOWED.get(kind, 0.5)
    return share.get(indicator, 0.5) if isinstance(share, dict) else share


def _answer(rng: random.Random, card: Card, kind: str, at: dt.datetime) -> dict[str, Any] | None:
    """The doctor's answer to one card (``None``: the card was only read)."""
    indicator = Indicator(card.indicator)
    if rng.random() > ANSWERED[indicator]:
        return None
    if rng.random() < _followed_share(kind, indicator):
        accepted = [card.suggestions[0]["uuid"]] if card.suggestions else []
        return {"outcome": FeedbackOutcome.ACCEPTED, "accepted_suggestions": accepted, "feedback_at": at}
    options = REASONS.get(kind) or REASONS[RuleKind.CUSTOM]
    reason, _weight, comment = rng.choices(options, weights=[w for _r, w, _c in options])[0]
    return {
        "outcome": FeedbackOutcome.OVERRIDDEN,
        "override_reason": reason,
        # Doctors write a comment for about half of their overrides.
        "comment": comment if rng.random() < 0.5 else "",
        "feedback_at": at,
    }


def _removed_order(card: Card) -> int | None:
    for suggestion in card.suggestions:
        for action in suggestion.get("actions", []):
            if action.get("type") == "delete":
                for ref in action.get("resourceId", []):
                    pk = str(ref).rsplit("/", 1)[-1]
                    if pk.isdigit():
                        return int(pk)
    return None


def build_cdss(ctx: DemoContext) -> None:
    rng = ctx.rng
    load_rules()
    finished = list(
        # The outpatient visits (the usage indicator is about them; the inpatient stays of emr_demo
        # are not consulted here).
        Encounter.objects.filter(
            ended_at__isnull=False, attending__isnull=False, kind=EncounterKind.OUTPATIENT
        )
        .select_related("patient", "attending__user", "department")
        .order_by("pk")
    )
    chosen = sorted(rng.sample(finished, min(len(finished), ENCOUNTERS)), key=lambda e: e.pk)
    orders_by_encounter: dict[int, list[Order]] = {}
    for order in Order.objects.filter(encounter__in=[e.pk for e in chosen]).order_by("pk"):
        orders_by_encounter.setdefault(order.encounter_id, []).append(order)
    consultations = cards = answered = 0
    by_kind: Counter[str] = Counter()
    cancelled: list[int] = []
    for encounter in chosen:
        if rng.random() > CONSULTED or encounter.attending is None or encounter.ended_at is None:
            continue
        doctor = encounter.attending.user
        department = encounter.department.national_code_id or ""
        orders = orders_by_encounter.get(encounter.pk, [])
        signed_at = min((o.signed_at or o.ordered_at for o in orders), default=encounter.ended_at)
        opened_at = encounter.started_at or signed_at
        # One read of the record: the orders of the visit are the drafts being signed.
        facts = clinical_facts(
            encounter.patient,
            encounter=encounter,
            as_of=signed_at - dt.timedelta(seconds=1),
            draft_orders=orders,
        )
        chart = dataclasses.replace(
            facts,
            draft_medications=[],
            exam_orders=[e for e in facts.exam_orders if e.status != "draft"],
            as_of=opened_at,
        )
        asked = [("patient-view", chart, opened_at)]
        if orders:
            asked.append(("order-sign", facts, signed_at))
        for hook, hook_facts, at in asked:
            shown = evaluate(
                doctor,
                hook_facts,
                hook,
                department_code=department,
                patient=encounter.patient,
                encounter_ref=str(encounter.pk),
            )
            consultations += 1
            cards += len(shown)
            for card in shown:
                kind = card.extension["org.smartcare.rule"]["kind"]
                by_kind[kind] += 1
                answer = _answer(rng, card, kind, at + dt.timedelta(seconds=rng.randint(5, 90)))
                if answer is None:
                    continue
                answered += 1
                RuleFiring.objects.filter(card_uuid=card.uuid).update(feedback_by=doctor, **answer)
                removed = _removed_order(card) if hook == "order-sign" else None
                if answer["outcome"] == FeedbackOutcome.ACCEPTED and removed is not None:
                    cancelled.append(removed)
            # The consultations happened during the visit, not today.
            Consultation.objects.filter(encounter_ref=str(encounter.pk), hook=hook).update(at=at)
            RuleFiring.objects.filter(consultation__encounter_ref=str(encounter.pk), hook=hook).update(
                fired_at=at
            )
    # Followed advice: the order was not signed (and a cancelled test has no result).
    Order.objects.filter(pk__in=cancelled).update(
        status=OrderStatus.CANCELLED, end_reason=CANCELLED_BY_ADVICE, signed_at=None
    )
    Observation.objects.filter(
        order_id__in=cancelled, order__kind__in=[OrderKind.LAB, OrderKind.IMAGING]
    ).delete()
    kinds = ", ".join(f"{kind} {n}" for kind, n in by_kind.most_common())
    ctx.log(
        f"decision support: {consultations} consultations, {cards} cards ({kinds}), "
        f"{answered} answered by doctors, {len(set(cancelled))} orders not signed after advice"
    )


register_generator("cdss", build_cdss, order=50)
