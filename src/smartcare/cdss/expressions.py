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
from typing import Any

import celpy
from celpy import celparser

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


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str) -> Any:
    """The compiled program for ``text``; raises ``InvalidExpression`` (CDSS-002)."""
    try:
        ast = _ENV.compile(text)
        return _ENV.program(ast)
    except celparser.CELParseError as exc:
        raise InvalidExpression(reason=str(exc).strip().splitlines()[0][:200]) from exc
    except Exception as exc:  # any other compiler failure is an invalid expression too
        raise InvalidExpression(reason=str(exc)[:200]) from exc


def to_activation(context: dict[str, Any]) -> dict[str, Any]:
    return {name: celpy.json_to_cel(value) for name, value in context.items()}


def validate_expression(text: str) -> None:
    """Refuse an expression that does not parse, names unknown variables or is not boolean.

    A missing map key ("no such key") is allowed: real patients lack many results.
    """
    if not text.strip():
        return
    if len(text) > 2000:
        raise InvalidExpression(reason="longer than 2000 characters")
    program = compile_expression(text)
    try:
        result = program.evaluate(to_activation(SAMPLE_CONTEXT))
    except celpy.CELEvalError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        if "no such key" in message:
            return
        raise InvalidExpression(reason=message[:200]) from exc
    if not isinstance(result, celpy.celtypes.BoolType):
        raise InvalidExpression(reason="the expression must be true or false")


def evaluate_condition(text: str, activation: dict[str, Any]) -> bool:
    """True when the condition holds; an empty condition always holds; errors count as false."""
    if not text:
        return True
    try:
        result = compile_expression(text).evaluate(activation)
    except InvalidExpression:
        logger.warning("cdss: stored condition does not compile: %r", text)
        return False
    except celpy.CELEvalError:
        return False
    return bool(result) if isinstance(result, celpy.celtypes.BoolType) else False
