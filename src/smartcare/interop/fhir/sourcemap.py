"""Finding what smartcare made of a received resource (``SourceRecord`` by identity or
identifier), and the resource as received for rows that came from elsewhere."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from smartcare.interop.fhir.keys import identifier_key, key_hashes
from smartcare.interop.models import SourceKey, SourceRecord

_CHUNK = 500


def records_by_identity(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], SourceRecord]:
    """(resource type, identity hash) -> record, one query per type and 500 keys."""
    by_type: dict[str, list[str]] = {}
    for resource_type, hashed in pairs:
        by_type.setdefault(resource_type, []).append(hashed)
    found: dict[tuple[str, str], SourceRecord] = {}
    for resource_type, hashes in by_type.items():
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _CHUNK):
            rows = SourceRecord.objects.filter(
                resource_type=resource_type, key__in=unique[start : start + _CHUNK]
            )
            for row in rows.defer("payload"):  # encrypted: read only when a resource is rendered
                found[(resource_type, row.key)] = row
    return found


def records_by_identifier(resource_type: str, keys: Iterable[str]) -> list[SourceRecord]:
    """The records of a type with any of these identifier keys (plain ``identifier:...``)."""
    hashes = [h for key in keys for h in key_hashes(key)]
    if not hashes:
        return []
    rows = SourceKey.objects.filter(resource_type=resource_type, key__in=hashes).select_related("record")
    return list({row.record.pk: row.record for row in rows.defer("record__payload")}.values())


def identifier_condition(resource_type: str, target_model: str, system: str, value: str) -> Q:
    """Rows of ``target_model`` imported with the identifier ``system|value``."""
    hashes = key_hashes(identifier_key(system, value))
    pks = SourceKey.objects.filter(
        resource_type=resource_type, key__in=hashes, record__target_model=target_model
    )
    return Q(pk__in=pks.values("record__target_pk"))


def originals(target_model: str, pks: Iterable[Any]) -> dict[Any, dict[str, Any]]:
    """pk -> the resource as received, for rows that came from elsewhere."""
    wanted = [pk for pk in pks if pk is not None]
    if not wanted:
        return {}
    found: dict[Any, dict[str, Any]] = {}
    rows = SourceRecord.objects.filter(target_model=target_model, target_pk__in=wanted).exclude(payload=None)
    for row in rows.only("target_pk", "payload"):
        resource = (row.payload or {}).get("resource")
        if isinstance(resource, dict):
            found[row.target_pk] = resource
    return found
