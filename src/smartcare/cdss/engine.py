"""The rules engine: active rules indexed once, then evaluated against one ``ClinicalFacts``.

Each rule kind has one evaluator that reads only the facts, the rule's parameters and the
knowledge index. A rule fires at most once per request; its optional CEL condition is an extra
gate. ``evaluate_rules`` returns findings (rule + text + suggestions); ``services`` turns them into
cards and records them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Max
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from smartcare.cdss import clinical
from smartcare.cdss.choices import Hook, RuleKind
from smartcare.cdss.expressions import ConditionError, evaluate_condition, to_activation
from smartcare.cdss.fhir_context import KNOWLEDGE_SYSTEM
from smartcare.cdss.kb import KnowledgeIndex, knowledge_index
from smartcare.cdss.models import Rule
from smartcare.core import clock
from smartcare.emr.facts import ClinicalFacts, ExamOrder, Medication, Observation

logger = logging.getLogger(__name__)

ORDER_HOOKS = {Hook.ORDER_SELECT.value, Hook.ORDER_SIGN.value}


@dataclass
class Finding:
    rule: Rule
    summary: str
    detail: str
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    indicator: str = ""  # when the card's indicator is not the rule's
    # What the card is about, in codes and not in words (drug keys, exam codes, dates), so the same
    # card is recognised in either language (``services.card_identity``).
    subject: str = ""

    @property
    def card_indicator(self) -> str:
        return self.indicator or self.rule.indicator


@dataclass
class RuleSet:
    rules: list[Rule]
    interactions: dict[str, list[tuple[Rule, str]]]  # key -> (rule, the other key)
    by_kind: dict[str, list[Rule]]


_lock = threading.Lock()
_cached: tuple[tuple[object, ...], RuleSet] | None = None


def _rules_signature() -> tuple[object, ...]:
    found = Rule.objects.aggregate(n=Count("pk"), pk=Max("pk"), t=Max("updated_at"))
    return (found["n"], found["pk"], found["t"])


def _build_rule_set() -> RuleSet:
    rules = list(Rule.objects.filter(is_active=True, enabled=True).order_by("key"))
    interactions: dict[str, list[tuple[Rule, str]]] = {}
    by_kind: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.kind == RuleKind.DRUG_INTERACTION:
            a, b = rule.parameters.get("a", ""), rule.parameters.get("b", "")
            interactions.setdefault(a, []).append((rule, b))
            if a != b:
                interactions.setdefault(b, []).append((rule, a))
        else:
            by_kind.setdefault(rule.kind, []).append(rule)
    return RuleSet(rules, interactions, by_kind)


def active_rules() -> RuleSet:
    """Active, enabled rules, rebuilt only when a rule changed (any edit bumps the signature)."""
    global _cached
    signature = _rules_signature()
    with _lock:
        if _cached is not None and _cached[0] == signature:
            return _cached[1]
    rule_set = _build_rule_set()
    with _lock:
        _cached = (signature, rule_set)
    return rule_set


def forget_rules() -> None:
    global _cached
    with _lock:
        _cached = None


# --- The patient context, computed once per request ---------------------------------------------


class PatientContext:
    def __init__(
        self,
        facts: ClinicalFacts,
        hook: str,
        kb: KnowledgeIndex,
        department_code: str,
        *,
        egfr_max_age_days: int = clinical.EGFR_MAX_AGE_DAYS,
    ):
        self.facts = facts
        self.hook = hook
        self.kb = kb
        self.department = department_code or facts.department_code
        self.english = (get_language() or "zh-hans").lower().startswith("en")
        self.now = facts.as_of or clock.now()
        self.egfr_max_age_days = egfr_max_age_days
        self.renal = clinical.renal_function(facts, max_age_days=egfr_max_age_days)
        self.egfr = self.renal.egfr  # only a recent value; see clinical.renal_function
        self.weight = clinical.weight_kg(facts)
        self.all_meds = [*facts.medications, *facts.draft_medications]
        # Subjects: the drugs being ordered (order hooks) or the current list (patient view).
        self.subjects = list(facts.draft_medications) if hook in ORDER_HOOKS else list(facts.medications)
        self._drugs: dict[int, str] = {}
        self._keys: dict[int, frozenset[str]] = {}
        self._activation: dict[str, Any] | None = None

    def drug(self, med: Medication) -> str:
        """The drug key decision support recognises for ``med`` (by key, ATC code or the name as
        prescribed), or "" when it does not recognise it."""
        cached = self._drugs.get(id(med))
        if cached is None:
            cached = self.kb.resolve(med.drug, atc=med.atc, name=med.name)
            self._drugs[id(med)] = cached
        return cached

    def keys(self, med: Medication) -> frozenset[str]:
        cached = self._keys.get(id(med))
        if cached is None:
            cached = self.kb.keys_of(self.drug(med))
            self._keys[id(med)] = cached
        return cached

    def med_key(self, med: Medication) -> str:
        """The drug key, or the name as prescribed when it is not recognised (language-neutral)."""
        return self.drug(med) or (med.name or med.drug).strip().lower()

    def med_name(self, med: Medication) -> str:
        key = self.drug(med)
        return self.kb.name(key, self.english) if key else (med.name or med.drug)

    def join(self, names: Iterable[str]) -> str:
        return (", " if self.english else "、").join(names)

    def name(self, key: str) -> str:
        return self.kb.name(key, self.english)

    @property
    def activation(self) -> dict[str, Any]:
        if self._activation is None:
            facts = self.facts
            labs: dict[str, float] = {}
            for observation in sorted(
                facts.observations, key=lambda o: o.when or dt.datetime.min.replace(tzinfo=dt.UTC)
            ):
                if observation.value is not None:
                    labs[observation.code] = float(observation.value)
            classes = sorted({c for med in self.all_meds for c in self.kb.classes_of(self.drug(med))})
            self._activation = to_activation(
                {
                    "patient": {
                        "age_years": facts.age_years if facts.age_years is not None else -1,
                        "age_months": facts.age_months if facts.age_months is not None else -1,
                        "sex": facts.sex,
                        "pregnant": facts.pregnant,
                        "breastfeeding": facts.breastfeeding,
                        "weight_kg": float(self.weight) if self.weight is not None else -1.0,
                        "height_cm": float(facts.height_cm) if facts.height_cm is not None else -1.0,
                    },
                    "egfr": float(self.egfr) if self.egfr is not None else -1.0,
                    "conditions": [c.icd10 for c in facts.conditions if c.status == "active"],
                    "diseases": [c.disease for c in facts.conditions if c.disease and c.status == "active"],
                    "medications": [self.drug(m) for m in facts.medications if self.drug(m)],
                    "draft_medications": [self.drug(m) for m in facts.draft_medications if self.drug(m)],
                    "drug_classes": classes,
                    "allergies": [a.substance for a in facts.allergies if a.substance],
                    "labs": labs,
                    "department": self.department,
                }
            )
        return self._activation

    def has_condition(self, icd10: Iterable[str] = (), diseases: Iterable[str] = ()) -> Any:
        prefixes = tuple(code.upper() for code in icd10)
        wanted = set(diseases)
        for condition in self.facts.conditions:
            if condition.status not in ("active", "recurrence", "relapse"):
                continue
            if (prefixes and condition.icd10.upper().startswith(prefixes)) or (
                condition.disease and condition.disease in wanted
            ):
                return condition
        return None


def applies(rule: Rule, ctx: PatientContext) -> bool:
    if rule.hooks and ctx.hook not in rule.hooks:
        return False
    return not rule.departments or any(
        ctx.department == code or ctx.department.startswith(code + ".") for code in rule.departments
    )


def _delete_suggestion(
    ctx: PatientContext, med_or_order: Medication | ExamOrder, label: str
) -> dict[str, Any]:
    resource = "MedicationRequest" if isinstance(med_or_order, Medication) else "ServiceRequest"
    return {
        "label": label,
        "isRecommended": True,
        "actions": [
            {
                "type": "delete",
                "description": label,
                "resourceId": [f"{resource}/{med_or_order.order_id}"] if med_or_order.order_id else [],
            }
        ],
    }


def _fmt_date(when: dt.datetime | None) -> str:
    return when.date().isoformat() if when else "?"


# --- Evaluators ------------------------------------------------------------------------------------


def _interactions(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    """One card per pair of medications: the most specific rule wins (a drug's own keys come
    before its classes', so warfarin + aspirin is not shown again as warfarin + NSAIDs)."""
    findings: list[Finding] = []
    fired: set[int] = set()
    pairs: set[frozenset[int]] = set()
    for med in ctx.subjects:
        drug = ctx.drug(med)
        for key in sorted(ctx.keys(med), key=lambda k: (not k.startswith("drug:"), k)):
            for rule, other_key in rule_set.interactions.get(key, ()):
                if rule.pk in fired or not applies(rule, ctx):
                    continue
                # A class rule may leave out members for which it does not hold (low-dose aspirin).
                excluded = set(rule.parameters.get("exclude", ()))
                if drug in excluded:
                    continue
                for other in ctx.all_meds:
                    other_drug = ctx.drug(other)
                    if other is med or (other_drug and other_drug == drug) or other_drug in excluded:
                        continue
                    pair = frozenset((id(med), id(other)))
                    if other_key in ctx.keys(other) and pair not in pairs:
                        fired.add(rule.pk)
                        pairs.add(pair)
                        findings.append(_interaction_finding(rule, ctx, med, other))
                        break
    return findings


def _interaction_finding(rule: Rule, ctx: PatientContext, med: Medication, other: Medication) -> Finding:
    p = rule.parameters
    a, b = ctx.med_name(med), ctx.med_name(other)
    summary = _("Interaction: %(a)s + %(b)s") % {"a": a, "b": b}
    advice = (
        (p.get("management_en") or rule.detail_en)
        if ctx.english
        else (p.get("management_zh") or rule.detail_zh)
    )
    suggestion = _remove_label(a)
    detail = f"**{a}** + **{b}**\n\n{advice}"
    if p.get("provenance"):
        detail += f"\n\n_{p['provenance']}_"
    suggestions = [_delete_suggestion(ctx, med, suggestion)] if med.status == "draft" else []
    return Finding(rule, summary, detail, suggestions, subject=f"{ctx.med_key(med)}+{ctx.med_key(other)}")


def _remove_label(drug: str) -> str:
    return _("Remove the %(drug)s order") % {"drug": drug}


def _allergy_matches(ctx: PatientContext, allergens: list[str], words: list[str]) -> Any:
    for allergy in ctx.facts.allergies:
        keys = ctx.kb.keys_of(allergy.substance) if allergy.substance else frozenset()
        if keys & set(allergens):
            return allergy
        name = allergy.name.lower()
        if any(word.lower() in name for word in words):
            return allergy
    return None


def _drug_matches(
    ctx: PatientContext, med: Medication, keys: list[str], atc_prefixes: list[str], words: list[str]
) -> bool:
    if ctx.keys(med) & set(keys):
        return True
    if med.atc and atc_prefixes and med.atc.upper().startswith(tuple(atc_prefixes)):
        return True
    name = med.name.lower()
    return bool(words) and any(word.lower() in name for word in words)


def _allergies(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    findings: list[Finding] = []
    specific_hits: set[tuple[int, int]] = set()
    rules = sorted(
        rule_set.by_kind.get(RuleKind.DRUG_ALLERGY, []),
        key=lambda r: r.parameters.get("match") == "same_substance",
    )
    for rule in rules:
        if not applies(rule, ctx):
            continue
        p = rule.parameters
        for med in ctx.subjects:
            allergy = None
            if p.get("match") == "same_substance":
                if any(m == id(med) for m, _a in specific_hits):
                    continue
                for candidate in ctx.facts.allergies:
                    if candidate.substance and candidate.substance in ctx.keys(med):
                        allergy = candidate
                        break
                    if candidate.name and candidate.name.strip().lower() in {
                        med.name.lower(),
                        ctx.med_name(med).lower(),
                    }:
                        allergy = candidate
                        break
            elif _drug_matches(
                ctx, med, p.get("drugs", []), p.get("drug_atc_prefixes", []), p.get("drug_words", [])
            ):
                allergy = _allergy_matches(ctx, p.get("allergens", []), p.get("allergen_words", []))
            if allergy is None:
                continue
            specific_hits.add((id(med), id(allergy)))
            drug = ctx.med_name(med)
            allergen = ctx.name(allergy.substance) if allergy.substance else allergy.name
            summary = _("Allergy: %(drug)s ordered, patient allergic to %(allergen)s") % {
                "drug": drug,
                "allergen": allergen,
            }
            suggestion = _remove_label(drug)
            reaction = f" ({allergy.reaction})" if allergy.reaction else ""
            detail = f"**{allergen}**{reaction} → **{drug}**\n\n{rule.detail}"
            suggestions = [_delete_suggestion(ctx, med, suggestion)] if med.status == "draft" else []
            subject = f"{ctx.med_key(med)}|{allergy.substance or allergy.name.strip().lower()}"
            findings.append(Finding(rule, summary[:140], detail, suggestions, subject=subject))
            break
    return findings


def _condition_holds(ctx: PatientContext, when: dict[str, Any]) -> str | None:
    """A short description of why the condition holds, or None."""
    facts = ctx.facts
    reasons: list[str] = []
    if when.get("pregnant"):
        if not facts.pregnant:
            return None
        reasons.append(_("pregnancy"))
    if when.get("breastfeeding"):
        if not facts.breastfeeding:
            return None
        reasons.append(_("breastfeeding"))
    if "age_max" in when:
        if facts.age_years is None or facts.age_years > when["age_max"]:
            return None
        reasons.append(_("age %(years)s") % {"years": facts.age_years})
    if "age_min" in when:
        if facts.age_years is None or facts.age_years < when["age_min"]:
            return None
        reasons.append(_("age %(years)s") % {"years": facts.age_years})
    if "egfr_below" in when:
        if ctx.egfr is None or ctx.egfr >= when["egfr_below"]:
            return None
        reasons.append(f"eGFR {ctx.egfr:.0f} mL/min/1.73m²")
    if when.get("icd10") or when.get("diseases"):
        condition = ctx.has_condition(when.get("icd10", []), when.get("diseases", []))
        if condition is None:
            return None
        label = ctx.name(condition.disease) if condition.disease else (condition.name or condition.icd10)
        reasons.append(f"{label} ({condition.icd10})" if condition.icd10 else label)
    return ", ".join(reasons) if reasons else None


def _drug_conditions(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    findings: list[Finding] = []
    for rule in rule_set.by_kind.get(RuleKind.DRUG_CONDITION, []):
        if not applies(rule, ctx):
            continue
        p = rule.parameters
        drugs = set(p.get("drugs", []))
        med = next((m for m in ctx.subjects if ctx.keys(m) & drugs), None)
        if med is None:
            continue
        why = _condition_holds(ctx, p.get("when", {}))
        if why is None:
            continue
        drug = ctx.med_name(med)
        summary = f"{rule.title}: {drug} ({why})"
        detail = f"**{drug}** — {why}\n\n{rule.detail}"
        if p.get("provenance"):
            detail += f"\n\n_{p['provenance']}_"
        suggestion = _remove_label(drug)
        suggestions = [_delete_suggestion(ctx, med, suggestion)] if med.status == "draft" else []
        findings.append(Finding(rule, summary[:140], detail, suggestions, subject=ctx.med_key(med)))
    return findings


def _dose_ranges(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    findings: list[Finding] = []
    facts = ctx.facts
    for rule in rule_set.by_kind.get(RuleKind.DOSE_RANGE, []):
        if not applies(rule, ctx):
            continue
        p = rule.parameters
        for med in ctx.subjects:
            if p.get("drug") not in ctx.keys(med):
                continue
            single = clinical.dose_in_mg(med.dose, med.dose_unit)
            if single is None:
                continue
            daily = single * med.frequency_per_day if med.frequency_per_day else None
            child = facts.age_years is not None and facts.age_years < p.get("child_under_age", 12)
            limits = p.get("child", {}) if child and p.get("child") else p.get("adult", {})
            max_single = limits.get("max_single_mg")
            max_daily = limits.get("max_daily_mg")
            per_kg = child and bool(limits.get("mg_per_kg_single") or limits.get("mg_per_kg_daily"))
            basis = ""
            if per_kg and ctx.weight:
                if limits.get("mg_per_kg_single"):
                    by_weight = limits["mg_per_kg_single"] * ctx.weight
                    max_single = min(max_single, by_weight) if max_single else by_weight
                if limits.get("mg_per_kg_daily"):
                    by_weight = limits["mg_per_kg_daily"] * ctx.weight
                    max_daily = min(max_daily, by_weight) if max_daily else by_weight
                basis = f" ({ctx.weight:g} kg)"
            problems = []
            if max_single and single > max_single + 1e-9:
                problems.append(("single", single, max_single))
            if max_daily and daily is not None and daily > max_daily + 1e-9:
                problems.append(("daily", daily, max_daily))
            drug = ctx.med_name(med)
            if not problems:
                if per_kg and not ctx.weight:
                    findings.append(_weight_needed(rule, ctx, med, drug, limits))
                    break
                continue
            what, value, limit = problems[0]
            labels = {"single": _("single dose"), "daily": _("daily dose")}
            summary = _("Dose too high: %(drug)s %(what)s %(value)s mg > %(limit)s mg (%(who)s)") % {
                "drug": drug,
                "what": labels[what],
                "value": f"{value:g}",
                "limit": f"{limit:g}",
                "who": _("child") if child else _("adult"),
            }
            lines = [
                _("- %(what)s %(value)s mg exceeds the maximum %(limit)s mg%(basis)s")
                % {"what": labels[w], "value": f"{v:g}", "limit": f"{lim:g}", "basis": basis}
                for w, v, lim in problems
            ]
            if per_kg and not ctx.weight:
                lines.append(_("- no weight recorded: the dose per kg was not checked"))
            suggestion = _remove_label(drug)
            detail = "\n".join(lines) + f"\n\n{rule.detail}"
            suggestions = [_delete_suggestion(ctx, med, suggestion)] if med.status == "draft" else []
            subject = f"{ctx.med_key(med)}|{what}|{value:g}|{limit:g}"
            findings.append(Finding(rule, summary[:140], detail, suggestions, subject=subject))
            break
    return findings


def _weight_needed(
    rule: Rule, ctx: PatientContext, med: Medication, drug: str, limits: dict[str, Any]
) -> Finding:
    """A child's dose limited per kg cannot be checked without the weight: say so and ask for it."""
    per_kg = [
        _("%(mg)s mg/kg per dose") % {"mg": f"{limits['mg_per_kg_single']:g}"}
        if limits.get("mg_per_kg_single")
        else "",
        _("%(mg)s mg/kg per day") % {"mg": f"{limits['mg_per_kg_daily']:g}"}
        if limits.get("mg_per_kg_daily")
        else "",
    ]
    summary = _("Dose not checked: %(drug)s for a child needs the weight (mg/kg limit)") % {"drug": drug}
    detail = _(
        "The child's weight is not recorded, so the dose of **%(drug)s** could not be checked against "
        "its limit of %(limits)s; only the absolute maximum was checked. Record the weight and "
        "check the dose again."
    ) % {"drug": drug, "limits": ctx.join(p for p in per_kg if p)}
    return Finding(
        rule, summary[:140], detail, [], indicator=rule.indicator, subject=f"{ctx.med_key(med)}|weight"
    )


def _duplicates(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    findings: list[Finding] = []
    for rule in rule_set.by_kind.get(RuleKind.DUPLICATE_THERAPY, []):
        if not applies(rule, ctx):
            continue
        classes = set(rule.parameters.get("classes", []))
        members = [m for m in ctx.all_meds if ctx.keys(m) & classes]
        drugs = {ctx.drug(m) for m in members}
        subject = next((m for m in ctx.subjects if m in members), None)
        if len(drugs) < 2 or subject is None:
            continue
        names = sorted({ctx.med_name(m) for m in members})
        joined = " + ".join(names)
        summary = f"{rule.title}: {joined}"
        detail = f"**{joined}**\n\n{rule.detail}"
        label = _remove_label(ctx.med_name(subject))
        suggestions = [_delete_suggestion(ctx, subject, label)] if subject.status == "draft" else []
        about = "+".join(sorted({ctx.med_key(m) for m in members}))
        findings.append(Finding(rule, summary[:140], detail, suggestions, subject=about))
    return findings


def _exam_codes(ctx: PatientContext, code: str) -> set[str]:
    """An exam key or LOINC code with its equivalent in the other system."""
    codes = {code}
    if code.startswith("exam:") and code in ctx.kb.loinc_by_exam:
        codes.add(ctx.kb.loinc_by_exam[code])
    elif code in ctx.kb.exam_by_loinc:
        codes.add(ctx.kb.exam_by_loinc[code])
    return codes


def _repeated_exams(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    findings: list[Finding] = []
    drafts = [o for o in ctx.facts.exam_orders if o.status == "draft"]
    if not drafts:
        return findings
    for rule in rule_set.by_kind.get(RuleKind.REPEATED_EXAM, []):
        if not applies(rule, ctx):
            continue
        p = rule.parameters
        for order in drafts:
            codes = _exam_codes(ctx, order.exam)
            window = next(
                (p["windows"][c] for c in codes if c in p.get("windows", {})), p.get("window_days", 7)
            )
            since = ctx.now - dt.timedelta(days=window)
            previous: Observation | ExamOrder | None = None
            for observation in ctx.facts.observations:
                if (
                    observation.code in codes
                    and observation.when
                    and observation.when >= since
                    and (previous is None or observation.when > (previous.when or since))
                ):
                    previous = observation
            if previous is None:
                for earlier in ctx.facts.exam_orders:
                    if (
                        earlier is order
                        or earlier.status == "draft"
                        or earlier.status in ("cancelled", "revoked")
                    ):
                        continue
                    if _exam_codes(ctx, earlier.exam) & codes and earlier.when and earlier.when >= since:
                        previous = earlier
            if previous is None:
                continue
            name = order.name or previous.name
            when = _fmt_date(previous.when)
            if isinstance(previous, Observation) and previous.value is not None:
                result = f"{previous.value:g} {previous.unit}".strip() + (
                    f" ({previous.flag})" if previous.flag else ""
                )
            else:
                result = _("ordered, result pending")
            values = {"name": name, "when": when, "result": result, "days": window}
            summary = _("Repeat exam: %(name)s already done on %(when)s: %(result)s") % values
            detail = (
                _(
                    "**%(name)s** was done on **%(when)s** (within %(days)s days). Previous result: **%(result)s**."
                )
                % values
                + f"\n\n{rule.detail}"
            )
            label = _("Cancel the new %(name)s order") % values
            suggestions = [_delete_suggestion(ctx, order, label)]
            about = f"{order.exam}|{when}|{result if isinstance(previous, Observation) else 'ordered'}"
            findings.append(Finding(rule, summary[:140], detail, suggestions, subject=about))
    return findings


def _missed_exams(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    """Care gaps. On patient-view: any gap of the chart. When orders are being placed, only the gaps
    those orders make relevant: the monitoring test of a drug being ordered (warfarin -> INR), and
    a condition's missing test while the doctor is ordering tests anyway (add it to the order)."""
    findings: list[Finding] = []
    ordering = ctx.hook in ORDER_HOOKS
    ordering_tests = any(o.status == "draft" for o in ctx.facts.exam_orders)
    for rule in rule_set.by_kind.get(RuleKind.MISSED_EXAM, []):
        if not applies(rule, ctx):
            continue
        p = rule.parameters
        trigger = ctx.has_condition(p.get("icd10", []), p.get("diseases", []))
        trigger_name = trigger_key = ""
        if trigger is not None:
            trigger_key = trigger.icd10 or trigger.disease or trigger.name
            if ordering and not ordering_tests:
                continue
            trigger_name = ctx.name(trigger.disease) if trigger.disease else (trigger.name or trigger.icd10)
        else:
            drugs = set(p.get("drugs", []))
            pool = ctx.subjects if ordering else ctx.facts.medications
            med = next((m for m in pool if drugs and ctx.keys(m) & drugs), None)
            if med is None:
                continue
            trigger_name = ctx.med_name(med)
            trigger_key = ctx.med_key(med)
        if "age_min" in p and (ctx.facts.age_years is None or ctx.facts.age_years < p["age_min"]):
            continue
        since = ctx.now - dt.timedelta(days=p.get("days", 365))
        missing: list[str] = []
        missing_groups: list[dict[str, Any]] = []
        for group in p.get("exams", []):  # each group: codes of one test (any of them counts)
            codes = set()
            for code in group["codes"]:
                codes |= _exam_codes(ctx, code)
            done = any(o.code in codes and o.when and o.when >= since for o in ctx.facts.observations) or any(
                _exam_codes(ctx, order.exam) & codes
                and (order.status == "draft" or (order.when and order.when >= since))
                for order in ctx.facts.exam_orders
            )
            if not done:
                missing.append(group["name_en"] if ctx.english else group["name_zh"])
                missing_groups.append(group)
        if not missing:
            continue
        tests = ", ".join(missing) if ctx.english else "、".join(missing)
        months = round(p.get("days", 365) / 30.4)
        summary = _("Care gap: %(trigger)s without %(tests)s in %(months)s months") % {
            "trigger": trigger_name,
            "tests": tests,
            "months": months,
        }
        label = _("Order %(tests)s") % {"tests": tests}
        detail = f"{summary}\n\n{rule.detail}"
        suggestion = {
            "label": label,
            "isRecommended": True,
            # One draft ServiceRequest per missing test, coded in LOINC and as the smartcare exam (the
            # workstation orders that exam when the doctor accepts).
            "actions": [_exam_request(ctx, group, label) for group in missing_groups],
        }
        about = trigger_key + "|" + ",".join(g["codes"][0] for g in missing_groups)
        findings.append(Finding(rule, summary[:140], detail, [suggestion], subject=about))
    return findings


def _exam_request(ctx: PatientContext, group: dict[str, Any], label: str) -> dict[str, Any]:
    name = group["name_en"] if ctx.english else group["name_zh"]
    loinc = next((c for c in group["codes"] if c[:1].isdigit()), "")
    exam = next((c for c in group["codes"] if c.startswith("exam:")), "")
    coding = []
    if loinc:
        coding.append({"system": "http://loinc.org", "code": loinc, "display": group["name_en"]})
    if exam:
        coding.append({"system": KNOWLEDGE_SYSTEM, "code": exam, "display": name})
    return {
        "type": "create",
        "description": label,
        "resource": {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "code": {"coding": coding, "text": name},
            "subject": {"reference": f"Patient/{ctx.facts.patient_id}"},
        },
    }


def _custom(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    findings = []
    for rule in rule_set.by_kind.get(RuleKind.CUSTOM, []):
        if applies(rule, ctx) and rule.condition:
            findings.append(Finding(rule, rule.title[:140], rule.detail, subject=rule.key))
    return findings


def _coverage(rule_set: RuleSet, ctx: PatientContext) -> list[Finding]:
    """What decision support could not check, said on a card so nobody believes it was checked."""
    findings: list[Finding] = []
    for rule in rule_set.by_kind.get(RuleKind.COVERAGE, []):
        if not applies(rule, ctx):
            continue
        check = rule.parameters.get("check")
        found = None
        if check == "unrecognised_medication":
            found = _unrecognised(rule, ctx)
        elif check == "renal_function":
            found = _renal_function_unknown(rule_set, rule, ctx)
        if found is not None:
            findings.append(found)
    return findings


def _unrecognised(rule: Rule, ctx: PatientContext) -> Finding | None:
    names: list[str] = []
    raw: list[str] = []
    for med in ctx.all_meds:
        if not ctx.drug(med):
            name = med.name or med.drug or _("a medication without a name")
            if name not in names:
                names.append(name)
                raw.append(med.name or med.drug or "?")
    if not names:
        return None
    listed = ctx.join(names)
    summary = _("Not checked: %(drugs)s") % {"drugs": listed}
    detail = _(
        "Decision support did not recognise **%(drugs)s**: interactions, allergies, "
        "contraindications and doses were not checked for them. Order by generic name or with a "
        "code it knows (ATC, RxNorm), or check them yourself."
    ) % {"drugs": listed} + (f"\n\n{rule.detail}" if rule.detail else "")
    return Finding(rule, summary[:140], detail, subject="|".join(raw))


def _renal_function_unknown(rule_set: RuleSet, rule: Rule, ctx: PatientContext) -> Finding | None:
    """Drugs with eGFR rules ordered while the renal function is stale, not computable, or (for
    older or CKD patients) missing: the eGFR rules stayed silent, and the card says why."""
    renal = ctx.renal
    if renal.status == "known":
        return None
    p = rule.parameters
    if renal.status == "missing":
        age = ctx.facts.age_years
        older = age is not None and age >= p.get("missing_age_min", 65)
        if not older and ctx.has_condition(p.get("missing_icd10", ["N18"])) is None:
            return None
    drugs: list[str] = []
    keys: set[str] = set()
    for other in rule_set.by_kind.get(RuleKind.DRUG_CONDITION, []):
        if "egfr_below" not in other.parameters.get("when", {}) or not applies(other, ctx):
            continue
        wanted = set(other.parameters.get("drugs", []))
        for med in ctx.subjects:
            name = ctx.med_name(med)
            if ctx.keys(med) & wanted and name not in drugs:
                drugs.append(name)
                keys.add(ctx.med_key(med))
    if not drugs:
        return None
    values = {"drugs": ctx.join(drugs), "days": ctx.egfr_max_age_days, "date": _fmt_date(renal.when)}
    if renal.status == "stale" and renal.when is not None:
        summary = (
            _(
                "Renal function unknown: last kidney result %(date)s is older than %(days)s days; %(drugs)s not checked against eGFR"
            )
            % values
        )
    elif renal.status == "stale":
        summary = (
            _("Renal function unknown: the kidney result has no date; %(drugs)s not checked against eGFR")
            % values
        )
    elif renal.reason == "sex":
        summary = (
            _(
                "Renal function unknown: eGFR cannot be computed without the patient's sex; %(drugs)s not checked against eGFR"
            )
            % values
        )
    elif renal.reason == "child":
        summary = (
            _(
                "Renal function unknown: CKD-EPI does not apply to children, no reported eGFR; %(drugs)s not checked against eGFR"
            )
            % values
        )
    elif renal.reason == "age":
        summary = (
            _(
                "Renal function unknown: eGFR cannot be computed without the patient's age; %(drugs)s not checked against eGFR"
            )
            % values
        )
    else:
        summary = (
            _("Renal function unknown: no creatinine or eGFR result; %(drugs)s not checked against eGFR")
            % values
        )
    about = f"{renal.status}|{renal.reason}|{_fmt_date(renal.when)}|" + "+".join(sorted(keys))
    return Finding(rule, summary[:140], f"{summary}\n\n{rule.detail}", subject=about)


EVALUATORS: list[Callable[[RuleSet, PatientContext], list[Finding]]] = [
    _interactions,
    _allergies,
    _drug_conditions,
    _dose_ranges,
    _duplicates,
    _repeated_exams,
    _missed_exams,
    _custom,
    _coverage,
]


def _egfr_window(rule_set: RuleSet) -> int:
    for rule in rule_set.by_kind.get(RuleKind.COVERAGE, []):
        if rule.parameters.get("check") == "renal_function" and rule.parameters.get("max_age_days"):
            return int(rule.parameters["max_age_days"])
    return clinical.EGFR_MAX_AGE_DAYS


def record_condition_errors(errors: list[tuple[Rule, str]]) -> None:
    """Count run-time condition errors on the rule version that had them, and log them."""
    by_rule: dict[int, list[str]] = defaultdict(list)
    rules: dict[int, Rule] = {}
    for rule, message in errors:
        by_rule[rule.pk].append(message)
        rules[rule.pk] = rule
    now = clock.now()
    for pk, messages in by_rule.items():
        rule = rules[pk]
        logger.warning(
            "cdss: the condition of rule %s v%s failed %d time(s): %s",
            rule.key,
            rule.version,
            len(messages),
            messages[-1],
        )
        Rule.objects.filter(pk=pk).update(
            condition_errors=F("condition_errors") + len(messages),
            last_condition_error=messages[-1][:300],
            last_condition_error_at=now,
        )


def evaluate_rules(facts: ClinicalFacts, hook: str, *, department_code: str = "") -> list[Finding]:
    rule_set = active_rules()
    ctx = PatientContext(
        facts, hook, knowledge_index(), department_code, egfr_max_age_days=_egfr_window(rule_set)
    )
    findings: list[Finding] = []
    errors: list[tuple[Rule, str]] = []
    for evaluator in EVALUATORS:
        for finding in evaluator(rule_set, ctx):
            if finding.rule.condition:
                try:
                    holds = evaluate_condition(finding.rule.condition, ctx.activation)
                except ConditionError as exc:
                    errors.append((finding.rule, str(exc)))
                    continue
                if not holds:
                    continue
            findings.append(finding)
    if errors:
        record_condition_errors(errors)
    return findings
