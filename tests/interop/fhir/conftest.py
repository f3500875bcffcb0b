"""Fixtures of the FHIR tests: a small hospital with an import department, API clients, and
generated Synthea-like Bundles."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.choices import Role
from smartcare.emr.icd10 import ensure_icd10
from tests.factories import TestHospital, UserFactory, build_hospital, department

FHIR = "application/fhir+json"


@pytest.fixture()
def hospital(db: Any, settings: Any) -> TestHospital:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    h = build_hospital()
    h.general = department(h.hospital, "02")  # type: ignore[attr-defined]
    ensure_icd10()
    return h


@pytest.fixture()
def client_for() -> Callable[[Any], Client]:
    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


def post(client: Client, url: str, body: Any, **headers: Any) -> Any:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data, content_type=FHIR, headers=headers)


def put(client: Client, url: str, body: Any, **headers: Any) -> Any:
    return client.put(url, json.dumps(body), content_type=FHIR, headers=headers)


def issue_code(response: Any) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return str(body["issue"][0]["details"]["coding"][0]["code"])


@pytest.fixture()
def small_bundle() -> dict[str, Any]:
    from smartcare.interop.fhir.synthetic import patient_bundle

    return patient_bundle(random.Random(7), encounters=4)


@pytest.fixture()
def channel_user(hospital: TestHospital) -> Any:
    return UserFactory(username="channel-fhir-app", role=Role.CHANNEL)
