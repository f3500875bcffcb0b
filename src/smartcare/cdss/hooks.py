"""The CDS Hooks 2.0 services: their discovery description and request validation."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from smartcare.cdss.choices import Hook
from smartcare.cdss.errors import ImplausiblePatientData, InvalidHookRequest, PrefetchMismatch, UnknownService
from smartcare.cdss.fhir_context import validate_resource

PATIENT = "{{context.patientId}}"
PREFETCH_PATIENT = {
    "patient": f"Patient/{PATIENT}",
    "medications": f"MedicationRequest?patient={PATIENT}&status=active",
    "allergies": f"AllergyIntolerance?patient={PATIENT}&clinical-status=active",
    "conditions": f"Condition?patient={PATIENT}&clinical-status=active",
    "observations": f"Observation?patient={PATIENT}&category=laboratory&_sort=-date&_count=200",
    "vitals": f"Observation?patient={PATIENT}&category=vital-signs&_sort=-date&_count=20",
    "orders": f"ServiceRequest?patient={PATIENT}&_sort=-authored&_count=100",
}


def template_type(template: str) -> tuple[str, bool]:
    """(resource type, is a search) of a prefetch template: ``Patient/{{...}}`` is a read of a
    Patient, ``Observation?patient=...`` a search of Observations (a searchset Bundle)."""
    path = template.split("?", 1)[0]
    return path.split("/", 1)[0], "?" in template


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: Any
    description: Any

    def discovery(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hook": self.hook,
            "title": str(self.title),
            "description": str(self.description),
            "prefetch": PREFETCH_PATIENT,
            "usageRequirements": str(
                _("Authenticate with a smartcare API token (Authorization: Bearer) or a workstation session.")
            ),
        }


SERVICES = {
    s.id: s
    for s in (
        Service(
            "smartcare-patient-view",
            Hook.PATIENT_VIEW,
            _("smartcare care gaps and medication review"),
            _(
                "When a chart opens: missed recommended exams, interactions and contraindications in the current medication list."
            ),
        ),
        Service(
            "smartcare-order-select",
            Hook.ORDER_SELECT,
            _("smartcare order checks (select)"),
            _(
                "When an order is selected: interactions, allergies, contraindications, dose range, duplicate therapy, repeated exams."
            ),
        ),
        Service(
            "smartcare-order-sign",
            Hook.ORDER_SIGN,
            _("smartcare order checks (sign)"),
            _(
                "Before orders are signed: interactions, allergies, contraindications, dose range, duplicate therapy, repeated exams."
            ),
        ),
    )
}


def service(service_id: str) -> Service:
    found = SERVICES.get(service_id)
    if found is None:
        raise UnknownService()
    return found


def _require_string(data: dict[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidHookRequest(reason=f"{where}{name}: " + _t("required string"))
    return value


def validate_request(svc: Service, body: Any) -> dict[str, Any]:
    """Check a CDS Hooks request against the 2.0 specification; raises CDSS-001 with the reason."""
    if not isinstance(body, dict):
        raise InvalidHookRequest(reason=_t("the body must be a JSON object"))
    hook = _require_string(body, "hook", "")
    if hook != svc.hook:
        raise InvalidHookRequest(
            reason="hook: "
            + _t("this service answers %(expected)s, not %(sent)s") % {"expected": svc.hook, "sent": hook}
        )
    try:
        uuid.UUID(_require_string(body, "hookInstance", ""))
    except ValueError as exc:
        raise InvalidHookRequest(reason="hookInstance: " + _t("must be a UUID")) from exc
    if "fhirAuthorization" in body and "fhirServer" not in body:
        raise InvalidHookRequest(reason="fhirAuthorization: " + _t("requires fhirServer"))
    context = body.get("context")
    if not isinstance(context, dict):
        raise InvalidHookRequest(reason="context: " + _t("required object"))
    _require_string(context, "userId", "context.")
    _require_string(context, "patientId", "context.")
    if "encounterId" in context and not isinstance(context["encounterId"], str):
        raise InvalidHookRequest(reason="context.encounterId: " + _t("must be a string"))
    if svc.hook in (Hook.ORDER_SELECT, Hook.ORDER_SIGN):
        draft = context.get("draftOrders")
        if not isinstance(draft, dict) or draft.get("resourceType") != "Bundle":
            raise InvalidHookRequest(reason="context.draftOrders: " + _t("required FHIR Bundle"))
        validate_resource(draft, "context.draftOrders")
    if svc.hook == Hook.ORDER_SELECT:
        selections = context.get("selections")
        if (
            not isinstance(selections, list)
            or not selections
            or not all(isinstance(s, str) for s in selections)
        ):
            raise InvalidHookRequest(
                reason="context.selections: " + _t("required array of resource references")
            )
    prefetch = body.get("prefetch", {})
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise InvalidHookRequest(reason="prefetch: " + _t("must be an object"))
    for key, value in prefetch.items():
        if value is not None:
            validate_resource(value, f"prefetch.{key}")
            check_prefetch(svc, key, value)
    return body


# A client that could not run a prefetch query sends an OperationOutcome in its place (CDS Hooks 2.0).
FAILED_PREFETCH = "OperationOutcome"


def check_prefetch(svc: Service, key: str, value: dict[str, Any]) -> None:
    """The prefetch ``key`` must be one of the service's templates and hold what its template asks
    for: the resource of a read, a Bundle of the searched resources for a search (CDSS-007). A
    patient born in the future is refused (CDSS-008)."""
    template = PREFETCH_PATIENT.get(key)  # every service asks for the same prefetch
    where = f"prefetch.{key}"
    if template is None:
        raise PrefetchMismatch(key=where, reason=_t("this service has no such prefetch template"))
    wanted, search = template_type(template)
    sent = value.get("resourceType")
    if sent == FAILED_PREFETCH:
        return
    if sent == "Bundle":
        if not search:
            raise PrefetchMismatch(
                key=where,
                reason=_t("Bundle found where the template asks for one %(type)s") % {"type": wanted},
            )
        for index, entry in enumerate(value.get("entry") or []):
            if not isinstance(entry.get("resource"), dict):
                continue
            found = entry["resource"].get("resourceType")
            if found not in (wanted, FAILED_PREFETCH):
                raise PrefetchMismatch(
                    key=f"{where}.entry[{index}]",
                    reason=_t("%(found)s found where the template asks for %(type)s")
                    % {"found": found, "type": wanted},
                )
            if found == "Patient":
                _check_patient(entry["resource"], f"{where}.entry[{index}]")
        return
    if sent != wanted:
        raise PrefetchMismatch(
            key=where,
            reason=_t("%(found)s found where the template asks for %(type)s")
            % {"found": sent, "type": wanted},
        )
    if sent == "Patient":
        _check_patient(value, where)


_BIRTH = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


def _check_patient(patient: dict[str, Any], where: str) -> None:
    found = _BIRTH.match(str(patient.get("birthDate") or ""))
    if found is None:
        return
    year, month, day = int(found[1]), int(found[2] or 1), int(found[3] or 1)
    today = timezone.localdate()
    if (year, month, day) > (today.year, today.month, today.day):
        raise ImplausiblePatientData(
            reason=_t("%(where)s.birthDate %(date)s is in the future")
            % {"where": where, "date": patient["birthDate"]}
        )
