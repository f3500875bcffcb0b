"""The CapabilityStatement at ``/fhir/R4/metadata``, built from the mappings so it says exactly
what the server does."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from smartcare import __version__
from smartcare.core import clock
from smartcare.interop.fhir.datatypes import fhir_instant
from smartcare.interop.fhir.registry import Access, Mapping, mappings

_WHO_READS = {
    Access.PATIENT_VIEW: "Patient-level access as on the pages (patients.access): the patient, clinicians "
    "in care or after breaking the glass, front desk. Every read is audited.",
    Access.PATIENT_CLINICAL: "The clinical record: the patient and clinicians in care or after breaking the "
    "glass (patients.access). Every read is audited.",
    Access.DIRECTORY: "The hospital directory: every signed-in user.",
    Access.SCHEDULE: "Users with scheduling.view_schedule.",
    Access.AUDIT: "Auditors (audit.view).",
}


def _interactions(mapping: Mapping) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{"code": "read"}, {"code": "search-type"}]
    if mapping.store_source() is not None:
        found.append({"code": "vread", "documentation": "Versions exist for resources kept as FHIR."})
    store_only = mapping.sources[0].is_store
    if mapping.writable:
        capability = mapping.write_capability
        found.append(
            {"code": "create", "documentation": f"Needs {capability} and update access to the patient."}
        )
        found.append(
            {"code": "update", "documentation": f"Needs {capability} and update access to the patient."}
        )
    elif store_only or mapping.store_source() is not None:
        note = "Data importers only (interop.fhir_import)."
        if not store_only:
            note += f" Kept as FHIR unless it names a smartcare {mapping.resource_type}."
        found.append({"code": "create", "documentation": note})
        found.append({"code": "update", "documentation": note})
    return found


def _resource(mapping: Mapping) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": mapping.resource_type,
        "documentation": f"{mapping.description}. Read: {_WHO_READS[mapping.access]}",
        "interaction": _interactions(mapping),
        # Only resources kept as FHIR have versions: a type mapped onto smartcare's own tables
        # (even with a FHIR store beside them) does not version its mapped rows.
        "versioning": "versioned" if mapping.sources[0].is_store else "no-version",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": [
            {
                "name": param.name,
                "type": param.kind.value,
                **({"documentation": param.description} if param.description else {}),
            }
            for param in mapping.params
        ],
    }
    writes = any(i["code"] == "create" for i in entry["interaction"])
    if writes:
        entry["conditionalCreate"] = True
        entry["conditionalUpdate"] = True
    if mapping.includes:
        entry["searchInclude"] = sorted(mapping.includes)
    return entry


def capability_statement(base_url: str) -> dict[str, Any]:
    name = getattr(settings, "SMARTCARE_HOSPITAL_NAME", "") or "smartcare"
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": fhir_instant(clock.now()),
        "publisher": name,
        "kind": "instance",
        "software": {"name": "smartcare", "version": __version__},
        "implementation": {"description": f"{name} FHIR R4 API", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Search results are paged with _count (default 50, at most 500) and _offset; "
                    "_sort takes the date parameter of each type, _id and _lastUpdated ('-' for "
                    "descending); _summary=count returns the total only. Modifiers and chained "
                    "parameters are not supported and are refused (INTEROP-105). Errors are "
                    "OperationOutcome with the smartcare error code in issue.details.coding."
                ),
                "security": {
                    "cors": False,
                    "description": (
                        "Authorization: Bearer sc_... (API tokens of machine identities), X-API-Key, or the "
                        "smartcare session cookie with the CSRF token for writes."
                    ),
                },
                "resource": [_resource(m) for m in mappings()],
                "interaction": [
                    {"code": "transaction", "documentation": "All or nothing; urn:uuid references resolved."},
                    {"code": "batch", "documentation": "Each entry on its own."},
                ],
            }
        ],
    }
