"""Home monitoring API.

* ``POST /fhir/Observation``: devices post readings as FHIR R4 Observations (one, or a Bundle),
  authenticated with their own credential (``Authorization: Bearer scd_...``). Session users and
  integration tokens are not devices and get 401.
* The care team: a patient's readings as a FHIR searchset, open alerts and acknowledgement,
  thresholds, device pairing, the rehab plan with its progress. Same services, access rules and
  audit as the pages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from ninja.security import HttpBearer
from pydantic import Field

from smartcare.core import clock
from smartcare.core.errors import InvalidInput, PermissionDenied
from smartcare.core.permissions import has_capability
from smartcare.monitoring import fhir, selectors, services
from smartcare.monitoring.choices import Bounds, MeasurementKind
from smartcare.monitoring.errors import InvalidDeviceCredential
from smartcare.monitoring.ingest import authenticate_device
from smartcare.monitoring.models import Alert, Device, Reading
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction

logger = logging.getLogger("smartcare.monitoring")
router = Router(tags=["monitoring"])
FHIR_JSON = "application/fhir+json"


class DeviceCredential(HttpBearer):
    """``Authorization: Bearer scd_<device id>_<secret>``: the device acts as its machine identity."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            device = authenticate_device(token)
        except InvalidDeviceCredential:
            logger.warning("MON-002 device credential refused from %s", request.META.get("REMOTE_ADDR", ""))
            return None
        request.user = device.identity
        request.device = device  # type: ignore[attr-defined]
        return device


# --- Devices: readings in ---------------------------------------------------------------------------


def _fhir(body: dict[str, Any], status: int) -> HttpResponse:
    return HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type=FHIR_JSON)


