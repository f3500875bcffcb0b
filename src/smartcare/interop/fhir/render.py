"""Turning rows into FHIR JSON, with what smartcare's tables could not hold taken from the resource
as it was received."""

from __future__ import annotations

from typing import Any

from smartcare.interop.fhir.datatypes import codings
from smartcare.interop.fhir.registry import Mapping, Source
from smartcare.interop.fhir.sourcemap import originals

# Elements of choice type (``value[x]``): a mapped ``valueQuantity`` replaces a received
# ``valueString``, never sits beside it.
CHOICE_STEMS = (
    "value",
    "effective",
    "onset",
    "abatement",
    "occurrence",
    "performed",
    "deceased",
    "multipleBirth",
    "medication",
    "reported",
    "serviced",
    "timing",
    "born",
    "age",
    "asNeeded",
    "doseNumber",
    "seriesDoses",
    "product",
)


def _stem(key: str) -> str | None:
    for stem in CHOICE_STEMS:
        if key.startswith(stem) and len(key) > len(stem) and key[len(stem)].isupper():
            return stem
    return None


def _same_concept(received: Any, mapped: Any) -> bool:
    """The received CodeableConcept says at least what the mapped one says (a coding in common)."""
    mapped_codes = {(c.get("system"), c.get("code")) for c in codings(mapped)}
    if not mapped_codes:
        return isinstance(received, dict) and received.get("text") == (mapped or {}).get("text")
    return any((c.get("system"), c.get("code")) in mapped_codes for c in codings(received))


def merge(received: dict[str, Any], mapped: dict[str, Any], *, owned: tuple[str, ...] = ()) -> dict[str, Any]:
    """The received resource with smartcare's current values laid over it.

    Elements smartcare holds win (its record is the current truth), except a received
    CodeableConcept that already contains the mapped coding (it may carry more codings and text);
    identifiers are united. ``owned`` elements missing from the mapped resource are dropped
    (smartcare cleared them)."""
    result = {k: v for k, v in received.items() if k not in ("id", "meta")}
    for key in owned:
        if key not in mapped:
            result.pop(key, None)
    mapped_stems = {s for s in (_stem(k) for k in mapped) if s}
    if mapped_stems:
        result = {k: v for k, v in result.items() if _stem(k) not in mapped_stems}
    for key, value in mapped.items():
        before = result.get(key)
        if key == "identifier" and isinstance(before, list) and isinstance(value, list):
            seen = {(i.get("system"), i.get("value")) for i in value if isinstance(i, dict)}
            result[key] = value + [
                i for i in before if isinstance(i, dict) and (i.get("system"), i.get("value")) not in seen
            ]
        elif (
            isinstance(value, dict)
            and "coding" in value
            and isinstance(before, dict)
            and _same_concept(before, value)
        ) or (
            isinstance(value, list)
            and isinstance(before, list)
            and value
            and all(isinstance(v, dict) and "coding" in v for v in value)
            and all(any(_same_concept(b, v) for b in before) for v in value)
        ):
            continue
        else:
            result[key] = value
    ordered = {"resourceType": mapped.get("resourceType"), "id": mapped.get("id")}
    if "meta" in mapped:
        ordered["meta"] = mapped["meta"]
    ordered.update({k: v for k, v in result.items() if k not in ordered})
    return ordered


def render(mapping: Mapping, source: Source, rows: list[Any]) -> list[dict[str, Any]]:
    """FHIR JSON of rows of one source, in order."""
    if source.is_store:
        return [source.to_fhir(row) for row in rows]
    received = originals(source.label, [row.pk for row in rows])
    out = []
    for row in rows:
        resource = source.to_fhir(row)
        before = received.get(row.pk)
        if before is not None:
            resource = mapping_merge(mapping, before, resource)
        out.append(resource)
    return out


def mapping_merge(mapping: Mapping, received: dict[str, Any], mapped: dict[str, Any]) -> dict[str, Any]:
    custom = getattr(mapping, "merge", None)
    if custom is not None:
        return custom(received, mapped)  # type: ignore[no-any-return]
    return merge(received, mapped, owned=getattr(mapping, "owned", ()))
