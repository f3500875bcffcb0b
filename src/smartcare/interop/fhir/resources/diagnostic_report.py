"""DiagnosticReport <-> ``interop.DiagnosticReport`` (the EMR had no table for reports).

A report links its results (``result``: smartcare observations) and keeps its text
(``conclusion``, ``presentedForm``) encrypted.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from smartcare.core import clock
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    choice_datetime,
    codings,
    concept_text,
    fhir_datetime,
    fhir_instant,
    first_coding,
    parse_datetime,
)
from smartcare.interop.fhir.errors import NotRepresentable
from smartcare.interop.fhir.registry import (
    Access,
    Mapping,
    ParamKind,
    ParamSpec,
    Plan,
    Source,
    WriteContext,
    register,
)
from smartcare.interop.fhir.resources.common import (
    COMMON_PARAMS,
    PATIENT_PARAMS,
    drop_empty,
    meta,
    patient_filter,
    reference,
    require_patient,
    standard_filters,
    target_pk,
)
from smartcare.interop.fhir.store import store_source
from smartcare.interop.models import DiagnosticReport, ReportStatus

_ATTACHMENT_KEYS = ("contentType", "language", "data", "url", "size", "hash", "title", "creation")


def to_fhir(row: DiagnosticReport) -> dict[str, Any]:
    def coding(system: str, code: str) -> dict[str, Any]:
        return {"system": system, "code": code} if system else {"code": code}

    return drop_empty(
        {
            "resourceType": "DiagnosticReport",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "status": row.status,
            "category": [{"coding": [coding(row.category_system, row.category_code)]}]
            if row.category_code
            else [],
            "code": drop_empty(
                {"coding": [coding(row.code_system, row.code)] if row.code else [], "text": row.name}
            ),
            "subject": reference("Patient", row.patient_id),
            "encounter": reference("Encounter", row.encounter_id) if row.encounter_id else None,
            "effectiveDateTime": fhir_datetime(row.effective_at),
            "issued": fhir_instant(row.issued_at),
            "performer": [{"display": row.performer}] if row.performer else [],
            "result": [reference("Observation", pk) for pk in sorted(r.pk for r in row.results.all())],
            "conclusion": row.conclusion,
            "presentedForm": row.presented_form or [],
        }
    )


def _code(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    return p.by_system_code("code_system", "code")(rows, values)


def _category(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    return p.by_system_code("category_system", "category_code")(rows, values)


SOURCE = Source(
    model=DiagnosticReport,
    to_fhir=to_fhir,
    base=lambda: DiagnosticReport.objects.prefetch_related("results"),
    filters={
        "patient": patient_filter(),
        "subject": patient_filter(),
        "code": _code,
        "category": _category,
        "date": p.by_date("effective_at"),
        "status": p.by_choice("status", {s.value: s.value for s in ReportStatus}),
        "encounter": lambda rows, values: rows.filter(
            encounter_id__in=[int(v.id) for v in values if v.id.isdigit()]
        ),
    },
    sort={"date": "effective_at"},
)
standard_filters(SOURCE, "DiagnosticReport")
STORE = store_source("DiagnosticReport")
STORE.filters["encounter"] = lambda rows, values: rows.none()
STORE.filters["category"] = lambda rows, values: rows.none()


class DiagnosticReportMapping(Mapping):
    resource_type = "DiagnosticReport"
    access = Access.PATIENT_CLINICAL
    sources = [SOURCE, STORE]
    params = [
        *COMMON_PARAMS,
        *PATIENT_PARAMS,
        ParamSpec("code", ParamKind.TOKEN),
        ParamSpec("category", ParamKind.TOKEN),
        ParamSpec("date", ParamKind.DATE, "effective time"),
        ParamSpec("status", ParamKind.TOKEN),
        ParamSpec("encounter", ParamKind.REFERENCE),
    ]
    includes = {
        "DiagnosticReport:patient": ("subject",),
        "DiagnosticReport:subject": ("subject",),
        "DiagnosticReport:encounter": ("encounter",),
        "DiagnosticReport:result": ("result",),
    }
    rank = 7
    writable = True
    write_capability = "emr.document"
    owned = ("result", "conclusion", "presentedForm", "encounter", "performer")
    description = "interop.DiagnosticReport"

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        patient_id = require_patient(ctx, resource, "subject", "DiagnosticReport")
        name = concept_text(resource.get("code"))
        if not name:
            raise NotRepresentable(resource_type="DiagnosticReport", reason="the report has no code or name")
        code = first_coding(resource.get("code")) or {}
        category = next(
            (c for item in resource.get("category") or [] for c in codings(item) if c.get("code")), {}
        )
        for found in (code, category):
            if len(str(found.get("code", ""))) > 64 or len(str(found.get("system", ""))) > 200:
                raise NotRepresentable(
                    resource_type="DiagnosticReport", reason="a code is longer than smartcare keeps"
                )
        results = []
        for item in resource.get("result") or []:
            pk = target_pk(ctx.resolve(item, "result"), "emr.Observation")
            if pk is not None:
                results.append(pk)
        forms = [
            {k: v for k, v in form.items() if k in _ATTACHMENT_KEYS}
            for form in resource.get("presentedForm") or []
            if isinstance(form, dict)
        ]
        performers = [
            str(item.get("display") or "")
            for item in resource.get("performer") or []
            if isinstance(item, dict)
        ]
        now = clock.now()
        return Plan(
            source=SOURCE,
            fields={
                "patient_id": patient_id,
                "encounter_id": target_pk(
                    ctx.resolve(resource.get("encounter"), "encounter"), "emr.Encounter"
                ),
                "status": resource.get("status")
                if resource.get("status") in ReportStatus.values
                else "final",
                "category_system": str(category.get("system") or ""),
                "category_code": str(category.get("code") or ""),
                "code_system": str(code.get("system") or ""),
                "code": str(code.get("code") or ""),
                "name": name[:200],
                "effective_at": choice_datetime(resource, "effective"),
                "issued_at": parse_datetime(resource.get("issued")),
                "performer": next((x for x in performers if x), "")[:200],
                "conclusion": str(resource.get("conclusion") or ""),
                "presented_form": forms or None,
                "updated_at": now,
            },
            create_fields={"recorded_by_id": ctx.actor.pk, "created_at": now},
            patient_id=patient_id,
            m2m={"results": results},
        )

    def written(self, actor: Any, target_pk: Any) -> None:
        # A final report written by a clinician goes to the patient's inbox, critical values to
        # the ordering doctor (the report module; imports of history do not notify anyone).
        from smartcare.interop.reports.services import report_finalized

        report = DiagnosticReport.objects.filter(pk=target_pk).first()
        if report is not None:
            report_finalized(actor, report)


register(DiagnosticReportMapping())
