"""Loads the shipped rules (``cdss/data/*.json`` plus the graph's interaction and contraindication
edges) after ``migrate``. Missing rule keys are created. A shipped rule nobody has edited (its
active version is still the shipped one) is brought up to the shipped content of a new release as
a new version; a rule edited in the admin or on the review page is never overwritten."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max

from smartcare.cdss.choices import Hook, Indicator, RuleKind
from smartcare.cdss.kb import drug_table
from smartcare.cdss.models import Rule
from smartcare.knowledge.choices import EdgeType
from smartcare.knowledge.models import Edge, Node

DATA = Path(__file__).parent / "data"
ORDER_HOOKS = [Hook.ORDER_SELECT.value, Hook.ORDER_SIGN.value]


@cache
def data_file(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return result


def _slug(key: str) -> str:
    return key.split(":", 1)[-1]


def _names(keys: list[str]) -> dict[str, tuple[str, str]]:
    """(Chinese, English) names of knowledge keys: the graph's, else decision support's drug table."""
    names = {
        key: (zh, en)
        for key, zh, en in Node.objects.filter(key__in=keys).values_list("key", "name_zh", "name_en")
    }
    for drug in drug_table()["drugs"]:
        if drug["key"] in keys:
            names.setdefault(drug["key"], (drug["name_zh"], drug["name_en"]))
    return names


def _is_onc(provenance: str) -> bool:
    return provenance.startswith("ONC high-priority")


def _interaction_specs() -> list[dict[str, Any]]:
    spec = data_file("interactions.json")
    indicators = spec["severity_indicator"]
    rules = []
    pairs: list[dict[str, Any]] = [
        {
            "a": a,
            "b": b,
            "a_names": (a_zh, a_en),
            "b_names": (b_zh, b_en),
            "severity": severity or "high",
            "management_zh": m_zh,
            "management_en": m_en,
            "provenance": provenance,
            # Label each edge with its real source: only the ONC pairs come from the ONC list.
            "source_label": spec["source_label"]
            if _is_onc(provenance)
            else spec["other_source_label"] % {"provenance": provenance},
            "source_url": spec["source_url"] if _is_onc(provenance) else "",
            "evidence_level": spec["evidence_level"] if _is_onc(provenance) else "label",
        }
        for a, b, a_zh, a_en, b_zh, b_en, severity, m_zh, m_en, provenance in Edge.objects.filter(
            type=EdgeType.INTERACTS_WITH
        ).values_list(
            "source__key",
            "target__key",
            "source__name_zh",
            "source__name_en",
            "target__name_zh",
            "target__name_en",
            "severity",
            "management_zh",
            "management_en",
            "provenance",
        )
    ]
    names = _names([k for p in spec["class_pairs"] for k in (p["a"], p["b"])])
    for pair in spec["class_pairs"]:
        if pair["a"] in names and pair["b"] in names:
            label = spec["class_rule_label"] % {"basis": pair["basis"]}
            pairs.append(
                {
                    **pair,
                    "a_names": names[pair["a"]],
                    "b_names": names[pair["b"]],
                    "provenance": label,
                    "source_label": label,
                    "source_url": pair.get("source_url", ""),
                    "evidence_level": pair.get("evidence_level", ""),
                }
            )
    for pair in pairs:
        a_zh, a_en = pair["a_names"]
        b_zh, b_en = pair["b_names"]
        parameters = {
            "a": pair["a"],
            "b": pair["b"],
            "severity": pair["severity"],
            "management_zh": pair["management_zh"],
            "management_en": pair["management_en"],
            "provenance": pair["provenance"],
        }
        if pair.get("exclude"):
            parameters["exclude"] = pair["exclude"]
        rules.append(
            {
                "kind": RuleKind.DRUG_INTERACTION,
                "key": f"ddi.{_slug(pair['a'])}.{_slug(pair['b'])}",
                "indicator": indicators.get(pair["severity"], Indicator.WARNING),
                "title_zh": f"药物相互作用：{a_zh} + {b_zh}",
                "title_en": f"Interaction: {a_en} + {b_en}",
                "detail_zh": pair["management_zh"],
                "detail_en": pair["management_en"],
                "source_label": pair["source_label"][:300],
                "source_url": pair["source_url"],
                "evidence_level": pair["evidence_level"][:40],
                "hooks": [],
                "parameters": parameters,
            }
        )
    return rules


def _contraindication_specs() -> list[dict[str, Any]]:
    spec = data_file("contraindications.json")
    graph = spec["graph"]
    rules = []
    edges = Edge.objects.filter(type=EdgeType.CONTRAINDICATED_IN).select_related("source", "target")
    for edge in edges:
        target = edge.target
        when: dict[str, Any]
        if target.key in graph["population_groups"]:
            when = dict(graph["population_groups"][target.key])
        elif target.type == "population_group" and target.max_age is not None:
            when = {"age_max": target.max_age}
        elif target.type == "disease":
            when = {"diseases": [target.key], "icd10": [target.icd10] if target.icd10 else []}
        else:
            continue
        rules.append(
            {
                "key": f"ci.{_slug(edge.source.key)}.{_slug(target.key)}",
                "kind": RuleKind.DRUG_CONDITION,
                "indicator": graph["indicator"],
                "title_zh": f"禁忌：{edge.source.name_zh}用于{target.name_zh}",
                "title_en": f"Contraindicated: {edge.source.name_en} in {target.name_en}",
                "detail_zh": f"{edge.source.name_zh}禁用或应避免用于{target.name_zh}。请选择替代药物。",
                "detail_en": f"{edge.source.name_en} should not be used in {target.name_en.lower()}. Choose an alternative.",
                "source_label": graph["source_label"],
                "evidence_level": "label",
                "hooks": [],
                "parameters": {"drugs": [edge.source.key], "when": when, "provenance": edge.provenance},
            }
        )
    for rule in spec["rules"]:
        params = {"drugs": rule["drugs"], "when": rule["when"]}
        rules.append(
            {
                **{k: v for k, v in rule.items() if k not in ("drugs", "when")},
                "kind": RuleKind.DRUG_CONDITION,
                "hooks": [],
                "parameters": params,
            }
        )
    return rules


def _dose_specs() -> list[dict[str, Any]]:
    spec = data_file("dose_ranges.json")
    names = _names(list(spec["drugs"]))
    rules = []
    for drug, limits in spec["drugs"].items():
        if drug not in names:
            continue
        rules.append(
            {
                "key": f"dose.{_slug(drug)}",
                "kind": RuleKind.DOSE_RANGE,
                "indicator": Indicator.WARNING,
                "title_zh": f"剂量范围：{names[drug][0]}",
                "title_en": f"Dose range: {names[drug][1]}",
                "detail_zh": "超过推荐最大剂量，请核对剂量、单位和频次。",
                "detail_en": "Above the recommended maximum: check the dose, unit and frequency.",
                "source_label": spec["source_label"],
                "evidence_level": spec["evidence_level"],
                "hooks": ORDER_HOOKS,
                "parameters": {"drug": drug, "child_under_age": 12, **limits},
            }
        )
    return rules


def _duplicate_specs() -> list[dict[str, Any]]:
    spec = data_file("duplicate_therapy.json")
    return [
        {
            "key": rule["key"],
            "kind": RuleKind.DUPLICATE_THERAPY,
            "indicator": rule["indicator"],
            "title_zh": rule["title_zh"],
            "title_en": rule["title_en"],
            "detail_zh": rule["detail_zh"],
            "detail_en": rule["detail_en"],
            "source_label": spec["source_label"],
            "evidence_level": spec["evidence_level"],
            "hooks": [],
            "parameters": {"classes": rule["classes"]},
        }
        for rule in spec["rules"]
    ]


def _exam_specs() -> list[dict[str, Any]]:
    spec = data_file("exams.json")
    repeated = spec["repeated"]
    rules = [{**repeated, "kind": RuleKind.REPEATED_EXAM, "hooks": ORDER_HOOKS}]
    for gap in spec["care_gaps"]:
        params = {k: gap[k] for k in ("icd10", "drugs", "days", "exams", "age_min") if k in gap}
        rules.append(
            {
                "key": gap["key"],
                "kind": RuleKind.MISSED_EXAM,
                "indicator": Indicator.INFO,
                "title_zh": gap["title_zh"],
                "title_en": gap["title_en"],
                "detail_zh": gap["detail_zh"],
                "detail_en": gap["detail_en"],
                "source_label": gap["source_label"],
                "evidence_level": gap["evidence_level"],
                # Every hook: at order time only the gaps the orders make relevant (engine).
                "hooks": [],
                "parameters": params,
            }
        )
    return rules


def _allergy_specs() -> list[dict[str, Any]]:
    return [
        {**rule, "kind": RuleKind.DRUG_ALLERGY, "hooks": []} for rule in data_file("allergies.json")["rules"]
    ]


def _coverage_specs() -> list[dict[str, Any]]:
    return [{**rule, "kind": RuleKind.COVERAGE} for rule in data_file("coverage.json")["rules"]]


def _custom_specs() -> list[dict[str, Any]]:
    return [{**rule, "kind": RuleKind.CUSTOM, "hooks": []} for rule in data_file("custom.json")["rules"]]


def rule_specs() -> list[dict[str, Any]]:
    return [
        *_interaction_specs(),
        *_allergy_specs(),
        *_contraindication_specs(),
        *_dose_specs(),
        *_duplicate_specs(),
        *_exam_specs(),
        *_custom_specs(),
        *_coverage_specs(),
    ]


FIELDS = {f.name for f in Rule._meta.get_fields()}
# What a new release may bring to a shipped rule nobody edited.
SHIPPED = (
    "kind",
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
)
SEED_ORIGIN = "seed"


def _spec_fields(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k in FIELDS}


def _shipped_changes(rule: Rule, spec: dict[str, Any]) -> list[str]:
    defaults = {"departments": [], "hooks": [], "parameters": {}, "condition": "", "source_url": ""}
    return [
        name
        for name in SHIPPED
        if (spec[name] if name in spec else defaults.get(name, getattr(rule, name))) != getattr(rule, name)
    ]


def load_rules() -> int:
    """Create every shipped rule whose key does not exist yet, and give every shipped rule whose
    active version is still the shipped one (never edited) a new version when the shipped content
    changed. Returns how many rule versions were created."""
    specs: dict[str, dict[str, Any]] = {}
    for spec in rule_specs():
        specs.setdefault(spec["key"], spec)
    with transaction.atomic():
        existing = set(Rule.objects.values_list("key", flat=True))
        latest = dict(Rule.objects.values_list("key").annotate(v=Max("version")))
        untouched = {
            rule.key: rule
            for rule in Rule.objects.filter(is_active=True, origin=SEED_ORIGIN).select_for_update()
        }
        new, retired = [], []
        for key, spec in specs.items():
            if key not in existing:
                new.append(Rule(**_spec_fields(spec), origin=SEED_ORIGIN))
                continue
            current = untouched.get(key)
            changed = _shipped_changes(current, spec) if current is not None else []
            if current is None or not changed:
                continue
            retired.append(current.pk)
            new.append(
                Rule(
                    **_spec_fields(spec),
                    version=(latest.get(key) or current.version) + 1,
                    enabled=current.enabled,
                    origin=SEED_ORIGIN,
                    change_note=("smartcare release: " + ", ".join(changed))[:300],
                )
            )
        Rule.objects.filter(pk__in=retired).update(is_active=False)
        Rule.objects.bulk_create(new, batch_size=500)
    return len(new)


def load_rules_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    if not Node.objects.using(using).filter(type="drug").exists():
        return
    load_rules()
