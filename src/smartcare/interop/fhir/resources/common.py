"""Helpers shared by the resource mappings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import fhir_instant
from smartcare.interop.fhir.errors import NotRepresentable
from smartcare.interop.fhir.references import Target
from smartcare.interop.fhir.registry import ParamKind, ParamSpec, Source, WriteContext
from smartcare.interop.fhir.sourcemap import identifier_condition


def reference(resource_type: str, fhir_id: Any, display: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"reference": f"{resource_type}/{fhir_id}"}
    if display:
        result["display"] = display
    return result


def meta(updated: dt.datetime | None) -> dict[str, Any]:
    return {"lastUpdated": fhir_instant(updated)} if updated else {}


def drop_empty(resource: dict[str, Any]) -> dict[str, Any]:
    """FHIR has no empty elements: drop None, "", [] and {} values (top level)."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}


def target_pk(target: Target | None, model_label: str) -> Any:
    """The primary key of a resolved reference when it is a row of ``model_label``."""
    if target is not None and target.model_label == model_label and target.pk is not None:
        return target.pk
    return None


def require_patient(ctx: WriteContext, resource: dict[str, Any], element: str, resource_type: str) -> int:
    target = ctx.resolve(resource.get(element), element)
    pk = target_pk(target, "patients.Patient")
    if pk is None:
        raise NotRepresentable(resource_type=resource_type, reason=f"{element} is not a smartcare patient")
    return int(pk)


def identifier_filter(resource_type: str, source_label: str) -> Any:
    """``identifier=system|value`` on rows imported with that identifier."""

    def apply(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
        conditions = [
            identifier_condition(resource_type, source_label, t.system, t.code)
            for t in values
            if t.system and t.code
        ]
        return rows.filter(p.q_any(conditions))

    return apply


def id_filter(source_prefix: str) -> Any:
    def apply(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
        ids = []
        for token in values:
            code = token.code
            if source_prefix and not code.startswith(source_prefix):
                continue
            rest = code[len(source_prefix) :]
            if rest.isdigit() and len(rest) < 19:
                ids.append(int(rest))
        return rows.filter(pk__in=ids)

    return apply


def patient_filter(field_name: str = "patient_id") -> Any:
    def apply(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
        ids = [
            int(v.id)
            for v in values
            if v.resource_type in ("", "Patient") and v.id.isdigit() and len(v.id) < 19
        ]
        return rows.filter(**{f"{field_name}__in": ids})

    return apply


def standard_filters(source: Source, resource_type: str) -> None:
    """``_id``, ``identifier`` and ``_lastUpdated`` for a model source."""
    source.filters.setdefault("_id", id_filter(source.prefix))
    source.filters.setdefault("identifier", identifier_filter(resource_type, source.label))
    if source.last_updated:
        source.filters.setdefault("_lastUpdated", p.by_date(source.last_updated))
        source.sort.setdefault("_lastUpdated", source.last_updated)
    source.sort.setdefault("_id", "pk")


COMMON_PARAMS = [
    ParamSpec("_id", ParamKind.TOKEN, "logical id"),
    ParamSpec("_lastUpdated", ParamKind.DATE, "when the resource last changed"),
    ParamSpec("identifier", ParamKind.TOKEN, "system|value"),
]
PATIENT_PARAMS = [
    ParamSpec("patient", ParamKind.REFERENCE, "the patient (Patient/id)"),
    ParamSpec("subject", ParamKind.REFERENCE, "the patient (Patient/id)"),
]


def import_department_code() -> str:
    return str(getattr(settings, "SMARTCARE_FHIR_IMPORT_DEPARTMENT", "02"))
