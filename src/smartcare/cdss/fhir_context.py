"""ClinicalFacts from a CDS Hooks request: the prefetch (FHIR R4 resources or searchset Bundles)
and ``context.draftOrders`` (a Bundle of draft MedicationRequest / ServiceRequest).

Resources are validated with the ``fhir.resources.R4B`` models (R4-compatible; the package's
default models are R5 and reject R4 content). Drugs are mapped to knowledge keys by coding
(smartcare knowledge system, ATC, DrugBank, RxNorm) or by name; conditions keep their ICD-10 code; results
keep their LOINC code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _t
from pydantic import ValidationError

from smartcare.cdss import clinical
from smartcare.cdss.errors import InvalidHookRequest
from smartcare.cdss.kb import KnowledgeIndex, knowledge_index
from smartcare.emr.facts import Allergy, ClinicalFacts, Condition, ExamOrder, Medication, Observation

KNOWLEDGE_SYSTEM = "https://smartcare.example/knowledge"
ATC_SYSTEMS = {"http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"}
DRUGBANK_SYSTEMS = {"http://www.drugbank.ca", "https://go.drugbank.com/drugs", "http://drugbank.ca"}
RXNORM_SYSTEMS = {"http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"}
ICD10_SYSTEMS = {
    "http://hl7.org/fhir/sid/icd-10",
    "http://hl7.org/fhir/sid/icd-10-cn",
    "urn:oid:2.16.840.1.113883.6.3",
}
LOINC = "http://loinc.org"
PREGNANCY_STATUS_LOINC = "82810-3"
PREGNANT_SNOMED = "77386006"
SUPPORTED = {
    "Patient",
    "MedicationRequest",
    "MedicationStatement",
    "AllergyIntolerance",
    "Condition",
    "Observation",
    "ServiceRequest",
}
PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30, "a": 1 / 365}


def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def validate_resource(resource: Any, where: str) -> dict[str, Any]:
    """Validate one FHIR R4 resource; returns it as plain JSON. Raises CDSS-001 with the reason."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise InvalidHookRequest(reason=f"{where}: " + _t("not a FHIR resource (resourceType missing)"))
    resource_type = resource["resourceType"]
    if resource_type == "Bundle":
        entries = resource.get("entry") or []
        if not isinstance(entries, list):
            raise InvalidHookRequest(reason=f"{where}.entry: " + _t("must be an array"))
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise InvalidHookRequest(reason=f"{where}.entry[{index}]: " + _t("not an object"))
            if "resource" in entry:
                validate_resource(entry["resource"], f"{where}.entry[{index}].resource")
        return resource
    if resource_type not in SUPPORTED and resource_type != "OperationOutcome":
        return resource  # other resources are allowed and ignored
    try:
        _model(resource_type).model_validate(resource)
    except (ValidationError, ValueError, TypeError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) and exc.errors() else None
        detail = (
            f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first else str(exc).splitlines()[0]
        )
        raise InvalidHookRequest(reason=f"{where} ({resource_type}) {detail}"[:300]) from exc
    return resource


def _resources(value: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(value, dict):
        return
    if value.get("resourceType") == "Bundle":
        for entry in value.get("entry") or []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield from _resources(entry["resource"])
    else:
        yield value


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in _codings(concept):
        if coding.get("display"):
            return str(coding["display"])
    return ""


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value[:10])
        if day is None:
            return None
        parsed = dt.datetime.combine(day, dt.time(12))
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def drug_key(concept: Any, kb: KnowledgeIndex) -> tuple[str, str]:
    """(knowledge key, ATC code) for a medication CodeableConcept."""
    atc = ""
    for coding in _codings(concept):
        system, code = coding.get("system", ""), str(coding.get("code", ""))
        if system == KNOWLEDGE_SYSTEM and code.startswith(("drug:", "drug_class:")):
            return code, atc
        if system in ATC_SYSTEMS and code:
            atc = code.upper()
    for coding in _codings(concept):
        system, code = coding.get("system", ""), str(coding.get("code", "")).upper()
        if system in ATC_SYSTEMS and code in kb.by_atc:
            return kb.by_atc[code], atc
        if system in DRUGBANK_SYSTEMS and code in kb.by_drugbank:
            return kb.by_drugbank[code], atc
        if system in RXNORM_SYSTEMS and code in kb.by_rxnorm:
            return kb.by_rxnorm[code], atc
    names = [_text(concept)] + [str(c.get("display", "")) for c in _codings(concept)]
    for name in names:
        if name and kb.drug_for_text(name):
            return kb.drug_for_text(name), atc
    return "", atc


