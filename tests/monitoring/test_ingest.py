"""Readings in: device credentials, FHIR Observations over HTTP, the MQTT payload, plausibility,
deduplication, and refusals that write nothing but are logged with the reason."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.choices import Role
from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import CodedError, InvalidInput, NotFound
from smartcare.monitoring import fhir, services
from smartcare.monitoring.errors import (
    DeviceAlreadyPaired,
    ImplausibleReading,
    InvalidDeviceCredential,
    InvalidReading,
    NotEnrolled,
)
from smartcare.monitoring.ingest import authenticate_device, reading_from_message
from smartcare.monitoring.models import Device, IngestRejection, Reading
from tests.factories import TestHospital
from tests.monitoring.conftest import Monitored, bp_observation, quantity_observation

# Messages are read in English (the default language is zh-Hans, fully translated).
pytestmark = pytest.mark.usefixtures("english")


def post(credential: str, body: Any) -> Any:
    return Client().post(
        "/api/monitoring/fhir/Observation",
        json.dumps(body),
        content_type="application/fhir+json",
        headers={"Authorization": f"Bearer {credential}"},
    )


# --- Devices and credentials -------------------------------------------------------------------------


def test_pairing_creates_a_machine_identity_and_stores_only_a_hash(monitored: Monitored) -> None:
    device = monitored.device
    assert device.identity.role == Role.DEVICE
    assert not device.identity.has_usable_password()
    assert monitored.credential.startswith(f"scd_{device.uid}_")
    assert device.secret_hash == Device.hash_secret(monitored.credential)
    assert monitored.credential not in json.dumps(list(Device.objects.values()), default=str)
    assert authenticate_device(monitored.credential) == device
    assert AuditEvent.objects.filter(
        object_type="monitoring.Device", patient_id=monitored.patient.pk
    ).exists()


@pytest.mark.parametrize(
    "credential",
    ["", "sc_abc_def", "scd_unknown_secret", "scd__x", "Bearer", "scd_{uid}_wrong-secret"],
)
def test_bad_credentials_are_refused(monitored: Monitored, credential: str) -> None:
    with pytest.raises(InvalidDeviceCredential):
        authenticate_device(credential.format(uid=monitored.device.uid))


def test_pairing_needs_enrolment_and_a_free_device(h: TestHospital, monitored: Monitored) -> None:
    with pytest.raises(NotEnrolled):
        services.register_device(h.user("doctor"), h.patient_in_care.pk, kind="scale", serial_number="S-1")
    services.enroll_patient(h.user("doctor"), h.patient_in_care.pk)
    with pytest.raises(DeviceAlreadyPaired):
        services.register_device(
            h.user("doctor"),
            h.patient_in_care.pk,
            kind="bp_monitor",
            serial_number="BP-0001",
            manufacturer="Omron",
        )
    with pytest.raises(InvalidInput) as bad:
        services.register_device(h.user("doctor"), h.patient_in_care.pk, kind="toaster", serial_number="")
    assert set(bad.value.errors) == {"kind", "serial_number"}
    # A clinician without care for the patient cannot pair a device to them (same answer as "no such patient").
    with pytest.raises(NotFound):
        services.register_device(
            h.user("neurologist"), h.patient_in_care.pk, kind="scale", serial_number="S-2"
        )
    assert not Device.objects.filter(serial_number__in=["S-1", "S-2"]).exists()


def test_unpairing_stops_the_credential_and_pairing_again_issues_a_new_one(
    h: TestHospital, monitored: Monitored
) -> None:
    services.unpair_device(h.user("nurse"), monitored.device.pk)
    with pytest.raises(InvalidDeviceCredential):
        authenticate_device(monitored.credential)
    device, credential = services.register_device(
        h.user("nurse"),
        monitored.patient.pk,
        kind="bp_monitor",
        serial_number="BP-0001",
        manufacturer="Omron",
    )
    assert device.pk == monitored.device.pk
    assert credential != monitored.credential
    assert authenticate_device(credential) == device


def test_rotating_the_credential(h: TestHospital, monitored: Monitored) -> None:
    _device, credential = services.rotate_device_credential(h.user("nurse"), monitored.device.pk)
    assert post(monitored.credential, bp_observation(130, 80)).status_code == 401
    assert post(credential, bp_observation(130, 80)).status_code == 201


# --- FHIR over HTTP ------------------------------------------------------------------------------


def test_a_blood_pressure_observation_is_stored_and_returned_as_fhir(monitored: Monitored) -> None:
    response = post(monitored.credential, bp_observation(142, 91, ident="m-1"))
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/fhir+json"
    body = response.json()
    fhir._validate(body, "response")  # a valid R4 Observation
    assert body["subject"] == {"reference": f"Patient/{monitored.patient.pk}"}
    assert [c["valueQuantity"]["value"] for c in body["component"]] == [142, 91]
    reading = Reading.objects.get()
    assert (reading.kind, reading.value, reading.value2, reading.source) == (
        "blood_pressure",
        142,
        91,
        "http",
    )
    assert reading.device == monitored.device and reading.message_id == "m-1"
    assert reading.flag == ""  # below the warning bound of 160/100
    event = (
        AuditEvent.objects.filter(action="create", patient_id=monitored.patient.pk)
        .order_by("sequence")
        .last()
    )
    assert event is not None and event.actor_role == Role.DEVICE
    monitored.device.refresh_from_db()
    assert monitored.device.last_seen_at is not None


def test_a_resent_observation_is_stored_once(monitored: Monitored) -> None:
    first = post(monitored.credential, bp_observation(150, 95, ident="same"))
    again = post(monitored.credential, bp_observation(150, 95, ident="same"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Reading.objects.count() == 1


def test_a_bundle_is_stored_whole_or_not_at_all(monitored: Monitored) -> None:
    oximeter, credential = monitored.pair("wearable", "W-1")
    good = quantity_observation("59408-5", 97, "%", ident="o-1")
    steps = quantity_observation("55423-8", 850, "{steps}", ident="s-1")
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": good}, {"resource": steps}]}
    response = post(credential, bundle)
    assert response.status_code == 201
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["201 Created", "201 Created"]
    assert Reading.objects.filter(device=oximeter).count() == 2

    implausible = quantity_observation("59408-5", 140, "%", ident="o-2")
    bad = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": quantity_observation("59408-5", 95, "%", ident="o-3")},
            {"resource": implausible},
        ],
    }
    response = post(credential, bad)
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "MON-001"
    assert "entry[1]" in problem["detail"] and "MON-005" in problem["detail"]
    assert Reading.objects.filter(device=oximeter).count() == 2  # neither entry stored
    rejection = IngestRejection.objects.get(device=oximeter)
    assert rejection.code == "MON-001" and "entry[1]" in rejection.reason


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"resourceType": "Patient"}, "only Observation"),
        ({"status": "final"}, "resourceType"),
        ({**bp_observation(140, 90), "status": "entered-in-error"}, "entered-in-error"),
        (
            {
                **bp_observation(140, 90),
                "code": {"coding": [{"system": "http://loinc.org", "code": "0000-0"}]},
            },
            "LOINC",
        ),
        ({**bp_observation(140, 90), "component": []}, "systolic and diastolic"),
        ({**bp_observation(140, 90), "effectiveDateTime": "yesterday"}, "effectiveDateTime"),
        ({k: v for k, v in bp_observation(140, 90).items() if k != "effectiveDateTime"}, "effectiveDateTime"),
        (bp_observation(90, 140), "diastolic must be lower"),
        (bp_observation(400, 90), "MON-005"),
        (bp_observation(140, 90, when=clock.now() + dt.timedelta(hours=2)), "future"),
        (quantity_observation("2339-0", 120, "mg/dL"), "MON-010"),  # a BP monitor does not measure glucose
    ],
)
def test_invalid_observations_are_refused_with_the_reason(
    monitored: Monitored, body: dict[str, Any], fragment: str, caplog: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger="smartcare.monitoring"):
        response = post(monitored.credential, body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("MON-001", "MON-005", "MON-010")
    assert fragment in response.json()["detail"]
    assert not Reading.objects.exists()
    assert IngestRejection.objects.filter(device=monitored.device).exists()
    assert any("rejected" in r.getMessage() and fragment.split()[0] in r.getMessage() for r in caplog.records)


def test_not_json_and_unpaired_devices(h: TestHospital, monitored: Monitored) -> None:
    response = Client().post(
        "/api/monitoring/fhir/Observation",
        b"{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {monitored.credential}"},
    )
    assert response.status_code == 400
    # A session (even a device role user's) or an integration token is not a device credential.
    client = Client()
    client.force_login(h.user("device"))
    assert (
        client.post(
            "/api/monitoring/fhir/Observation", bp_observation(140, 90), content_type="application/json"
        ).status_code
        == 401
    )
    assert (
        Client()
        .post("/api/monitoring/fhir/Observation", bp_observation(140, 90), content_type="application/json")
        .status_code
        == 401
    )
    assert not Reading.objects.exists()


def test_glucose_in_mg_per_dl_is_converted(monitored: Monitored) -> None:
    _device, credential = monitored.pair("glucometer", "G-1")
    response = post(credential, quantity_observation("41653-7", 90, "mg/dL", ident="g-1"))
    assert response.status_code == 201
    reading = Reading.objects.get(kind="glucose")
    assert reading.value == pytest.approx(5.0, abs=0.01)
    assert reading.unit == "mmol/L"


# --- The MQTT payload ----------------------------------------------------------------------------


def message(**overrides: Any) -> dict[str, Any]:
    data = {
        "id": "m1",
        "key": "scd_x_y",
        "type": "blood_pressure",
        "time": clock.now().isoformat(),
        "systolic": 150,
        "diastolic": 95,
        "pulse": 70,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_mqtt_payloads_are_parsed() -> None:
    reading = reading_from_message(message())
    assert (reading.kind, reading.value, reading.value2, reading.pulse, reading.message_id) == (
        "blood_pressure",
        150,
        95,
        70,
        "m1",
    )
    glucose = reading_from_message(
        message(type="glucose", value=180, unit="mg/dL", context="after_meal", systolic=None, diastolic=None)
    )
    assert glucose.value == pytest.approx(9.99, abs=0.01) and glucose.context == "after_meal"
    assert reading_from_message(message(type="glucose", value=6.2)).context == ""
    moment = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)
    with clock.frozen_at(moment):
        epoch = reading_from_message(message(time=None, ts=moment.timestamp()))
        assert epoch.measured_at == moment
        # A time without a zone is the hospital's local time (Asia/Shanghai: UTC+8).
        naive = reading_from_message(message(time="2026-03-02T16:30:00"))
        assert naive.measured_at == moment


@pytest.mark.parametrize(
    ("overrides", "error", "fragment"),
    [
        ({"id": None}, InvalidReading, "id"),
        ({"id": "x" * 65}, InvalidReading, "64"),
        ({"type": "temperature"}, InvalidReading, "type"),
        ({"type": "rom_sessions"}, InvalidReading, "type"),
        ({"time": None}, InvalidReading, "time"),
        ({"time": "2026-13-45T99:00"}, InvalidReading, "time"),
        ({"time": (clock.now() - dt.timedelta(days=40)).isoformat()}, InvalidReading, "30 days"),
        ({"systolic": "high"}, InvalidReading, "number"),
        ({"systolic": True}, InvalidReading, "number"),
        ({"systolic": float("nan")}, InvalidReading, "number"),
        ({"diastolic": None}, InvalidReading, "systolic and diastolic"),
        ({"pulse": 400}, ImplausibleReading, "pulse"),
        ({"type": "spo2", "value": 101}, ImplausibleReading, "value"),
        ({"type": "glucose", "value": 6, "unit": "g/L"}, InvalidReading, "unit"),
        ({"type": "weight", "value": 70, "unit": "lb"}, InvalidReading, "unit"),
        ({"type": "glucose", "value": 6, "context": "lunch"}, InvalidReading, "context"),
    ],
)
def test_invalid_mqtt_payloads(overrides: dict[str, Any], error: type[CodedError], fragment: str) -> None:
    with pytest.raises(error) as refused:
        reading_from_message(message(**overrides))
    assert fragment in refused.value.detail


def test_a_payload_that_is_not_an_object() -> None:
    with pytest.raises(InvalidReading):
        reading_from_message([1, 2, 3])
