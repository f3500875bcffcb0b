"""What the triage engine takes and gives back. Pages, the API and the evaluation use these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["emergency", "question", "departments", "unclear"]


@dataclass
class TriageRequest:
    text: str
    age: int | None = None  # completed years
    age_months: int | None = None  # completed months, for infants; derived from age when absent
    sex: str = ""  # "male", "female" or "" (unknown)
    pregnant: bool | None = None  # None: not asked / unknown
    answers: dict[str, bool] = field(default_factory=dict)  # follow-up question id -> yes / no


@dataclass
class Finding:
    key: str  # symptom:... or sign:...
    name_zh: str
    name_en: str
    negated: bool = False
    surface: str = ""  # the words in the text that matched ("" when it came from an answer)
    from_answer: bool = False


@dataclass
class ConditionScore:
    key: str
    name_zh: str
    name_en: str
    icd10: str
    score: float
    matched: list[str] = field(default_factory=list)  # finding keys that support it


@dataclass
class DepartmentSuggestion:
    code: str  # national catalog code
    name_zh: str
    name_en: str
    score: float  # 0..1, the three suggestions' scores need not sum to 1
    conditions: list[ConditionScore] = field(default_factory=list)
    reasons_zh: list[str] = field(default_factory=list)
    reasons_en: list[str] = field(default_factory=list)


@dataclass
class WarnedCondition:
    """A condition a red flag warns of (its ``conditions`` link in the knowledge graph)."""

    key: str
    name_zh: str
    name_en: str


@dataclass
class RedFlagHit:
    key: str
    name_zh: str
    name_en: str
    action: str  # "call_120" or "emergency"
    reason_zh: str
    reason_en: str
    findings: list[str] = field(default_factory=list)
    conditions: list[WarnedCondition] = field(default_factory=list)


@dataclass
class FollowUp:
    key: str
    question_zh: str
    question_en: str
    symptom: str
    separates: list[str] = field(default_factory=list)  # the department codes it tells apart


@dataclass
class TriageResult:
    status: Status
    findings: list[Finding] = field(default_factory=list)  # present
    negated: list[Finding] = field(default_factory=list)  # explicitly absent
    red_flags: list[RedFlagHit] = field(default_factory=list)
    action: str = ""  # "call_120", "emergency" or ""
    departments: list[DepartmentSuggestion] = field(default_factory=list)  # best first, at most 3
    question: FollowUp | None = None
    rules: list[str] = field(default_factory=list)  # population rules applied ("children", "pregnancy")
    elapsed_ms: float = 0.0
    model_version: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