def _medication(resource: dict[str, Any], kb: KnowledgeIndex, status: str) -> Medication:
    concept = resource.get("medicationCodeableConcept") or {}
    key, atc = drug_key(concept, kb)
    med = Medication(
        drug=key, name=_text(concept) or key, atc=atc, status=status, order_id=str(resource.get("id", ""))
    )
    dosage = (resource.get("dosageInstruction") or resource.get("dosage") or [{}])[0] or {}
    for dose_and_rate in dosage.get("doseAndRate") or []:
        quantity = dose_and_rate.get("doseQuantity") or {}
        if "value" in quantity:
            med.dose = float(quantity["value"])
            med.dose_unit = str(quantity.get("unit") or quantity.get("code") or "")
            break
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    if repeat.get("frequency") and repeat.get("period") and repeat.get("periodUnit") in PER_DAY:
        med.frequency_per_day = (
            float(repeat["frequency"]) / float(repeat["period"]) * PER_DAY[repeat["periodUnit"]]
        )
    route = _codings(dosage.get("route"))
    if route:
        med.route = str(route[0].get("display") or route[0].get("code") or "")
    return med


def _exam_code(concept: Any, kb: KnowledgeIndex) -> str:
    for coding in _codings(concept):
        if coding.get("system") == LOINC and coding.get("code"):
            return str(coding["code"])
        if coding.get("system") == KNOWLEDGE_SYSTEM and str(coding.get("code", "")).startswith("exam:"):
            return str(coding["code"])
    return ""


def _age(birth: dt.date, on: dt.date) -> tuple[int, int]:
    months = (on.year - birth.year) * 12 + on.month - birth.month - (1 if on.day < birth.day else 0)
    return months // 12, months


