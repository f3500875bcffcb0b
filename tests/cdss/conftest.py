from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.factories import TestHospital, build_hospital


@pytest.fixture()
def hospital(db: Any, settings: Any) -> TestHospital:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return build_hospital()


@pytest.fixture()
def doctor(hospital: TestHospital) -> Client:
    client = Client()
    client.force_login(hospital.user("doctor"))
    return client


def post(client: Client, url: str, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json", headers=headers)
