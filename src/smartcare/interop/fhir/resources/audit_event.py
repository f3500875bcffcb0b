"""AuditEvent <-> ``audit.AuditEvent`` (read-only; auditors only, as the audit pages).

The id is the event's sequence number in the hash chain. ``subtype`` carries smartcare's action
(``read``, ``denied``, ``break_glass``...), ``action`` the FHIR C/R/U/D/E code, ``outcome`` 4 for
a refused access.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import AuditEvent
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import BASE, fhir_instant
from smartcare.interop.fhir.registry import Access, Mapping, ParamKind, ParamSpec, Source, register
from smartcare.interop.fhir.resources.common import drop_empty, reference

ACTION_SYSTEM = f"{BASE}/CodeSystem/audit-action"
_FHIR_ACTION: dict[str, str] = {
    AuditAction.CREATE: "C",
    AuditAction.READ: "R",
    AuditAction.UPDATE: "U",
    AuditAction.DELETE: "D",
    AuditAction.EXPORT: "R",
    AuditAction.DENIED: "R",
}


def to_fhir(row: AuditEvent) -> dict[str, Any]:
    entities: list[dict[str, Any]] = []
    if row.patient_id is not None:
        entities.append(
            {
                "what": reference("Patient", row.patient_id),
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
            }
        )
    if row.object_type:
        entities.append(
            {"what": {"display": f"{row.object_type}:{row.object_id}"}, "description": row.object_type}
        )
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser",
                }
            ]
        },
        "who": {"display": row.actor_username or "system"},
        "requestor": True,
        "role": [{"text": row.actor_role}] if row.actor_role else None,
        "network": {"address": row.client_address, "type": "2"} if row.client_address else None,
        "purposeOfUse": [{"text": row.reason}] if row.reason else None,
    }
    return drop_empty(
        {
            "resourceType": "AuditEvent",
            "id": str(row.sequence),
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
            "subtype": [
                {"system": ACTION_SYSTEM, "code": row.action, "display": str(row.get_action_display())}
            ],
            "action": _FHIR_ACTION.get(row.action, "E"),
            "recorded": fhir_instant(row.occurred_at),
            "outcome": "4" if row.action == AuditAction.DENIED else "0",
            "agent": [drop_empty(agent)],
            "source": {"site": row.channel or "system", "observer": {"display": "smartcare"}},
            "entity": entities,
        }
    )


def _id(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    return rows.filter(sequence__in=[int(t.code) for t in values if t.code.isdigit() and len(t.code) < 19])


def _patient(rows: QuerySet[Any], values: list[p.Ref]) -> QuerySet[Any]:
    return rows.filter(patient_id__in=[int(v.id) for v in values if v.id.isdigit() and len(v.id) < 19])


def _subtype(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    return rows.filter(action__in=[t.code for t in values if t.system in (None, ACTION_SYSTEM)])


SOURCE = Source(
    model=AuditEvent,
    id_field="sequence",
    to_fhir=to_fhir,
    base=lambda: AuditEvent.objects.all(),
    patient_field=None,
    last_updated=None,
    filters={
        "_id": _id,
        "date": p.by_date("occurred_at"),
        "patient": _patient,
        "subtype": _subtype,
    },
    sort={"date": "occurred_at", "_id": "sequence"},
)


class AuditEventMapping(Mapping):
    resource_type = "AuditEvent"
    access = Access.AUDIT
    sources = [SOURCE]
    params = [
        ParamSpec("_id", ParamKind.TOKEN, "the event's sequence number"),
        ParamSpec("date", ParamKind.DATE),
        ParamSpec("patient", ParamKind.REFERENCE),
        ParamSpec("subtype", ParamKind.TOKEN, "smartcare's action: read, create, denied, break_glass..."),
    ]
    rank = 9
    store_fallback = False
    description = "audit.AuditEvent (read-only)"


register(AuditEventMapping())