def facts_from_request(request: dict[str, Any], *, as_of: dt.datetime | None = None) -> ClinicalFacts:
    """ClinicalFacts for a (validated) CDS Hooks request body."""
    kb = knowledge_index()
    context = request.get("context") or {}
    prefetch = request.get("prefetch") or {}
    now = as_of or timezone.now()
    facts = ClinicalFacts(patient_id=str(context.get("patientId", "")), as_of=now)
    seen_meds: set[str] = set()
    for value in prefetch.values():
        for resource in _resources(value):
            kind = resource.get("resourceType")
            if kind == "Patient":
                if resource.get("birthDate"):
                    birth = parse_date(
                        str(resource["birthDate"])[:10]
                        if len(str(resource["birthDate"])) >= 10
                        else f"{resource['birthDate']}-01-01"[:10]
                    )
                    if birth:
                        facts.age_years, facts.age_months = _age(birth, timezone.localdate(now))
                facts.sex = {"male": "male", "female": "female"}.get(resource.get("gender", ""), "")
            elif kind in ("MedicationRequest", "MedicationStatement"):
                if resource.get("status") not in (None, "active", "on-hold", "intended"):
                    continue
                med = _medication(resource, kb, "active")
                marker = med.order_id or f"{med.drug}:{med.name}"
                if marker not in seen_meds:
                    seen_meds.add(marker)
                    facts.medications.append(med)
            elif kind == "AllergyIntolerance":
                status = _codings(resource.get("clinicalStatus"))
                if status and status[0].get("code") not in ("active", None):
                    continue
                concept = resource.get("code") or {}
                key, _atc = drug_key(concept, kb)
                for coding in _codings(concept):
                    if coding.get("system") == KNOWLEDGE_SYSTEM:
                        key = str(coding.get("code", key))
                reaction = resource.get("reaction") or []
                manifest = _text((reaction[0].get("manifestation") or [{}])[0]) if reaction else ""
                facts.allergies.append(
                    Allergy(
                        substance=key,
                        name=_text(concept),
                        reaction=manifest,
                        severity=str(resource.get("criticality", "")),
                    )
                )
            elif kind == "Condition":
                status = _codings(resource.get("clinicalStatus"))
                state = str(status[0].get("code")) if status else "active"
                concept = resource.get("code") or {}
                icd10 = next(
                    (str(c.get("code")) for c in _codings(concept) if c.get("system") in ICD10_SYSTEMS), ""
                )
                disease = next(
                    (str(c.get("code")) for c in _codings(concept) if c.get("system") == KNOWLEDGE_SYSTEM), ""
                )
                facts.conditions.append(
                    Condition(icd10=icd10, name=_text(concept), disease=disease, status=state)
                )
                if state == "active" and (
                    icd10.upper().startswith(("O", "Z33", "Z34", "Z35"))
                    or any(c.get("code") == PREGNANT_SNOMED for c in _codings(concept))
                ):
                    facts.pregnant = True
            elif kind == "Observation":
                code = _exam_code(resource.get("code"), kb)
                if code == PREGNANCY_STATUS_LOINC:
                    answer = _codings(resource.get("valueCodeableConcept"))
                    facts.pregnant = facts.pregnant or any(a.get("code") == PREGNANT_SNOMED for a in answer)
                    continue
                quantity = resource.get("valueQuantity") or {}
                value = quantity.get("value")
                when = _when(resource.get("effectiveDateTime") or resource.get("issued"))
                interpretation = _codings((resource.get("interpretation") or [{}])[0])
                facts.observations.append(
                    Observation(
                        code=code,
                        name=_text(resource.get("code")),
                        value=float(value) if isinstance(value, int | float) else None,
                        unit=str(quantity.get("unit") or quantity.get("code") or ""),
                        when=when,
                        flag=str(interpretation[0].get("code", "")) if interpretation else "",
                    )
                )
            elif kind == "ServiceRequest":
                facts.exam_orders.append(
                    ExamOrder(
                        exam=_exam_code(resource.get("code"), kb),
                        name=_text(resource.get("code")),
                        when=_when(resource.get("authoredOn")),
                        status="draft"
                        if resource.get("status") == "draft"
                        else str(resource.get("status", "active")),
                        order_id=str(resource.get("id", "")),
                    )
                )
    selections = {str(s) for s in context.get("selections") or []}
    for resource in _resources(context.get("draftOrders")):
        selected = not selections or f"{resource.get('resourceType')}/{resource.get('id')}" in selections
        if resource.get("resourceType") == "MedicationRequest":
            # order-select: the selected orders are checked; the other drafts still count as
            # drugs the patient is about to take (interactions, duplicates).
            if selected or request.get("hook") != "order-select":
                facts.draft_medications.append(_medication(resource, kb, "draft"))
            else:
                facts.medications.append(_medication(resource, kb, "draft"))
        elif resource.get("resourceType") == "ServiceRequest":
            facts.exam_orders.append(
                ExamOrder(
                    exam=_exam_code(resource.get("code"), kb),
                    name=_text(resource.get("code")),
                    when=_when(resource.get("authoredOn")) or now,
                    status="draft",
                    order_id=str(resource.get("id", "")),
                )
            )
    facts.observations.sort(key=lambda o: o.when or dt.datetime.min.replace(tzinfo=dt.UTC))
    weight = clinical.latest(facts, (clinical.WEIGHT_LOINC,))
    if weight is not None:
        facts.weight_kg = weight.value
    height = clinical.latest(facts, (clinical.HEIGHT_LOINC,))
    if height is not None:
        facts.height_cm = height.value
    return facts
