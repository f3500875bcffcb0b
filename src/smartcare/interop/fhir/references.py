"""References: what a FHIR reference points to in smartcare.

A reference resolves to a ``Target``: a resource type, its id in smartcare's FHIR API and, for
rows of smartcare's own tables, the model and primary key. Inside a Bundle or an import run, a
reference may name another entry (``urn:uuid:...``, its fullUrl, or ``Type/id`` of its source id);
``resolve_existing`` handles the rest: ``Type/id`` of smartcare's API, and conditional references
``Type?identifier=system|value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from smartcare.interop.fhir.errors import MultipleMatches
from smartcare.interop.fhir.registry import mapping_for
from smartcare.interop.fhir.validation import is_valid_id


@dataclass
class Target:
    resource_type: str
    fhir_id: str | None = None  # None while an entry of the same run is not written yet
    model_label: str | None = None
    pk: Any = None
    rejected: bool = False  # an entry of the same run that was rejected

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.fhir_id}"


def split_reference(text: str) -> tuple[str, str] | None:
    """``(Type, id)`` of a literal reference (relative or absolute URL), or None."""
    path = text.split("?", 1)[0].rstrip("/")
    parts = path.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper() and is_valid_id(parts[-1]):
        return parts[-2], parts[-1]
    return None


def parse_conditional(text: str) -> tuple[str, list[tuple[str, str]]] | None:
    """``Type?identifier=system|value`` -> (Type, [(name, value)])."""
    if "?" not in text:
        return None
    resource_type, query = text.split("?", 1)
    resource_type = resource_type.rsplit("/", 1)[-1]
    if not resource_type[:1].isupper():
        return None
    return resource_type, parse_qsl(query, keep_blank_values=True)


def resolve_existing(text: str, cache: dict[str, Target | None]) -> Target | None:
    """A reference to a resource smartcare already has (no Bundle entries involved)."""
    if text in cache:
        return cache[text]
    found: Target | None = None
    conditional = parse_conditional(text)
    if conditional is not None:
        found = _conditional(*conditional)
    else:
        literal = split_reference(text)
        if literal is not None:
            found = _literal(*literal)
    cache[text] = found
    return found


def _literal(resource_type: str, fhir_id: str) -> Target | None:
    mapping = mapping_for(resource_type)
    if mapping is None:
        return None
    located = mapping.source_for_id(fhir_id)
    if located is None:
        return None
    source, pk = located
    row = source.queryset().filter(**{source.id_field: pk}).values_list("pk", flat=True).first()
    if row is None:
        return None
    return Target(resource_type, fhir_id, source.label, row)


def _conditional(resource_type: str, criteria: list[tuple[str, str]]) -> Target | None:
    """Only ``identifier=system|value`` criteria are understood; several must all hold."""
    from smartcare.interop.fhir.search import find_by_identifier

    matches: set[tuple[str, Any, str]] | None = None
    for name, value in criteria:
        if name != "identifier" or "|" not in value:
            return None
        system, code = value.split("|", 1)
        found = set(find_by_identifier(resource_type, system, code))
        matches = found if matches is None else matches & found
    if not matches:
        return None
    if len(matches) > 1:
        raise MultipleMatches(
            condition="&".join(f"{n}={v}" for n, v in criteria), resource_type=resource_type
        )
    label, pk, fhir_id = next(iter(matches))
    return Target(resource_type, fhir_id, label, pk)


def reference_text(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return ""
