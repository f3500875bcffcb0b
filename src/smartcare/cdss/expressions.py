"""The rule condition language: CEL (Common Expression Language) via ``cel-python``.

CEL was chosen because it is a published, side-effect-free expression language (used by
Kubernetes, Envoy and Google IAM): it cannot call Python, open files or loop forever, so a rule
author in the admin cannot run code on the server. Expressions are compiled once and cached.

Variables available to a condition (see ``context_for``):

* ``patient``: ``age_years``, ``age_months``, ``sex``, ``pregnant``, ``breastfeeding``,
  ``weight_kg``, ``height_cm`` (missing values are ``-1``)
* ``egfr``: eGFR in mL/min/1.73 m² by CKD-EPI 2021 from the latest creatinine (``-1`` if unknown)
* ``conditions``: ICD-10 codes; ``diseases``: knowledge keys
* ``medications`` / ``draft_medications``: drug knowledge keys; ``drug_classes``: every class of them
* ``allergies``: substance keys; ``labs``: LOINC code -> latest value; ``department``: national code

Example: ``patient.age_years >= 65 && egfr >= 0 && egfr < 45``.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import celpy
from celpy import celparser
from django.utils.translation import gettext as _

from smartcare.cdss.errors import InvalidExpression

logger = logging.getLogger(__name__)

_ENV = celpy.Environment()

SAMPLE_CONTEXT: dict[str, Any] = {
    "patient": {
        "age_years": 60,
        "age_months": 720,
        "sex": "female",
        "pregnant": False,
        "breastfeeding": False,
        "weight_kg": 60.0,
        "height_cm": 160.0,
    },
    "egfr": 80.0,
    "conditions": ["I10"],
    "diseases": ["disease:hypertension"],
    "medications": ["drug:amlodipine"],
    "draft_medications": ["drug:metformin"],
    "drug_classes": ["drug_class:dihydropyridine_ccbs"],
    "allergies": ["drug_class:penicillins"],
    "labs": {"2160-0": 80.0},
    "department": "03.04",
}


class ConditionError(Exception):
    """A stored condition that could not be evaluated for one patient (kept in the log and counted
    on the rule version; the rule does not fire)."""


_UNKNOWN_NAME = re.compile(r"undeclared reference to '([^']{1,80})'")
_UNKNOWN_FIELD = re.compile(r"no such member in mapping: '([^']{1,80})'")


def _explain(message: str) -> Any:
    """A translated explanation of a cel-python error for the rule author; the library's own
    message (its internals) goes to the log only."""
    found = _UNKNOWN_NAME.search(message)
    if found:
        return _("it uses %(name)s, which is not a variable of the patient context") % {"name": found[1]}
    found = _UNKNOWN_FIELD.search(message)
    if found:
        return _("it uses the field %(name)s, which does not exist") % {"name": found[1]}
    if "no matching overload" in message or "no such overload" in message:
        return _("it compares or combines values of different types (for example a number with text)")
    if "divide by zero" in message:
        return _("it divides by zero")
    return _("it cannot be evaluated on a sample patient")


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str) -> Any:
    """The compiled program for ``text``; raises ``InvalidExpression`` (CDSS-002)."""
    try:
        ast = _ENV.compile(text)
        return _ENV.program(ast)
    except celparser.CELParseError as exc:
        logger.info("cdss: condition does not parse: %s", str(exc).strip())
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        reason = (
            _(
                "it is not well formed near line %(line)s, column %(column)s: check the brackets, quotes and operators"
            )
            % {"line": line, "column": column}
            if line and column
            else _("it is not well formed: check the brackets, quotes and operators")
        )
        raise InvalidExpression(reason=reason) from exc
    except Exception as exc:  # any other compiler failure is an invalid expression too
        logger.info("cdss: condition does not compile: %s", exc)
        raise InvalidExpression(reason=_explain(str(exc))) from exc


def to_activation(context: dict[str, Any]) -> dict[str, Any]:
    return {name: celpy.json_to_cel(value) for name, value in context.items()}


def validate_expression(text: str) -> None:
    """Refuse an expression that does not parse, names unknown variables or is not boolean.

    A missing map key ("no such key") is allowed: real patients lack many results.
    """
    if not text.strip():
        return
    if len(text) > 2000:
        raise InvalidExpression(reason=_("it is longer than 2000 characters"))
    program = compile_expression(text)
    try:
        result = program.evaluate(to_activation(SAMPLE_CONTEXT))
    except celpy.CELEvalError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        if "no such key" in message:
            return
        logger.info("cdss: condition fails on the sample patient: %s", message[:500])
        raise InvalidExpression(reason=_explain(message)) from exc
    if not isinstance(result, celpy.celtypes.BoolType):
        raise InvalidExpression(reason=_("it must be true or false"))


def evaluate_condition(text: str, activation: dict[str, Any]) -> bool:
    """True when the condition holds; an empty condition always holds. A condition that cannot be
    evaluated raises ``ConditionError`` (the caller counts it on the rule and logs it)."""
    if not text:
        return True
    try:
        result = compile_expression(text).evaluate(activation)
    except InvalidExpression as exc:
        raise ConditionError("the stored condition does not compile") from exc
    except celpy.CELEvalError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        raise ConditionError(message[:300]) from exc
    if not isinstance(result, celpy.celtypes.BoolType):
        raise ConditionError("the condition is not true or false")
    return bool(result)
