"""The triage engine: free text in, emergency advice or the three best departments out.

Steps, in order:

1. **Extraction.** Findings (symptoms and signs), diseases, departments and population words
   are found in the text with the graph's dictionary (``lexicon.py``), each with its negation.
   Answers to follow-up questions add or deny findings. Age and pregnancy stated in the text
   fill what the form left empty.
2. **Red flags** are checked first and override everything: "call 120" or "go to emergency now",
   with the reason and first aid.
3. **Graph evidence.** Each disease is scored naive-Bayes style from the findings present
   (its typical frequency) and absent (one minus it); the posterior flows to the disease's
   departments by rank.
4. **Text classifier** (``model.py``) gives each department a probability for the whole text.
5. The two are blended; **population rules** then apply: children's general problems go to
   Pediatrics (surgical ones to Pediatric Surgery, newborns to Neonatology), adults never to
   children's departments, men never to women's departments, pregnancy to Obstetrics first.
6. When the best two departments are close, the engine asks the one follow-up question whose
   finding best separates them.

Every answer carries its explanation: findings, likely conditions, and why each department.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from smartcare.triage import model as text_model
from smartcare.triage.graph import Graph, fingerprint, load_graph
from smartcare.triage.intents import load_intents
from smartcare.triage.lexicon import Lexicon, Mention, Term
from smartcare.triage.measurements import readings
from smartcare.triage.types import (
    ConditionScore,
    DepartmentSuggestion,
    Finding,
    FollowUp,
    RedFlagHit,
    TriageRequest,
    TriageResult,
    WarnedCondition,
)

EMERGENCY = "20"
PEDIATRICS, NEONATOLOGY, PEDIATRIC_SURGERY = "07", "07.01", "08"
OBSTETRICS = "05.02"
GERIATRICS = "03.10"
ABSENT_PROBABILITY = 0.08  # P(finding | disease) when the graph does not list it: lists are short
SPECIFIC_DISCOUNT = 0.8  # "headache" as evidence for a disease listed with "one-sided headache"
EMERGENCY_PRIOR = -1.0  # log prior of conditions seen first in emergency or intensive care:
# they are reached through the red flags, not through outpatient scoring
# Exponent that makes the classifier's probabilities calibrated: it minimises the log loss on
# a fresh set of generated texts (seed 11; 1, 2, 4, 8 and 16 tried; 4 best).
CLASSIFIER_SHARPNESS = 4
GRAPH_WEIGHT = 0.6  # share of the graph in the blend when the text named findings
RANK_WEIGHT = {1: 1.0, 2: 0.35, 3: 0.2}
CLOSE_RATIO = 0.6  # the runner-up within this ratio of the best: ask a question
MAX_QUESTIONS = 3
RED_FLAG_CONDITIONS = 4  # conditions named in an emergency answer's explanation, at most
NAMED_DEPARTMENT_WEIGHT = 0.5  # "想挂皮肤科"
INTENT_WEIGHT = 0.35  # a service asked for: "想打流感疫苗", "acupuncture"
# Departments patients are not sent to from triage: anaesthesia, intensive care, laboratory,
# pathology and imaging (their services are ordered by a clinician).
NOT_FOR_TRIAGE = ("26", "28", "30", "31", "32")
CHILD_TO_PEDIATRICS = ("02", "03", "16", "17")  # prefixes of general medical departments
CHILD_TO_PEDIATRIC_SURGERY = ("04.01", "04.04")

AGE_PATTERNS = [
    (re.compile(r"(\d{1,3})\s*(?:周岁|岁)"), 12),
    (re.compile(r"(\d{1,2})\s*个月"), 1),
    (re.compile(r"(\d{1,3})[\s-]*(?:years?|yrs?)[\s-]*old"), 12),
    (re.compile(r"(\d{1,2})[\s-]*months?[\s-]*old"), 1),
    (re.compile(r"\b(?:i am|i'm|im|aged|age)\s+(\d{1,3})\b"), 12),
]
NEWBORN = re.compile(
    r"新生儿|刚出生|出生\d*天|满月|\d+\s*天大|newborn|new-born|\d+[\s-]*(?:days?|weeks?)[\s-]*old"
)
# Pregnancy, and the weeks after birth (obstetrics looks after both).
PREGNANT_TEXT = re.compile(
    r"孕\s*\d+\s*(?:周|个月)|怀孕\s*\d+|孕早期|孕中期|孕晚期|早孕|怀孕了|身孕|\d+\s*weeks?\s*pregnant|pregnan|"
    r"产后|剖腹产|剖宫产|顺产|坐月子|月子里|postpartum|after giving birth|gave birth|c-section"
)
NOT_PREGNANT = re.compile(
    r"没怀孕|没有怀孕|未孕|不是怀孕|not pregnant|never been pregnant|"
    r"想怀孕|备孕|怀不上|要孩子|试管|trying to (?:get pregnant|conceive)|can'?t get pregnant|get pregnant"
)
ZH_CLOSE_TO = "、"


@dataclass
class Extraction:
    present: dict[str, Mention] = field(default_factory=dict)
    negated: dict[str, Mention] = field(default_factory=dict)
    diseases: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)  # department codes named in the text
    intents: list[str] = field(default_factory=list)  # codes of departments whose service was asked for
    body_parts: list[str] = field(default_factory=list)
    pregnant_words: bool = False


class Engine:
    """One graph snapshot, its dictionary and its classifier. Thread-safe for reading."""

    def __init__(self, graph: Graph, labelled: list[text_model.Example] | None = None):
        self.graph = graph
        self.lexicon = self._build_lexicon(graph)
        self.lexicon.prepare()
        self.classifier, self.model_version = text_model.load_or_train(graph, labelled or [])
        self.classes: list[str] = [str(c) for c in self.classifier.classes_]
        self.evidence = self._finding_evidence(graph)
        self.questions = [q for q in graph.questions if q.symptom.key in graph.concepts]
        self.labelled_version = ""
        self.pregnancy_flags = {f.key for f in graph.red_flags if f.pregnant}
        # Who each department serves, from the graph's ``serves`` edges (children 0-14 -> 07, 08,
        # 09; newborns -> 07.01; women -> 05, 05.01, 06; pregnant women -> 05.02; 60+ -> 03.10).
        self.children_only = graph.departments_only_for(
            lambda g: g.max_age is not None and g.max_age <= 14, "age"
        )
        self.women_only = graph.departments_only_for(lambda g: g.sex == "female", "sex")
        self.older_only = graph.departments_only_for(
            lambda g: g.min_age is not None and g.min_age >= 60, "age"
        )

    @staticmethod
    def _build_lexicon(graph: Graph) -> Lexicon:
        lexicon = Lexicon()
        order = {
            "symptom": 0,
            "sign": 0,
            "disease": 1,
            "department": 2,
            "population_group": 3,
            "body_part": 4,
        }
        for concept in sorted(graph.concepts.values(), key=lambda c: order.get(c.type, 9)):
            if concept.type not in order:
                continue
            term = Term(concept.key, concept.type)
            for surface in [concept.name_zh, concept.name_en, *concept.synonyms_zh, *concept.synonyms_en]:
                lexicon.add(surface, term)
        for intent in load_intents():
            term = Term(f"{intent.key}@{intent.code}", "intent")
            for surface in [*intent.phrases_zh, *intent.phrases_en]:
                lexicon.add(surface, term)
        return lexicon

    def _finding_evidence(self, graph: Graph) -> dict[str, dict[str, float]]:
        """Finding -> {disease: P(finding | disease)}, where a general finding ("头痛", "chest
        pain") also stands for the more specific findings whose names contain it ("偏头痛",
        "crushing chest pain"), at a discount."""
        findings = [c for c in graph.concepts.values() if c.type in ("symptom", "sign")]
        zh_forms = {c.key: [f for f in [c.name_zh, *c.synonyms_zh] if len(f) >= 2] for c in findings}
        en_names = {c.key: set(c.name_en.lower().split()) for c in findings}
        evidence: dict[str, dict[str, float]] = {}
        self.generalisations: dict[str, set[str]] = {}  # specific finding -> the general ones it implies
        for general in findings:
            table = dict(graph.by_finding.get(general.key, []))
            for specific in findings:
                if specific.key == general.key:
                    continue
                names = [specific.name_zh, *specific.synonyms_zh]
                by_zh = any(form in name for form in zh_forms[general.key] for name in names)
                words = en_names[general.key]
                by_en = len(words) >= 1 and words < en_names[specific.key]
                if not (by_zh or by_en):
                    continue
                self.generalisations.setdefault(specific.key, set()).add(general.key)
                for disease, frequency in graph.by_finding.get(specific.key, []):
                    table[disease] = max(table.get(disease, 0.0), SPECIFIC_DISCOUNT * frequency)
            if table:
                evidence[general.key] = table
        return evidence

    # --- the steps -----------------------------------------------------------------------------

    def extract(self, text: str) -> Extraction:
        result = Extraction()
        mentions = self.lexicon.find(text)
        for reading in readings(text):
            if reading.finding in self.graph.concepts:
                mentions.append(Mention(reading.finding, "sign", reading.surface, reading.start, reading.end))
        for mention in mentions:
            kind = mention.kind
            if kind in ("symptom", "sign"):
                target = result.negated if mention.negated else result.present
                target.setdefault(mention.key, mention)
            elif kind == "disease" and not mention.negated:
                # A surface form that is both a finding and a disease counts as the finding.
                if not any(m.start == mention.start for m in result.present.values()):
                    result.diseases.append(mention.key)
            elif kind == "department" and not mention.negated:
                code = self.graph.concepts[mention.key].code
                if code and code not in result.departments:
                    result.departments.append(code)
            elif kind == "intent" and not mention.negated:
                code = mention.key.rsplit("@", 1)[1]
                if code not in result.intents:
                    result.intents.append(code)
            elif kind == "body_part" and not mention.negated:
                result.body_parts.append(mention.key)
            elif (
                kind == "population_group" and mention.key.endswith("pregnant_women") and not mention.negated
            ):
                result.pregnant_words = True
        for key in list(result.negated):
            if key in result.present:  # "no fever yesterday, fever today": present wins
                del result.negated[key]
        return result

    def triage(self, request: TriageRequest) -> TriageResult:
        started = time.perf_counter()
        text = (request.text or "").strip()
        extraction = self.extract(text)
        present = set(extraction.present)
        negated = set(extraction.negated)
        for question_key, answer in request.answers.items():
            question = next((q for q in self.questions if q.key == question_key), None)
            if question is None:
                continue
            symptom = question.symptom.key
            (present if answer else negated).add(symptom)
            (negated if answer else present).discard(symptom)
        age, months = _age(request, text)
        pregnant = _pregnant(request, text, extraction)
        sex = request.sex or ""

        findings = [self._finding(k, extraction.present.get(k)) for k in sorted(present)]
        denied = [self._finding(k, extraction.negated.get(k), negated=True) for k in sorted(negated)]
        result = TriageResult(status="departments", findings=findings, negated=denied)
        result.model_version = f"{self.graph.version}/{self.model_version}"

        # A specific finding implies its general one for the red flags: 高烧不退 is a fever, 站起来就头晕
        # is dizziness.
        implied = set(present)
        for finding in present:
            implied |= self.generalisations.get(finding, set()) - negated
        flags = self.red_flags(implied, age, months, pregnant)
        conditions = self.disease_posterior(present, negated, extraction, age, sex, pregnant)
        scores, reasons = self.department_scores(text, conditions, extraction, present)
        rules = self.apply_population_rules(scores, reasons, age, months, sex, pregnant, text, extraction)
        result.rules = rules
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        if flags:
            result.status = "emergency"
            result.red_flags = flags
            result.action = "call_120" if any(f.action == "call_120" for f in flags) else "emergency"
            # Pregnancy emergencies go to the obstetric emergency service first.
            first = OBSTETRICS if any(f.key in self.pregnancy_flags for f in flags) else EMERGENCY
            ranked = [(first, 1.0)] + [(c, s) for c, s in ranked if c != first]
            if first != EMERGENCY:
                ranked.insert(1, (EMERGENCY, 0.99))
            reasons[first] = [
                _reason(
                    "red_flag", names=[f"{f.name_zh}" for f in flags], names_en=[f.name_en for f in flags]
                )
            ]
            warned = list({c.key: c for f in flags for c in f.conditions}.values())[:RED_FLAG_CONDITIONS]
            if warned:
                reasons[first].append(
                    _reason(
                        "red_flag_conditions",
                        conditions=[c.name_zh for c in warned],
                        conditions_en=[c.name_en for c in warned],
                    )
                )
        result.departments = [
            self._suggestion(code, score, conditions, reasons.get(code, []))
            for code, score in ranked[:3]
            if score > 0
        ]
        if not flags:
            if (
                not present
                and not extraction.diseases
                and not extraction.departments
                and (not ranked or ranked[0][1] < 0.2)
            ):
                result.status = "unclear"
            else:
                follow_up = self.follow_up(present, negated, request.answers, conditions, ranked)
                if follow_up is not None:
                    result.status = "question"
                    result.question = follow_up
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result

    def red_flags(
        self, present: set[str], age: int | None, months: int | None, pregnant: bool
    ) -> list[RedFlagHit]:
        hits = []
        for flag in self.graph.red_flags:
            if flag.all_of and not set(flag.all_of) <= present:
                continue
            if flag.any_of and not set(flag.any_of) & present:
                continue
            # A baby whose age in months is unknown is treated as possibly the youngest: sensitive.
            if flag.max_age_months is not None and not (
                (months is not None and months <= flag.max_age_months) or (months is None and age == 0)
            ):
                continue
            if flag.min_age is not None and (age is None or age < flag.min_age):
                continue
            if flag.pregnant and not pregnant:
                continue
            hits.append(
                RedFlagHit(
                    key=flag.key,
                    name_zh=flag.name_zh,
                    name_en=flag.name_en,
                    action=flag.action,
                    reason_zh=flag.reason_zh,
                    reason_en=flag.reason_en,
                    findings=sorted((set(flag.all_of) | set(flag.any_of)) & present),
                    conditions=[
                        WarnedCondition(c.key, c.name_zh, c.name_en)
                        for c in flag.conditions.all()
                        if c.is_active
                    ],
                )
            )
        hits.sort(key=lambda f: f.action != "call_120")
        return hits

    def disease_posterior(
        self,
        present: set[str],
        negated: set[str],
        extraction: Extraction,
        age: int | None,
        sex: str,
        pregnant: bool = False,
    ) -> dict[str, tuple[float, list[str]]]:
        """Disease -> (posterior, supporting findings), over diseases with any evidence."""
        candidates: dict[str, list[str]] = defaultdict(list)
        for finding in present:
            for disease in self.evidence.get(finding, {}):
                candidates[disease].append(finding)
        for disease in extraction.diseases:
            candidates.setdefault(disease, [])
        if not candidates:
            return {}
        parts = set(extraction.body_parts)
        logs: dict[str, float] = {}
        for disease, _matched in candidates.items():
            info = self.graph.diseases.get(disease)
            if info is None:
                continue
            value = EMERGENCY_PRIOR if info.departments[0][0] in ("20", "28") else 0.0
            for finding in present:
                value += math.log(max(self.evidence.get(finding, {}).get(disease, 0.0), ABSENT_PROBABILITY))
            for finding in negated:
                value += math.log(max(1.0 - self.evidence.get(finding, {}).get(disease, 0.0), 0.05))
            if disease in extraction.diseases:
                value += 4.0  # the patient named the condition
            if parts and info.body_parts & parts:
                value += 0.7
            if not self.fits(info.departments, age, sex, pregnant):
                value -= 3.0
            logs[disease] = value
        if not logs:
            return {}
        top = max(logs.values())
        weights = {d: math.exp(v - top) for d, v in logs.items()}
        total = sum(weights.values())
        return {d: (w / total, sorted(candidates[d])) for d, w in weights.items() if w / total >= 0.005}

    def department_scores(
        self,
        text: str,
        conditions: dict[str, tuple[float, list[str]]],
        extraction: Extraction,
        present: set[str],
    ) -> tuple[dict[str, float], dict[str, list[dict[str, Any]]]]:
        reasons: dict[str, list[dict[str, Any]]] = defaultdict(list)
        graph_scores: dict[str, float] = defaultdict(float)
        for disease, (probability, _) in conditions.items():
            departments = self.graph.diseases[disease].departments
            norm = sum(RANK_WEIGHT.get(rank, 0.1) for _, rank in departments)
            for code, rank in departments:
                graph_scores[code] += probability * RANK_WEIGHT.get(rank, 0.1) / norm
        model_scores = self.calibrated_scores(text) if text else {}
        has_graph = bool(graph_scores)
        weight = GRAPH_WEIGHT if has_graph else 0.0
        scores: dict[str, float] = defaultdict(float)
        for code, value in graph_scores.items():
            scores[code] += weight * value
        for code, value in model_scores.items():
            scores[code] += (1 - weight) * value
        for code in extraction.departments:
            scores[code] += NAMED_DEPARTMENT_WEIGHT
            reasons[code].append(_reason("named_department"))
        for code in extraction.intents:
            scores[code] += INTENT_WEIGHT
            reasons[code].append(_reason("intent"))
        for code in list(scores):
            if code.startswith(NOT_FOR_TRIAGE):
                del scores[code]
        for code, value in graph_scores.items():
            supporting = [
                d for d, (p, _) in sorted(conditions.items(), key=lambda i: -i[1][0])
                if any(c == code for c, _ in self.graph.diseases[d].departments)
            ][:3]  # fmt: skip
            if supporting and value >= 0.05:
                matched = sorted({f for d in supporting for f in conditions[d][1]})
                reasons[code].append(
                    _reason(
                        "graph",
                        names=[self.graph.name(k, False) for k in matched],
                        names_en=[self.graph.name(k, True) for k in matched],
                        conditions=[self.graph.name(d, False) for d in supporting],
                        conditions_en=[self.graph.name(d, True) for d in supporting],
                    )
                )
        for code, value in model_scores.items():
            if value >= 0.1:
                reasons[code].append(_reason("model", percent=round(value * 100)))
        return dict(scores), reasons

    def apply_population_rules(
        self,
        scores: dict[str, float],
        reasons: dict[str, list[dict[str, Any]]],
        age: int | None,
        months: int | None,
        sex: str,
        pregnant: bool,
        text: str,
        extraction: Extraction,
    ) -> list[str]:
        applied: list[str] = []

        def move(source: str, target: str, rule: str) -> None:
            if scores.get(source, 0) <= 0:
                return
            scores[target] = scores.get(target, 0) + scores.pop(source)
            reasons[target].extend(reasons.pop(source, []))
            if rule not in applied:
                applied.append(rule)
            if not any(r["kind"] == rule for r in reasons[target]):
                reasons[target].insert(0, _reason(rule))

        if age is not None and age <= 14:
            newborn = (months is not None and months < 1) or bool(NEWBORN.search(text.lower()))
            for code in list(scores):
                if code.startswith(CHILD_TO_PEDIATRICS):
                    move(code, PEDIATRICS, "children")
                elif code.startswith(CHILD_TO_PEDIATRIC_SURGERY):
                    move(code, PEDIATRIC_SURGERY, "children_surgery")
            if newborn and age == 0:
                move(PEDIATRICS, NEONATOLOGY, "newborn")
            for code in list(scores):
                if code in self.women_only or code in self.older_only:
                    scores.pop(code)
        elif age is not None:
            for code in list(scores):
                if code in self.children_only or (age < 60 and code in self.older_only):
                    scores.pop(code)
        if sex == "male":
            for code in list(scores):
                if code in self.women_only:
                    scores.pop(code)
        if pregnant and sex != "male":
            best = max(scores.values(), default=0.0)
            scores[OBSTETRICS] = max(scores.get(OBSTETRICS, 0.0), best * 1.05 + 0.01)
            reasons[OBSTETRICS].insert(0, _reason("pregnancy"))
            applied.append("pregnancy")
        if age is not None and age >= 60 and len(set(extraction.diseases)) >= 2:
            best = max(scores.values(), default=0.0)
            scores[GERIATRICS] = max(scores.get(GERIATRICS, 0.0), best * 0.9)
            reasons[GERIATRICS].insert(0, _reason("older_adults"))
            applied.append("older_adults")
        return applied

    def follow_up(
        self,
        present: set[str],
        negated: set[str],
        answers: dict[str, bool],
        conditions: dict[str, tuple[float, list[str]]],
        ranked: list[tuple[str, float]],
    ) -> FollowUp | None:
        if len(ranked) < 2 or len(answers) >= MAX_QUESTIONS or not conditions:
            return None
        (first, best), (second, runner_up) = ranked[0], ranked[1]
        if best <= 0 or runner_up / best < CLOSE_RATIO:
            return None

        def expected(code: str, finding: str) -> float:
            total = weighted = 0.0
            for disease, (probability, _) in conditions.items():
                if any(c == code for c, _ in self.graph.diseases[disease].departments):
                    total += probability
                    weighted += probability * self.graph.diseases[disease].findings.get(finding, 0.0)
            return weighted / total if total else 0.0

        best_question, best_gap = None, 0.15
        for question in self.questions:
            finding = question.symptom.key
            if question.key in answers or finding in present or finding in negated:
                continue
            gap = abs(expected(first, finding) - expected(second, finding))
            if question.context and set(question.context) & present:
                gap += 0.1
            if gap > best_gap:
                best_question, best_gap = question, gap
        if best_question is None:
            return None
        return FollowUp(
            key=best_question.key,
            question_zh=best_question.question_zh,
            question_en=best_question.question_en,
            symptom=best_question.symptom.key,
            separates=[first, second],
        )

    def calibrated_scores(self, text: str) -> dict[str, float]:
        """Classifier probabilities sharpened to be calibrated (naive Bayes spreads them thin)."""
        raw = self.triage_text_scores(text)
        powered = {code: value**CLASSIFIER_SHARPNESS for code, value in raw.items()}
        total = sum(powered.values()) or 1.0
        return {code: value / total for code, value in powered.items()}

    def triage_text_scores(self, text: str) -> dict[str, float]:
        """The classifier's probability per department for a text (for evaluation and tests)."""
        return {
            c: float(p) for c, p in zip(self.classes, self.classifier.predict_proba([text])[0], strict=True)
        }

    def fits(self, departments: list[tuple[str, int]], age: int | None, sex: str, pregnant: bool) -> bool:
        """Whether a disease can be this patient's: no children's diseases in adults, no women's
        diseases in men, no conditions of pregnancy outside pregnancy."""
        codes = [c for c, _ in departments]
        if age is not None and age >= 15 and all(c in self.children_only for c in codes):
            return False
        if sex == "male" and all(c in self.women_only for c in codes):
            return False
        return pregnant or codes[0] != OBSTETRICS

    # --- presentation ----------------------------------------------------------------------------

    def _finding(self, key: str, mention: Mention | None, negated: bool = False) -> Finding:
        concept = self.graph.concepts.get(key)
        return Finding(
            key=key,
            name_zh=concept.name_zh if concept else key,
            name_en=concept.name_en if concept else key,
            negated=negated,
            surface=mention.surface if mention else "",
            from_answer=mention is None,
        )

    def _suggestion(
        self,
        code: str,
        score: float,
        conditions: dict[str, tuple[float, list[str]]],
        reasons: list[dict[str, Any]],
    ) -> DepartmentSuggestion:
        zh, en = self.graph.department_names.get(code, (code, code))
        likely: list[ConditionScore] = []
        for disease, (probability, matched) in sorted(conditions.items(), key=lambda i: -i[1][0]):
            info = self.graph.diseases[disease]
            if any(c == code for c, _ in info.departments) and len(likely) < 3:
                concept = self.graph.concepts[disease]
                likely.append(
                    ConditionScore(
                        disease,
                        concept.name_zh,
                        concept.name_en,
                        concept.icd10,
                        round(probability, 3),
                        matched,
                    )
                )
        texts = [_render(r) for r in reasons]
        return DepartmentSuggestion(
            code=code,
            name_zh=zh,
            name_en=en,
            score=round(min(score, 1.0), 3),
            conditions=likely,
            reasons_zh=[t[0] for t in texts],
            reasons_en=[t[1] for t in texts],
        )