@router.post(
    "/fhir/Observation",
    auth=[DeviceCredential()],
    response={200: dict, 201: dict},
    summary="A device posts readings: one FHIR Observation or a Bundle of them",
    openapi_extra={
        "requestBody": {
            "content": {
                FHIR_JSON: {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
            },
            "required": True,
        }
    },
)
def post_observations(request: HttpRequest) -> HttpResponse:
    device: Device = request.device  # type: ignore[attr-defined]
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(errors={"body": ["not JSON"]}) from None
    result = services.ingest_observations(device, body)
    status = 201 if result.created else 200
    if isinstance(body, dict) and body.get("resourceType") == "Observation":
        reading, _new = result.readings[0]
        resource = fhir.observation_of(reading)
        return _fhir(resource, status)
    entries = [
        {
            "resource": fhir.observation_of(reading),
            "response": {
                "status": "201 Created" if new else "200 OK",
                "location": f"Observation/{reading.pk}",
            },
        }
        for reading, new in result.readings
    ]
    return _fhir({"resourceType": "Bundle", "type": "batch-response", "entry": entries}, status)


# --- Care team --------------------------------------------------------------------------------------


@router.get(
    "/patients/{int:patient_id}/observations",
    response=dict,
    summary="A patient's home readings as a FHIR searchset Bundle",
)
def observations(request: HttpRequest, patient_id: int, kind: str = "", days: int = 30) -> HttpResponse:
    user: Any = request.user
    if not (has_capability(user, "monitoring.view") or has_capability(user, "monitoring.own")):
        raise PermissionDenied()
    patient = access_patient(user, patient_id, AccessAction.CLINICAL, reason="home monitoring (API)")
    days = max(1, min(days, 366))
    readings = Reading.objects.filter(patient=patient, measured_at__gte=clock.now() - dt.timedelta(days=days))
    if kind:
        if kind not in MeasurementKind.values:
            raise InvalidInput(errors={"kind": ["unknown measurement"]})
        readings = readings.filter(kind=kind)
    return _fhir(fhir.searchset(list(readings.order_by("measured_at")[:5000])), 200)


class AlertOut(Schema):
    id: int
    patient_id: int
    patient_name: str
    kind: str
    rule: str
    severity: str
    direction: str
    status: str
    value_text: str
    raised_at: dt.datetime
    repeat_count: int
    escalation_level: int
    acknowledged_at: dt.datetime | None
    advice: str


def _alert(a: Alert) -> dict[str, Any]:
    return {
        "id": a.pk,
        "patient_id": a.patient_id,
        "patient_name": a.patient.name,
        "kind": a.kind,
        "rule": a.rule,
        "severity": a.severity,
        "direction": a.direction,
        "status": a.status,
        "value_text": a.value_text,
        "raised_at": a.raised_at,
        "repeat_count": a.repeat_count,
        "escalation_level": a.escalation_level,
        "acknowledged_at": a.acknowledged_at,
        "advice": a.advice,
    }


class BoardRowOut(Schema):
    patient_id: int
    patient_name: str
    risk: int
    silent: bool
    last_reading_at: dt.datetime | None
    alerts: list[AlertOut]


@router.get(
    "/board", response=list[BoardRowOut], summary="My (or my department's) monitored patients by risk"
)
def board(request: HttpRequest, scope: str = "mine") -> list[dict[str, Any]]:
    return [
        {
            "patient_id": row.patient.pk,
            "patient_name": row.patient.name,
            "risk": row.risk,
            "silent": row.silent,
            "last_reading_at": row.last_reading_at,
            "alerts": [_alert(a) for a in row.alerts],
        }
        for row in selectors.board(request.user, scope)
    ]


class AcknowledgeIn(Schema):
    note: str = Field(default="", max_length=1000)


@router.post("/alerts/{int:alert_id}/acknowledge", response=AlertOut, summary="Acknowledge an alert")
def acknowledge(request: HttpRequest, alert_id: int, payload: AcknowledgeIn) -> dict[str, Any]:
    return _alert(services.acknowledge_alert(request.user, alert_id, note=payload.note))


class ThresholdOut(Schema):
    kind: str
    metric: str
    critical_low: float | None
    warning_low: float | None
    warning_high: float | None
    critical_high: float | None
    patient_specific: bool


class ThresholdIn(Schema):
    kind: str
    metric: str
    critical_low: float | None = None
    warning_low: float | None = None
    warning_high: float | None = None
    critical_high: float | None = None


class ThresholdsIn(Schema):
    thresholds: list[ThresholdIn]
    reason: str = Field(default="", max_length=300)


def _thresholds(effective: dict[tuple[str, str], tuple[Bounds, bool]]) -> list[dict[str, Any]]:
    return [
        {"kind": kind, "metric": metric, **bounds.as_dict(), "patient_specific": own}
        for (kind, metric), (bounds, own) in effective.items()
    ]


@router.get(
    "/patients/{int:patient_id}/thresholds", response=list[ThresholdOut], summary="Effective alert thresholds"
)
def thresholds(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    user: Any = request.user
    if not has_capability(user, "monitoring.view"):
        raise PermissionDenied()
    patient = access_patient(user, patient_id, AccessAction.CLINICAL, reason="home monitoring thresholds")
    return _thresholds(services.effective_thresholds(patient.pk))


@router.put(
    "/patients/{int:patient_id}/thresholds",
    response=list[ThresholdOut],
    summary="Set a patient's alert thresholds (doctors)",
)
def set_thresholds(request: HttpRequest, patient_id: int, payload: ThresholdsIn) -> list[dict[str, Any]]:
    bounds = {
        (t.kind, t.metric): Bounds(t.critical_low, t.warning_low, t.warning_high, t.critical_high)
        for t in payload.thresholds
    }
    return _thresholds(services.set_thresholds(request.user, patient_id, bounds, reason=payload.reason))


class DeviceIn(Schema):
    kind: str
    serial_number: str = Field(max_length=64)
    manufacturer: str = Field(default="", max_length=100)
    model_name: str = Field(default="", max_length=100)


class DeviceOut(Schema):
    id: int
    uid: str
    kind: str
    serial_number: str
    patient_id: int | None
    credential: str
    mqtt_topic: str


@router.post(
    "/patients/{int:patient_id}/devices",
    response={201: DeviceOut},
    summary="Register a device and pair it with an enrolled patient; the credential is returned once",
)
def pair_device(request: HttpRequest, patient_id: int, payload: DeviceIn) -> Status:
    from django.conf import settings

    device, credential = services.register_device(request.user, patient_id, **payload.dict())
    return Status(
        201,
        {
            "id": device.pk,
            "uid": device.uid,
            "kind": device.kind,
            "serial_number": device.serial_number,
            "patient_id": device.patient_id,
            "credential": credential,
            "mqtt_topic": f"{settings.SMARTCARE_MQTT_TOPIC_PREFIX}/{device.uid}/readings",
        },
    )


@router.post("/devices/{int:device_id}/unpair", response={204: None}, summary="Unpair a device")
def unpair_device(request: HttpRequest, device_id: int) -> Status:
    services.unpair_device(request.user, device_id)
    return Status(204, None)


class RehabDayOut(Schema):
    day: dt.date
    actual: float
    target: int | None


class RehabTargetOut(Schema):
    kind: str
    target: int | None
    today: float
    days: list[RehabDayOut]


class RehabOut(Schema):
    plan_id: int | None
    therapist: str
    starts_on: dt.date | None
    targets: list[RehabTargetOut]
    pending_suggestions: list[dict[str, Any]]


@router.get(
    "/patients/{int:patient_id}/rehab", response=RehabOut, summary="The rehab plan and daily progress"
)
def rehab(request: HttpRequest, patient_id: int) -> dict[str, Any]:
    user: Any = request.user
    if not (has_capability(user, "monitoring.view") or has_capability(user, "monitoring.own")):
        raise PermissionDenied()
    patient = access_patient(user, patient_id, AccessAction.CLINICAL, reason="rehab progress (API)")
    found = selectors.rehab_overview(patient.pk)
    if found is None:
        return {"plan_id": None, "therapist": "", "starts_on": None, "targets": [], "pending_suggestions": []}
    return {
        "plan_id": found["plan"].pk,
        "therapist": str(found["plan"].therapist),
        "starts_on": found["plan"].starts_on,
        "targets": [
            {"kind": item["kind"], "target": item["target"], "today": item["today"], "days": item["rows"]}
            for item in found["progress"]
        ],
        "pending_suggestions": [
            {
                "id": s.pk,
                "kind": s.kind,
                "rule": s.rule,
                "current_target": s.current_target,
                "suggested_target": s.suggested_target,
            }
            for s in found["pending"]
        ],
    }
