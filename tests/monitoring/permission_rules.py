"""Permission rules for home monitoring: the pages under /monitoring/ and the API under
/api/monitoring/.

``setup`` enrols each caller's target patient in cardiology (the cardiology doctor responsible)
with a paired blood pressure monitor, a critical reading and its open alert, and a rehab plan
with a suggestion waiting (written directly: the callers differ in whom they may see, the world
must not).

Capabilities: ``monitoring.view`` (doctors, nurses, department heads) opens the board and a
patient's monitoring; ``monitoring.devices`` pairs and unpairs devices; ``monitoring.enroll``,
``monitoring.thresholds`` and ``monitoring.acknowledge`` are the doctors'; ``monitoring.rehab``
the care team's; ``monitoring.duty`` the department head's; ``monitoring.own`` the patient's own
page. One patient's data needs access to that patient (``access_patient``): clinicians without
care get 404 CORE-404, as for a patient that does not exist; roles without the capability 403.
Devices post readings with their own credential only: a session or an integration token gets 401.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.core import clock
from smartcare.monitoring.models import (
    Alert,
    Device,
    DutyAssignment,
    Enrollment,
    Reading,
    RehabPlan,
    RehabSuggestion,
    RehabTarget,
    Threshold,
)
from tests.test_permissions import (
    BREAK_GLASS,
    CARE,
    CLINICIANS,
    HEAD,
    MISSING_ID,
    NO_CARE,
    NOBODY,
    PATIENT_OTHER,
    PATIENT_OWN,
    PATIENTS,
    SIGNED_IN,
    Rule,
    World,
)

# Doctors with access to the target (the cardiology doctor, the neurologist after breaking the
# glass, the cardiology head); the neurologist without care is answered "not found".
DOCTORS = frozenset({CARE, BREAK_GLASS, HEAD})
NOT_FOUND = {NO_CARE: 404}


def setup(world: World) -> None:
    h, target = world.h, world.target
    doctor = h.user("doctor")
    now = clock.now()
    enrollment = Enrollment.objects.create(
        patient=target, department=h.cardiology, responsible=doctor, created_by=doctor
    )
    identity = User.objects.create(username="device-perm-bp", role=Role.DEVICE, password="!")
    device = Device.objects.create(
        uid="permbp000001",
        kind="bp_monitor",
        serial_number="PERM-BP-1",
        identity=identity,
        patient=target,
        paired_at=now,
        secret_hash=Device.hash_secret("scd_permbp000001_secret"),
    )
    reading = Reading.objects.create(
        patient=target,
        device=device,
        kind="blood_pressure",
        value=190,
        value2=115,
        unit="mmHg",
        measured_at=now,
        source="mqtt",
        message_id="perm-1",
        flag="C",
    )
    alert = Alert.objects.create(
        patient=target,
        enrollment=enrollment,
        department=h.cardiology,
        responsible=doctor,
        kind="blood_pressure",
        rule="threshold",
        severity="critical",
        direction="high",
        reading=reading,
        value_text="190/115 mmHg",
        critical_since=now,
    )
    start = clock.today() - dt.timedelta(days=10)
    plan = RehabPlan.objects.create(
        patient=target, department=h.cardiology, therapist=doctor, starts_on=start, created_by=doctor
    )
    RehabTarget.objects.create(
        plan=plan, kind="steps", daily_target=5000, effective_from=start, set_by=doctor
    )
    suggestion = RehabSuggestion.objects.create(
        plan=plan,
        kind="steps",
        rule="below_half",
        current_target=5000,
        suggested_target=2000,
        window_start=clock.today() - dt.timedelta(days=3),
        window_end=clock.today() - dt.timedelta(days=1),
        daily_values=[1500, 1800, 2000],
    )
    world.extra.update(mon_device=device, mon_alert=alert, mon_suggestion=suggestion)


def _device(world: World, missing: bool) -> dict[str, Any]:
    return {"device_id": MISSING_ID if missing else world.extra["mon_device"].pk}


def _alert(world: World, missing: bool) -> dict[str, Any]:
    return {"alert_id": MISSING_ID if missing else world.extra["mon_alert"].pk}


def _suggestion(world: World, missing: bool) -> dict[str, Any]:
    return {"suggestion_id": MISSING_ID if missing else world.extra["mon_suggestion"].pk}


def _bp_observation(world: World, missing: bool) -> dict[str, Any]:
    loinc = "http://loinc.org"
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": loinc, "code": "85354-9"}]},
        "effectiveDateTime": clock.now().isoformat(),
        "component": [
            {
                "code": {"coding": [{"system": loinc, "code": "8480-6"}]},
                "valueQuantity": {"value": 150, "unit": "mmHg"},
            },
            {
                "code": {"coding": [{"system": loinc, "code": "8462-4"}]},
                "valueQuantity": {"value": 90, "unit": "mmHg"},
            },
        ],
    }


def _own_reading_stored(world: World, kind: str, response: Any) -> None:
    assert Reading.objects.filter(patient=world.h.own_patient, source="manual", value=132).exists()


def _duty_saved(world: World, kind: str, response: Any) -> None:
    assert DutyAssignment.objects.filter(
        doctor=world.h.user("doctor"), department=world.h.cardiology
    ).exists()


def _paired(world: World, kind: str, response: Any) -> None:
    assert Device.objects.filter(serial_number="PERM-NEW", patient=world.target).exists()


def _thresholds_set(world: World, kind: str, response: Any) -> None:
    row = Threshold.objects.get(patient=world.target, kind="spo2", metric="value")
    assert (row.critical_low, row.warning_low) == (88, 92)


def _unpaired(world: World, kind: str, response: Any) -> None:
    device = Device.objects.get(pk=world.extra["mon_device"].pk)
    assert device.patient_id is None


def _rotated(world: World, kind: str, response: Any) -> None:
    device = Device.objects.get(pk=world.extra["mon_device"].pk)
    assert device.secret_hash != Device.hash_secret("scd_permbp000001_secret")
    assert b"scd_permbp000001_" in response.content


def _acknowledged(world: World, kind: str, response: Any) -> None:
    alert = Alert.objects.get(pk=world.extra["mon_alert"].pk)
    assert alert.status == "acknowledged" and alert.acknowledged_by == world.user


def _accepted(world: World, kind: str, response: Any) -> None:
    suggestion = RehabSuggestion.objects.get(pk=world.extra["mon_suggestion"].pk)
    assert (suggestion.status, suggestion.applied_target) == ("accepted", 2000)


def _duty_form(world: World, missing: bool) -> dict[str, Any]:
    start = clock.local_now().replace(second=0, microsecond=0)
    return {
        "doctor": world.h.user("doctor").pk,
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + dt.timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"),
    }


THRESHOLD_FORM = {"spo2.value.critical_low": "88", "spo2.value.warning_low": "92", "reason": "COPD"}
THRESHOLD_JSON = {
    "thresholds": [{"kind": "spo2", "metric": "value", "critical_low": 88, "warning_low": 92}],
    "reason": "COPD",
}
READERS = DOCTORS | {PATIENT_OWN}  # a patient reads their own readings and rehab progress

RULES: list[Rule] = [
    # --- pages ---
    Rule("GET", "/monitoring/", CLINICIANS),
    Rule("GET", "/monitoring/me/", PATIENTS),
    Rule("GET", "/monitoring/me/readings/", SIGNED_IN, ok=405),
    Rule(
        "POST",
        "/monitoring/me/readings/",
        PATIENTS,
        ok=302,
        payload=lambda w, m: {"kind": "blood_pressure", "value": "132", "value2": "84"},
        effect=_own_reading_stored,
    ),
    Rule("GET", "/monitoring/duty/", frozenset({HEAD})),
    Rule("POST", "/monitoring/duty/", frozenset({HEAD}), ok=302, payload=_duty_form, effect=_duty_saved),
    Rule("GET", "/monitoring/patients/{patient_id}/", DOCTORS, special=NOT_FOUND, record=True),
    Rule("GET", "/monitoring/patients/{patient_id}/enroll/", SIGNED_IN, ok=405),
    # The target is enrolled already: allowed doctors are told so (MON-013) and nothing changes.
    Rule(
        "POST",
        "/monitoring/patients/{patient_id}/enroll/",
        DOCTORS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"reason": "hypertension"},
        writes_for=NOBODY,
    ),
    Rule("GET", "/monitoring/patients/{patient_id}/devices/", SIGNED_IN, ok=405),
    Rule(
        "POST",
        "/monitoring/patients/{patient_id}/devices/",
        DOCTORS,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"kind": "scale", "serial_number": "PERM-NEW"},
        effect=_paired,
    ),
    Rule("GET", "/monitoring/patients/{patient_id}/thresholds/", SIGNED_IN, ok=405),
    Rule(
        "POST",
        "/monitoring/patients/{patient_id}/thresholds/",
        DOCTORS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: THRESHOLD_FORM,
        effect=_thresholds_set,
    ),
    Rule("GET", "/monitoring/patients/{patient_id}/rehab/", SIGNED_IN, ok=405),
    # The target has an active plan: allowed clinicians are told so (MON-012) and nothing changes.
    Rule(
        "POST",
        "/monitoring/patients/{patient_id}/rehab/",
        DOCTORS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"steps": "4000"},
        writes_for=NOBODY,
    ),
    Rule("GET", "/monitoring/devices/{device_id}/unpair/", SIGNED_IN, ok=405, params=_device),
    Rule(
        "POST",
        "/monitoring/devices/{device_id}/unpair/",
        DOCTORS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        params=_device,
        effect=_unpaired,
    ),
    Rule("GET", "/monitoring/devices/{device_id}/credential/", SIGNED_IN, ok=405, params=_device),
    Rule(
        "POST",
        "/monitoring/devices/{device_id}/credential/",
        DOCTORS,
        special=NOT_FOUND,
        record=True,
        params=_device,
        effect=_rotated,
    ),
    Rule("GET", "/monitoring/alerts/{alert_id}/acknowledge/", SIGNED_IN, ok=405, params=_alert),
    Rule(
        "POST",
        "/monitoring/alerts/{alert_id}/acknowledge/",
        DOCTORS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        params=_alert,
        payload=lambda w, m: {"note": "called the patient"},
        effect=_acknowledged,
    ),
    Rule("GET", "/monitoring/rehab/suggestions/{suggestion_id}/", SIGNED_IN, ok=405, params=_suggestion),
    Rule(
        "POST",
        "/monitoring/rehab/suggestions/{suggestion_id}/",
        DOCTORS,
        ok=302,
        special=NOT_FOUND,
        record=True,
        params=_suggestion,
        payload=lambda w, m: {"decision": "accept"},
        effect=_accepted,
    ),
    # --- API ---
    Rule(
        "POST",
        "/api/monitoring/fhir/Observation",
        NOBODY,
        deny=401,
        payload=_bp_observation,
    ),
    Rule(
        "GET",
        "/api/monitoring/patients/{patient_id}/observations",
        READERS,
        special={NO_CARE: 404, PATIENT_OTHER: 404},
        record=True,
    ),
    Rule("GET", "/api/monitoring/board", CLINICIANS),
    Rule(
        "POST",
        "/api/monitoring/alerts/{alert_id}/acknowledge",
        DOCTORS,
        special=NOT_FOUND,
        record=True,
        params=_alert,
        payload=lambda w, m: {"note": "seen"},
        effect=_acknowledged,
    ),
    Rule("GET", "/api/monitoring/patients/{patient_id}/thresholds", DOCTORS, special=NOT_FOUND, record=True),
    Rule(
        "PUT",
        "/api/monitoring/patients/{patient_id}/thresholds",
        DOCTORS,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: THRESHOLD_JSON,
        effect=_thresholds_set,
    ),
    Rule(
        "POST",
        "/api/monitoring/patients/{patient_id}/devices",
        DOCTORS,
        ok=201,
        special=NOT_FOUND,
        record=True,
        payload=lambda w, m: {"kind": "scale", "serial_number": "PERM-NEW"},
        effect=_paired,
    ),
    Rule(
        "POST",
        "/api/monitoring/devices/{device_id}/unpair",
        DOCTORS,
        ok=204,
        special=NOT_FOUND,
        record=True,
        params=_device,
        effect=_unpaired,
    ),
    Rule(
        "GET",
        "/api/monitoring/patients/{patient_id}/rehab",
        READERS,
        special={NO_CARE: 404, PATIENT_OTHER: 404},
        record=True,
    ),
]
