"""Condition <-> ``emr.Diagnosis`` (``dx-<id>``) and ``emr.Problem`` (``pl-<id>``).

smartcare's diagnoses and problem list are coded in ICD-10 (its catalog). A Condition with an
ICD-10 coding from that catalog becomes an encounter diagnosis when it names a smartcare encounter
(and is not a problem-list item), otherwise a problem-list entry. Conditions coded only in other
systems (Synthea uses SNOMED CT) are kept as FHIR and served beside them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from smartcare.core import clock
from smartcare.emr.choices import DiagnosisStatus, ProblemStatus
from smartcare.emr.models import Diagnosis, Encounter, Icd10Code, Problem
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import (
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    ICD10,
    ICD10_SYSTEMS,
    coding_in,
    codings,
    concept,
    fhir_date,
    fhir_datetime,
    parse_date,
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
    pks_of,
    register,
)
from smartcare.interop.fhir.resources.common import (
    COMMON_PARAMS,
    PATIENT_PARAMS,
    drop_empty,
    meta,
    reference,
    require_patient,
    standard_filters,
    target_pk,
)
from smartcare.interop.fhir.store import store_source

_VERIFICATION: dict[str, str] = {
    DiagnosisStatus.PROVISIONAL: "provisional",
    DiagnosisStatus.CONFIRMED: "confirmed",
    DiagnosisStatus.RULED_OUT: "refuted",
}
_VERIFICATION_BACK = {
    "provisional": DiagnosisStatus.PROVISIONAL,
    "differential": DiagnosisStatus.PROVISIONAL,
    "unconfirmed": DiagnosisStatus.PROVISIONAL,
    "confirmed": DiagnosisStatus.CONFIRMED,
    "refuted": DiagnosisStatus.RULED_OUT,
}
_CLINICAL_BACK = {
    "active": ProblemStatus.ACTIVE,
    "recurrence": ProblemStatus.ACTIVE,
    "relapse": ProblemStatus.ACTIVE,
    "inactive": ProblemStatus.RESOLVED,
    "remission": ProblemStatus.RESOLVED,
    "resolved": ProblemStatus.RESOLVED,
}


def _code(icd10: Icd10Code) -> dict[str, Any]:
    return concept(ICD10, icd10.code, icd10.name_en or icd10.name, text=icd10.name)


def diagnosis_to_fhir(row: Diagnosis) -> dict[str, Any]:
    verification = _VERIFICATION.get(row.status, "confirmed")
    return drop_empty(
        {
            "resourceType": "Condition",
            "id": f"dx-{row.pk}",
            "meta": meta(row.updated_at),
            "clinicalStatus": None if verification == "refuted" else concept(CONDITION_CLINICAL, "active"),
            "verificationStatus": concept(CONDITION_VERIFICATION, verification),
            "category": [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
            "code": _code(row.icd10),
            "subject": reference("Patient", row.encounter.patient_id),
            "encounter": reference("Encounter", row.encounter_id),
            "recordedDate": fhir_datetime(row.created_at),
            "extension": [
                {
                    "url": "https://smartcare.example/fhir/StructureDefinition/primary-diagnosis",
                    "valueBoolean": True,
                }
            ]
            if row.is_primary
            else [],
        }
    )


def problem_to_fhir(row: Problem) -> dict[str, Any]:
    return drop_empty(
        {
            "resourceType": "Condition",
            "id": f"pl-{row.pk}",
            "meta": meta(row.updated_at),
            "clinicalStatus": concept(
                CONDITION_CLINICAL, "active" if row.status == ProblemStatus.ACTIVE else "resolved"
            ),
            "verificationStatus": concept(CONDITION_VERIFICATION, "confirmed"),
            "category": [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": _code(row.icd10),
            "subject": reference("Patient", row.patient_id),
            "onsetDateTime": fhir_date(row.onset),
            "abatementDateTime": fhir_date(row.resolved_on),
            "recordedDate": fhir_datetime(row.created_at),
            "note": [{"text": row.comment}] if row.comment else [],
        }
    )


def _icd10_filter(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    codes = [t.code.upper() for t in values if t.system in (None, *ICD10_SYSTEMS) and t.code]
    return rows.filter(icd10_id__in=codes)


def _patient(field_name: str) -> Any:
    def apply(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
        ids = [int(v.id) for v in values if v.resource_type in ("", "Patient") and v.id.isdigit()]
        return rows.filter(**{f"{field_name}__in": ids})

    return apply


def _diagnosis_clinical(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    codes = {t.code for t in values}
    return rows.exclude(status=DiagnosisStatus.RULED_OUT) if "active" in codes else rows.none()


def _problem_clinical(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    wanted = [_CLINICAL_BACK[t.code] for t in values if t.code in _CLINICAL_BACK]
    return rows.filter(status__in=wanted)


def _category(code: str) -> Any:
    def apply(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
        return rows if any(t.code == code for t in values) else rows.none()

    return apply


def _encounter(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    return rows.filter(encounter_id__in=[int(v.id) for v in values if v.id.isdigit()])


DIAGNOSIS = Source(
    model=Diagnosis,
    to_fhir=diagnosis_to_fhir,
    prefix="dx-",
    patient_field="encounter__patient",
    related=("icd10", "encounter"),
    filters={
        "patient": _patient("encounter__patient_id"),
        "subject": _patient("encounter__patient_id"),
        "code": _icd10_filter,
        "clinical-status": _diagnosis_clinical,
        "category": _category("encounter-diagnosis"),
        "encounter": _encounter,
        "recorded-date": p.by_date("created_at"),
        "onset-date": p.nothing(),
    },
    sort={"recorded-date": "created_at", "date": "created_at"},
)
PROBLEM = Source(
    model=Problem,
    to_fhir=problem_to_fhir,
    prefix="pl-",
    related=("icd10",),
    filters={
        "patient": _patient("patient_id"),
        "subject": _patient("patient_id"),
        "code": _icd10_filter,
        "clinical-status": _problem_clinical,
        "category": _category("problem-list-item"),
        "encounter": p.nothing(),
        "recorded-date": p.by_date("created_at"),
        "onset-date": p.by_date("onset", is_date=True),
    },
    sort={"recorded-date": "created_at", "onset-date": "onset", "date": "created_at"},
)
for _source in (DIAGNOSIS, PROBLEM):
    standard_filters(_source, "Condition")

STORE = store_source("Condition")
STORE.filters.update(
    {
        "clinical-status": STORE.filters["status"],
        "recorded-date": STORE.filters["date"],
        "onset-date": STORE.filters["date"],
        "category": lambda rows, values: rows,
        "encounter": lambda rows, values: rows.none(),
    }
)
STORE.sort.update({"recorded-date": "date", "onset-date": "date"})


def icd10_of(resource: dict[str, Any], ctx: WriteContext) -> Icd10Code | None:
    if "icd10" not in ctx.cache:
        ctx.cache["icd10"] = {row.code: row for row in Icd10Code.objects.filter(is_active=True)}
    known: dict[str, Icd10Code] = ctx.cache["icd10"]
    coding = coding_in(resource.get("code"), ICD10_SYSTEMS)
    if coding is None:
        return None
    code = str(coding["code"]).strip().upper()
    if code not in known and len(code) > 3 and "." not in code:
        code = f"{code[:3]}.{code[3:]}"
    return known.get(code)


class ConditionMapping(Mapping):
    resource_type = "Condition"
    access = Access.PATIENT_CLINICAL
    sources = [DIAGNOSIS, PROBLEM, STORE]
    params = [
        *COMMON_PARAMS,
        *PATIENT_PARAMS,
        ParamSpec("code", ParamKind.TOKEN, "ICD-10 (http://hl7.org/fhir/sid/icd-10) or any coding"),
        ParamSpec("clinical-status", ParamKind.TOKEN),
        ParamSpec("category", ParamKind.TOKEN, "encounter-diagnosis | problem-list-item"),
        ParamSpec("encounter", ParamKind.REFERENCE),
        ParamSpec("onset-date", ParamKind.DATE),
        ParamSpec("recorded-date", ParamKind.DATE),
    ]
    includes = {
        "Condition:patient": ("subject",),
        "Condition:subject": ("subject",),
        "Condition:encounter": ("encounter",),
    }
    rank = 6
    writable = True
    write_capability = "emr.document"
    owned = ("abatementDateTime", "onsetDateTime", "note", "encounter")
    description = "emr.Diagnosis (dx-) and emr.Problem (pl-) for ICD-10 conditions; others kept as FHIR"

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        patient_id = require_patient(ctx, resource, "subject", "Condition")
        icd10 = icd10_of(resource, ctx)
        if icd10 is None:
            raise NotRepresentable(
                resource_type="Condition", reason="it has no ICD-10 code from smartcare's catalog"
            )
        verification = codings(resource.get("verificationStatus"))
        verification_code = str(verification[0].get("code")) if verification else "confirmed"
        if verification_code == "entered-in-error":
            raise NotRepresentable(resource_type="Condition", reason="it was entered in error")
        categories = {c.get("code") for item in resource.get("category") or [] for c in codings(item)}
        encounter_id = target_pk(ctx.resolve(resource.get("encounter"), "encounter"), "emr.Encounter")
        now = clock.now()
        if encounter_id is not None and "problem-list-item" not in categories:
            if existing is not None and not isinstance(existing, Diagnosis):
                raise NotRepresentable(
                    resource_type="Condition", reason="a problem-list entry cannot become a diagnosis"
                )
            encounter_patient = (
                Encounter.objects.filter(pk=encounter_id).values_list("patient_id", flat=True).first()
            )
            if encounter_patient != patient_id:
                raise NotRepresentable(resource_type="Condition", reason="the encounter is another patient's")
            return Plan(
                source=DIAGNOSIS,
                fields={
                    "encounter_id": encounter_id,
                    "icd10_id": icd10.code,
                    "status": _VERIFICATION_BACK.get(verification_code, DiagnosisStatus.CONFIRMED),
                    "updated_at": now,
                },
                create_fields={"recorded_by_id": ctx.actor.pk, "is_primary": False, "created_at": now},
                patient_id=patient_id,
                unique_key=("dx", encounter_id, icd10.code),
            )
        if existing is not None and not isinstance(existing, Problem):
            raise NotRepresentable(
                resource_type="Condition", reason="a diagnosis cannot become a problem-list entry"
            )
        clinical = codings(resource.get("clinicalStatus"))
        status = _CLINICAL_BACK.get(
            str(clinical[0].get("code")) if clinical else "active", ProblemStatus.ACTIVE
        )
        notes = [str(n.get("text", "")) for n in resource.get("note") or [] if isinstance(n, dict)]
        return Plan(
            source=PROBLEM,
            fields={
                "patient_id": patient_id,
                "icd10_id": icd10.code,
                "status": status,
                "onset": parse_date(resource.get("onsetDateTime"))
                or parse_date((resource.get("onsetPeriod") or {}).get("start")),
                "resolved_on": parse_date(resource.get("abatementDateTime")),
                "comment": "; ".join(filter(None, notes))[:300],
                "updated_at": now,
            },
            create_fields={"recorded_by_id": ctx.actor.pk, "created_at": now},
            patient_id=patient_id,
            unique_key=("problem", patient_id, icd10.code) if status == ProblemStatus.ACTIVE else None,
        )

    def conflicts(self, keys: set[Any], exclude_pks: set[Any]) -> set[Any]:
        taken: set[Any] = set()
        diagnosis_keys = [k for k in keys if k[0] == "dx"]
        problems = [k for k in keys if k[0] == "problem"]
        if diagnosis_keys:
            condition = p.q_any([Q(encounter_id=k[1], icd10_id=k[2]) for k in diagnosis_keys])
            diagnoses = Diagnosis.objects.filter(condition).exclude(
                pk__in=pks_of(exclude_pks, "emr.Diagnosis")
            )
            taken |= {("dx", e, c) for e, c in diagnoses.values_list("encounter_id", "icd10_id")}
        if problems:
            condition = p.q_any([Q(patient_id=k[1], icd10_id=k[2]) for k in problems])
            active = Problem.objects.filter(condition, status=ProblemStatus.ACTIVE).exclude(
                pk__in=pks_of(exclude_pks, "emr.Problem")
            )
            taken |= {("problem", pt, c) for pt, c in active.values_list("patient_id", "icd10_id")}
        return taken


register(ConditionMapping())
