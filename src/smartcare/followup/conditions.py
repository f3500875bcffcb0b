"""The conditions that care plans and health education are tagged with, and the ICD-10 categories
that put a patient in each. A diagnosis code belongs to a condition when it starts with one of the
condition's prefixes (``I10`` covers ``I10``, ``I11.9`` is covered by ``I11``...)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext_lazy as _

CONDITIONS: dict[str, tuple[object, tuple[str, ...]]] = {
    "hypertension": (_("Hypertension"), ("I10", "I11", "I12", "I13", "I15")),
    "diabetes": (_("Diabetes"), ("E10", "E11", "E12", "E13", "E14")),
    "heart_failure": (_("Heart failure"), ("I50",)),
    "coronary_disease": (_("Coronary heart disease"), ("I20", "I21", "I22", "I23", "I24", "I25")),
    "stroke": (_("Stroke"), ("I63", "I64", "I69")),
    "copd": (_("COPD"), ("J44",)),
    "chronic_kidney_disease": (_("Chronic kidney disease"), ("N18",)),
    "pregnancy": (_("Pregnancy"), ("O", "Z32.1", "Z33", "Z34", "Z35", "Z36")),
    # Given by a plan, not by a code: every operation is different.
    "post_operative": (_("After surgery"), ()),
    "joint_replacement": (_("Joint replacement"), ("Z96.6",)),
    "gallbladder_surgery": (_("Gallbladder removal"), ("Z90.4",)),
}


def condition_choices() -> list[tuple[str, object]]:
    return [(key, label) for key, (label, _prefixes) in CONDITIONS.items()]


def label(key: str) -> str:
    entry = CONDITIONS.get(key)
    return str(entry[0]) if entry else key


def code_matches(code: str, prefixes: Iterable[str]) -> bool:
    text = (code or "").upper().strip()
    return any(text.startswith(p.upper().strip()) for p in prefixes if p and p.strip())


def conditions_of_codes(codes: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for code in codes:
        for key, (_label, prefixes) in CONDITIONS.items():
            if code_matches(code, prefixes):
                found.add(key)
    return found
