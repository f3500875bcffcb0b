"""Measuring the engine on a labelled CSV (``smartcare triage-eval FILE``).

Columns ``text,department_code`` and optionally ``age,sex``. A prediction counts for ``top1``
when the best department is the labelled code and for ``top3`` when the code is among the three
shown; the ``_parent`` figures count a prediction under the same top-level department as right
(03.04 for 03.01: both internal medicine). Red-flag answers predict Emergency Medicine (20)
first, followed by the departments the engine would otherwise have shown.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from smartcare.core.errors import InvalidInput
from smartcare.triage.engine import Engine
from smartcare.triage.types import TriageRequest


class EvaluationFileInvalid(InvalidInput):
    code = "TRIAGE-011"
    message = gettext_lazy("The evaluation file has %(count)s problems.")


@dataclass
class Case:
    text: str
    code: str
    age: int | None = None
    sex: str = ""


@dataclass
class Outcome:
    case: Case
    predicted: list[str]
    elapsed_ms: float


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return len(self.outcomes)

    def share(self, hit: Any) -> float:
        return round(sum(1 for o in self.outcomes if hit(o)) / self.cases, 4) if self.cases else 0.0

    def summary(self) -> dict[str, Any]:
        def top(code: str) -> str:
            return code.split(".")[0]

        times = sorted(o.elapsed_ms for o in self.outcomes)
        p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)] if times else 0.0
        return {
            "cases": self.cases,
            "top1": self.share(lambda o: o.predicted[:1] == [o.case.code]),
            "top3": self.share(lambda o: o.case.code in o.predicted[:3]),
            "top1_parent": self.share(
                lambda o: bool(o.predicted) and top(o.predicted[0]) == top(o.case.code)
            ),
            "top3_parent": self.share(lambda o: top(o.case.code) in {top(p) for p in o.predicted[:3]}),
            "p95_ms": round(p95, 2),
        }

    def per_department(self) -> list[tuple[str, int, int, float, float]]:
        """(code, cases, predicted, precision, recall) on the top-1 answer."""
        truth = Counter(o.case.code for o in self.outcomes)
        predicted = Counter(o.predicted[0] for o in self.outcomes if o.predicted)
        correct = Counter(o.case.code for o in self.outcomes if o.predicted[:1] == [o.case.code])
        rows = []
        for code in sorted(set(truth) | set(predicted)):
            precision = correct[code] / predicted[code] if predicted[code] else 0.0
            recall = correct[code] / truth[code] if truth[code] else 0.0
            rows.append((code, truth[code], predicted[code], precision, recall))
        return rows

    def confusion(self) -> dict[str, Counter[str]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for outcome in self.outcomes:
            table[outcome.case.code][outcome.predicted[0] if outcome.predicted else "-"] += 1
        return table


def read_cases(raw: bytes, known_codes: set[str]) -> list[Case]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EvaluationFileInvalid(errors={"file": [_("The file is not UTF-8 text.")]}, count=1) from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"text", "department_code"} <= set(reader.fieldnames):
        raise EvaluationFileInvalid(
            errors={"file": [_("The header must contain the columns text and department_code.")]}, count=1
        )
    cases, problems = [], {}
    for line, row in enumerate(reader, start=2):
        code = (row.get("department_code") or "").strip()
        body = (row.get("text") or "").strip()
        age_text = (row.get("age") or "").strip()
        sex = (row.get("sex") or "").strip().lower()
        errors = []
        if not body:
            errors.append(_("The text is empty."))
        if code not in known_codes:
            errors.append(_("Unknown department code %s.") % code)
        if age_text and not (age_text.isdigit() and int(age_text) <= 120):
            errors.append(_("The age must be a whole number from 0 to 120."))
        if sex not in ("", "male", "female"):
            errors.append(_("The sex must be male or female."))
        if errors:
            problems[f"line {line}"] = errors
            continue
        cases.append(Case(body, code, int(age_text) if age_text else None, sex))
    if problems:
        raise EvaluationFileInvalid(errors=problems, count=sum(len(v) for v in problems.values()))
    return cases


def evaluate(engine: Engine, cases: list[Case]) -> Report:
    report = Report()
    for case in cases:
        result = engine.triage(TriageRequest(text=case.text, age=case.age, sex=case.sex))
        report.outcomes.append(Outcome(case, [d.code for d in result.departments], result.elapsed_ms))
    return report