# --- helpers -------------------------------------------------------------------------------------


def _age(request: TriageRequest, text: str) -> tuple[int | None, int | None]:
    """Age in years and, for babies, in months: from the form, else from the text."""
    age, months = request.age, request.age_months
    lowered = text.lower()
    stated_years = stated_months = None
    for pattern, factor in AGE_PATTERNS:
        match = pattern.search(lowered)
        if match:
            value = int(match.group(1))
            if factor == 1:
                stated_months = value
            else:
                stated_years = value
            break
    if NEWBORN.search(lowered) and stated_months is None and stated_years is None:
        stated_months = 0
    if age is None:
        age = (
            stated_years
            if stated_years is not None
            else (stated_months // 12 if stated_months is not None else None)
        )
    if months is None:
        if stated_months is not None and (age is None or stated_months // 12 == age):
            months = stated_months
        elif age is not None and age > 0:
            months = age * 12
    if age is None and months is not None:
        age = months // 12
    return age, months


def _pregnant(request: TriageRequest, text: str, extraction: Extraction) -> bool:
    if request.pregnant is not None:
        return request.pregnant
    if request.sex == "male" or (request.age is not None and (request.age < 10 or request.age > 60)):
        return False
    lowered = text.lower()
    if NOT_PREGNANT.search(lowered):
        return False
    return extraction.pregnant_words or bool(PREGNANT_TEXT.search(lowered))


REASONS = {
    "graph": (
        "症状（{names}）常见于{conditions}，由本科室诊治",
        "Your symptoms ({names_en}) are typical of {conditions_en}, treated in this department",
    ),
    "model": (
        "与您描述相似的情况多在本科室就诊（{percent}%）",
        "Descriptions like yours are usually seen here ({percent}%)",
    ),
    "named_department": ("您提到了这个科室", "You asked for this department"),
    "intent": ("您需要的服务由本科室提供", "This department provides the service you asked for"),
    "children": (
        "14岁及以下儿童的内科问题由儿科诊治",
        "Medical problems of children aged 14 and under are seen in Pediatrics",
    ),
    "children_surgery": (
        "儿童的外科问题由小儿外科诊治",
        "Surgical problems of children are seen in Pediatric Surgery",
    ),
    "newborn": ("新生儿由新生儿专业诊治", "Newborn babies are seen in Neonatology"),
    "pregnancy": ("孕期出现的不适请先看产科", "During pregnancy, see Obstetrics first"),
    "older_adults": (
        "多种慢性病的老年人可由老年病科综合评估",
        "Older adults with several chronic conditions can have an overall review in Geriatrics",
    ),
    "red_flag": ("危险信号：{names}", "Warning signs: {names_en}"),
    "red_flag_conditions": (
        "这些信号可能提示{conditions}，需要立即排除",
        "These signs can mean {conditions_en}, which must be ruled out at once",
    ),
}


def _reason(kind: str, **values: Any) -> dict[str, Any]:
    return {"kind": kind, **values}


def _render(reason: dict[str, Any]) -> tuple[str, str]:
    zh, en = REASONS[reason["kind"]]
    values = {
        k: ZH_CLOSE_TO.join(v) if isinstance(v, list) and k in ("names", "conditions") else v
        for k, v in reason.items()
    }
    values.update({k: ", ".join(v) for k, v in reason.items() if isinstance(v, list) and k.endswith("_en")})
    return zh.format_map(_Missing(values)), en.format_map(_Missing(values))


class _Missing(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


# --- the shared engine -----------------------------------------------------------------------------

_engine: Engine | None = None
_lock = threading.Lock()
_checked: tuple[float, str, str] = (0.0, "", "")  # (monotonic time, graph version, labelled version)
FRESHNESS_SECONDS = 5.0  # how often the engine looks for new knowledge or training texts


def labelled_examples() -> list[text_model.Example]:
    from smartcare.triage.training import stored_examples

    return stored_examples()


def _versions() -> tuple[str, str]:
    global _checked
    now = time.monotonic()
    if now - _checked[0] > FRESHNESS_SECONDS:
        versions = (now, fingerprint(), _labelled_version())
        # What a transaction sees may still roll back (a failed import, a test): never keep it.
        if connection.in_atomic_block:
            return versions[1], versions[2]
        _checked = versions
    return _checked[1], _checked[2]


def refresh() -> None:
    """Look for new knowledge and training texts on the next call (after an import or a test)."""
    global _checked
    _checked = (0.0, "", "")


def get_engine() -> Engine:
    """The engine for the current knowledge and training texts, rebuilt when they change."""
    global _engine
    graph_version, labelled_version = _versions()
    engine = _engine
    if (
        engine is not None
        and engine.graph.version == graph_version
        and engine.labelled_version == labelled_version
    ):
        return engine
    with _lock:
        engine = _engine
        if (
            engine is None
            or engine.graph.version != graph_version
            or engine.labelled_version != labelled_version
        ):
            labelled = labelled_examples()  # read with the version taken before, so nothing is missed
            engine = Engine(load_graph(graph_version), labelled)
            engine.labelled_version = labelled_version
            _engine = engine
    return engine


def _labelled_version() -> str:
    from smartcare.triage.training import stored_version

    return stored_version()


def triage(request: TriageRequest) -> TriageResult:
    return get_engine().triage(request)
