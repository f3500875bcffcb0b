"""Questionnaire logic, free of the database: which questions are shown (conditional questions),
whether a set of answers fits, and the score.

Rules:

* A question with ``show_if`` is shown only when the earlier question it names is shown and its
  answer meets the condition (``in`` / ``not_in`` a list of option values, ``gte`` / ``lte`` a
  number, ``answered``). Answers to questions that are not shown are discarded.
* A shown, required question must be answered. Single choice: one option value. Multiple choice:
  a list of distinct option values. Scale: a whole number within the scale. Number: a number
  within the bounds. Free text: at most ``MAX_TEXT`` characters. Anything else, or an answer to a
  question the questionnaire does not have, is refused (``FU-005``) with one message per question.
* Score: the sum, over the answered scored questions, of the chosen options' scores (single,
  multiple) or the scale value; the maximum is the sum of the best possible answers to the same
  questions, and the percentage is score / maximum. Numbers and free text are never scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from smartcare.followup.choices import CHOICE_KINDS, ConditionOperator, QuestionKind
from smartcare.followup.errors import InvalidAnswers, InvalidQuestion

MAX_TEXT = 2000
MAX_OPTIONS = 20
SCALE_LIMITS = (0, 100)


@dataclass(frozen=True)
class QuestionSpec:
    key: str
    kind: str
    required: bool = True
    options: tuple[dict[str, Any], ...] = ()
    scale_min: int | None = None
    scale_max: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    scored: bool = True
    show_if: dict[str, Any] | None = None

    @classmethod
    def of(cls, question: Any) -> QuestionSpec:
        return cls(
            key=question.key,
            kind=question.kind,
            required=question.required,
            options=tuple(question.options or ()),
            scale_min=question.scale_min,
            scale_max=question.scale_max,
            min_value=question.min_value,
            max_value=question.max_value,
            scored=question.scored,
            show_if=question.show_if or None,
        )

    def option_values(self) -> list[str]:
        return [str(o.get("value")) for o in self.options]

    def option(self, value: str) -> dict[str, Any] | None:
        return next((o for o in self.options if str(o.get("value")) == value), None)


@dataclass
class Evaluation:
    answers: dict[str, Any]
    score: Decimal | None
    max_score: Decimal | None
    percent: Decimal | None
    flagged: list[str] = field(default_factory=list)  # question keys whose answer alerts the team


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _score_of(option: Mapping[str, Any]) -> Decimal:
    return _number(option.get("score")) or Decimal(0)


def condition_met(condition: Mapping[str, Any], answer: Any) -> bool:
    """Whether ``answer`` (already cleaned; None when unanswered) meets ``condition``."""
    operator = condition.get("operator", ConditionOperator.IN)
    if answer is None or answer == "" or answer == []:
        return False
    if operator == ConditionOperator.ANSWERED:
        return True
    chosen = {str(v) for v in answer} if isinstance(answer, list) else {str(answer)}
    if operator in (ConditionOperator.IN, ConditionOperator.NOT_IN):
        values = {str(v) for v in condition.get("values", [])}
        hit = bool(chosen & values)
        return hit if operator == ConditionOperator.IN else not hit
    number = _number(answer)
    bound = _number(condition.get("value"))
    if number is None or bound is None:
        return False
    return number >= bound if operator == ConditionOperator.GTE else number <= bound


def shown_keys(questions: Iterable[QuestionSpec], answers: Mapping[str, Any]) -> list[str]:
    """The questions shown for these (cleaned) answers, in order."""
    shown: list[str] = []
    for question in questions:
        condition = question.show_if
        if condition and (
            condition.get("question") not in shown
            or not condition_met(condition, answers.get(condition["question"]))
        ):
            continue
        shown.append(question.key)
    return shown


def _clean(question: QuestionSpec, raw: Any) -> tuple[Any, str]:
    """(cleaned answer or None when unanswered, error message or "")."""
    if raw is None or raw == "" or raw == []:
        return None, ""
    kind = question.kind
    if kind == QuestionKind.SINGLE:
        value = raw[0] if isinstance(raw, list) and len(raw) == 1 else raw
        if isinstance(value, (list, dict)) or str(value) not in question.option_values():
            return None, _("Choose one of the options.")
        return str(value), ""
    if kind == QuestionKind.MULTIPLE:
        values = raw if isinstance(raw, list) else [raw]
        texts = [str(v) for v in values]
        if any(isinstance(v, (list, dict)) for v in values) or not set(texts) <= set(
            question.option_values()
        ):
            return None, _("Choose among the options.")
        if len(set(texts)) != len(texts):
            return None, _("An option is chosen twice.")
        return [v for v in question.option_values() if v in texts], ""
    if kind == QuestionKind.SCALE:
        number = _number(raw)
        if number is None or number != number.to_integral_value():
            return None, _("Choose a whole number on the scale.")
        low, high = question.scale_min or 0, question.scale_max or 0
        if not low <= number <= high:
            return None, _("Choose a value from %(low)s to %(high)s.") % {"low": low, "high": high}
        return int(number), ""
    if kind == QuestionKind.NUMBER:
        number = _number(raw)
        if number is None:
            return None, _("Enter a number.")
        if (question.min_value is not None and number < question.min_value) or (
            question.max_value is not None and number > question.max_value
        ):
            return None, _("Enter a number from %(low)s to %(high)s.") % {
                "low": question.min_value if question.min_value is not None else "-",
                "high": question.max_value if question.max_value is not None else "-",
            }
        return float(number), ""
    text = str(raw).strip() if not isinstance(raw, (list, dict)) else ""
    if isinstance(raw, (list, dict)):
        return None, _("Enter text.")
    if len(text) > MAX_TEXT:
        return None, _("The text is too long (at most %(n)d characters).") % {"n": MAX_TEXT}
    return (text or None), ""


def evaluate(questions: list[QuestionSpec], raw_answers: Mapping[str, Any]) -> Evaluation:
    """Clean, check and score ``raw_answers`` (question key -> value). Raises ``InvalidAnswers``
    with every problem at once; nothing about the answers is kept when it raises."""
    if not isinstance(raw_answers, Mapping):
        raise InvalidAnswers(errors={"answers": [_("The answers must be given per question.")]})
    known = {q.key for q in questions}
    errors: dict[str, list[str]] = {}
    for key in raw_answers:
        if key not in known:
            errors.setdefault(str(key), []).append(_("This questionnaire has no such question."))
    cleaned: dict[str, Any] = {}
    shown: list[str] = []
    for question in questions:
        condition = question.show_if
        if condition and (
            condition.get("question") not in shown
            or not condition_met(condition, cleaned.get(condition["question"]))
        ):
            continue  # not shown: any answer to it is discarded
        shown.append(question.key)
        value, error = _clean(question, raw_answers.get(question.key))
        if error:
            errors.setdefault(question.key, []).append(error)
        elif value is None:
            if question.required:
                errors.setdefault(question.key, []).append(_("Please answer this question."))
        else:
            cleaned[question.key] = value
    if errors:
        raise InvalidAnswers(errors=errors)
    return _score(questions, cleaned)


def _score(questions: list[QuestionSpec], answers: dict[str, Any]) -> Evaluation:
    score = Decimal(0)
    best = Decimal(0)
    scored_any = False
    flagged: list[str] = []
    for question in questions:
        if question.key not in answers:
            continue
        answer = answers[question.key]
        if question.kind in CHOICE_KINDS:
            chosen = answer if isinstance(answer, list) else [answer]
            options = [question.option(v) or {} for v in chosen]
            if any(o.get("flag") for o in options):
                flagged.append(question.key)
            if not question.scored:
                continue
            scored_any = True
            score += sum((_score_of(o) for o in options), Decimal(0))
            if question.kind == QuestionKind.SINGLE:
                best += max((_score_of(o) for o in question.options), default=Decimal(0))
            else:
                best += sum((max(_score_of(o), Decimal(0)) for o in question.options), Decimal(0))
        elif question.kind == QuestionKind.SCALE and question.scored:
            scored_any = True
            score += Decimal(answer)
            best += Decimal(question.scale_max or 0)
    if not scored_any:
        return Evaluation(answers, None, None, None, flagged)
    percent = None
    if best > 0:
        ratio = min(max(score / best * 100, Decimal(0)), Decimal(100))
        percent = ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return Evaluation(answers, score, best, percent, flagged)


# --- The builder's checks ---------------------------------------------------------------------------


def check_question(
    spec: QuestionSpec, earlier: list[QuestionSpec], *, text_zh: str, taken_keys: set[str]
) -> None:
    """Refuse a question the patients could not answer (``FU-007``), with one message per field."""
    errors: dict[str, list[str]] = {}

    def refuse(field_name: str, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    if not spec.key or not spec.key.replace("_", "").replace("-", "").isalnum() or not spec.key.isascii():
        refuse("key", _("Use letters, digits, - and _ for the key."))
    if spec.key in taken_keys:
        refuse("key", _("Another question has this key."))
    if not text_zh.strip():
        refuse("text_zh", _("Write the question in Chinese."))
    if spec.kind not in QuestionKind.values:
        refuse("kind", _("Unknown kind of question."))
    if spec.kind in CHOICE_KINDS:
        values = spec.option_values()
        if len(spec.options) < 2:
            refuse("options", _("Give at least two options."))
        if len(spec.options) > MAX_OPTIONS:
            refuse("options", _("Give at most %(n)d options.") % {"n": MAX_OPTIONS})
        if any(not v.strip() for v in values) or len(set(values)) != len(values):
            refuse("options", _("Every option needs its own value."))
        if any(not str(o.get("label_zh", "")).strip() for o in spec.options):
            refuse("options", _("Every option needs a Chinese label."))
        if any(o.get("score") not in (None, "") and _number(o.get("score")) is None for o in spec.options):
            refuse("options", _("An option's score must be a number."))
    if spec.kind == QuestionKind.SCALE:
        low, high = spec.scale_min, spec.scale_max
        if low is None or high is None or low >= high:
            refuse("scale", _("A scale needs a lower and a higher end."))
        elif low < SCALE_LIMITS[0] or high > SCALE_LIMITS[1]:
            refuse("scale", _("A scale runs from 0 to 100 at most."))
    if (
        spec.kind == QuestionKind.NUMBER
        and spec.min_value is not None
        and spec.max_value is not None
        and spec.min_value >= spec.max_value
    ):
        refuse("min_value", _("The lowest number must be below the highest."))
    if spec.show_if:
        _check_condition(spec.show_if, earlier, refuse)
    if errors:
        raise InvalidQuestion(errors=errors)


def _check_condition(condition: Mapping[str, Any], earlier: list[QuestionSpec], refuse: Any) -> None:
    target = next((q for q in earlier if q.key == condition.get("question")), None)
    operator = condition.get("operator")
    if target is None:
        refuse("show_if", _("A condition can only depend on an earlier question."))
        return
    if operator not in ConditionOperator.values:
        refuse("show_if", _("Unknown condition."))
        return
    if operator in (ConditionOperator.IN, ConditionOperator.NOT_IN):
        values = condition.get("values")
        if target.kind not in CHOICE_KINDS:
            refuse("show_if", _("Only a choice question can be tested for its options."))
        elif (
            not isinstance(values, list)
            or not values
            or not {str(v) for v in values} <= set(target.option_values())
        ):
            refuse("show_if", _("Choose options of the earlier question."))
    elif operator in (ConditionOperator.GTE, ConditionOperator.LTE):
        if target.kind not in (QuestionKind.SCALE, QuestionKind.NUMBER):
            refuse("show_if", _("Only a scale or a number can be compared."))
        elif _number(condition.get("value")) is None:
            refuse("show_if", _("Give the number to compare with."))
