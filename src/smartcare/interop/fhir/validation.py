"""Validation of FHIR R4 resources with the ``fhir.resources.R4B`` models.

R4B models accept R4 content such as Synthea's bundles (the package's default top-level models
are R5 and reject R4 bundles). This module does not import Django, so that the bulk importer can
run it in worker processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import ValidationError

# The FHIR id: https://hl7.org/fhir/R4/datatypes.html#id
ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")


@cache
def resource_class(resource_type: str) -> Any:
    """The R4B model class of a resource type, or None for a name that is not a resource type
    (unknown, or a data type such as ``Coding``)."""
    if not resource_type or not resource_type[0].isupper() or not resource_type.isalnum():
        return None
    from fhir.resources.R4B import get_fhir_model_class

    try:
        cls = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    has_base = getattr(cls, "has_resource_base", None)
    if has_base is None or not has_base() or getattr(cls, "__resource_type__", "") != resource_type:
        return None
    return cls


def is_resource_type(name: str) -> bool:
    return resource_class(name) is not None


def is_valid_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and all(c in ID_CHARS for c in value)


def _where(location: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part in ("resource_type",):
            parts.append("resourceType")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def problems(resource: Any) -> list[tuple[str, str]]:
    """What is wrong with ``resource`` as a FHIR R4 resource: ``(FHIRPath-like location, message)``
    pairs, empty when it is valid."""
    if not isinstance(resource, dict):
        return [("", "not a JSON object")]
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return [("resourceType", "missing")]
    cls = resource_class(resource_type)
    if cls is None:
        return [("resourceType", f"{resource_type} is not a FHIR R4 resource type")]
    if "id" in resource and not is_valid_id(resource["id"]):
        return [(f"{resource_type}.id", "not a valid FHIR id")]
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        found = []
        for error in exc.errors()[:10]:
            where = _where(tuple(error.get("loc", ())))
            message = str(error.get("msg", "invalid")).splitlines()[0].strip()
            found.append((f"{resource_type}.{where}" if where else resource_type, message[:200]))
        return found or [(resource_type, "invalid")]
    except Exception as exc:  # the models fail in other ways too (KeyError for an unknown contained type)
        return [
            (resource_type, (str(exc).splitlines() or [type(exc).__name__])[0][:200] or type(exc).__name__)
        ]
    return []


def validate_file_entries(
    path: str, kind: str, check: Callable[[Any], list[tuple[str, str]]] | None = None
) -> list[tuple[int, list[tuple[str, str]]]]:
    """Validate every resource of a Bundle file (``kind="bundle"``: entry index) or of an NDJSON
    file (``kind="ndjson"``: line number from 1). Returns the invalid ones with their problems.
    Runs in worker processes: reads the file itself so that only verdicts cross processes."""
    check = check or problems
    found: list[tuple[int, list[tuple[str, str]]]] = []
    if kind == "ndjson":
        with open(path, encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    resource = json.loads(line)
                except ValueError:
                    continue  # the importer reports unreadable lines itself
                issues = check(resource)
                if issues:
                    found.append((number, issues))
        return found
    try:
        with open(path, encoding="utf-8") as stream:
            bundle = json.load(stream)
    except (OSError, ValueError):
        return found
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue
        issues = check(resource)
        if issues:
            found.append((index, issues))
    return found


def validate_many(resources: list[Any]) -> list[list[tuple[str, str]]]:
    return [problems(resource) for resource in resources]
