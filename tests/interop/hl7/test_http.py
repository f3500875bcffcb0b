"""The same messages posted over HTTP by a connected system's machine identity."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from smartcare.accounts.choices import Role
from smartcare.accounts.services import create_api_token
from smartcare.emr.models import Observation
from smartcare.interop.models import Hl7Message
from tests.factories import UserFactory
from tests.interop.hl7 import messages as m

pytestmark = pytest.mark.django_db
URL = "/api/interop/hl7/messages"
ER7 = "x-application/hl7-v2+er7"


def token_for(hospital: Any, user: Any) -> str:
    return create_api_token(hospital.user("itadmin"), user=user, name="hl7")


def oru(patient: Any, control: str = "H-1", sender: tuple[str, str] = ("GHH LAB", "ELAB-3")) -> str:
    return m.oru(
        control,
        identifiers=f"{patient.medical_record_number}^^^SMARTCARE^MR",
        sender=sender,
        groups=[(m.obr(filler=control), [m.obx(1, "NM", "2345-7^Glucose^LN", "5.2", "mmol/L", "3.9-6.1")])],
    )


def test_a_connected_system_posts_a_message_and_gets_the_ack(client: Client, lis: Any, hospital: Any) -> None:
    token = token_for(hospital, lis.user)
    response = client.post(
        URL, oru(hospital.own_patient), content_type=ER7, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith(ER7) and response["X-HL7-Ack-Codes"] == "AA"
    assert "MSA|AA|H-1" in response.content.decode()
    assert Observation.objects.get(patient=hospital.own_patient).value == 5.2
    assert Hl7Message.objects.get(control_id="H-1").transport == "http"
    as_json = client.post(
        URL,
        oru(hospital.own_patient, "H-2").replace("5.2", "abc"),
        content_type=ER7,
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/json",
    )
    body = as_json.json()
    assert body["acknowledgements"] == [
        {
            "ack_code": "AE",
            "control_id": "H-2",
            "code": "HL7-013",
            "hl7_error_code": "102",
            "detail": "Field OBX-5 (1) has an invalid value: abc",
            "location": "OBX^1^5",
        }
    ]
    assert "MSA|AE|H-2" in body["ack"]
    assert Observation.objects.count() == 1


def test_a_message_naming_another_sender_is_refused(client: Client, lis: Any, hospital: Any) -> None:
    token = token_for(hospital, lis.user)
    response = client.post(
        URL,
        oru(hospital.own_patient, sender=("HIS", "MAIN")),
        content_type=ER7,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200 and "HL7-010" in response.content.decode()
    assert not Observation.objects.exists()


def test_callers_that_are_not_connected_systems(client: Client, lis: Any, hospital: Any) -> None:
    body = oru(hospital.own_patient)
    assert client.post(URL, body, content_type=ER7).status_code == 401
    device = token_for(hospital, hospital.user("device"))
    refused = client.post(URL, body, content_type=ER7, HTTP_AUTHORIZATION=f"Bearer {device}")
    assert refused.status_code == 403 and refused.json()["code"] == "CORE-403"
    stranger = token_for(hospital, UserFactory(username="app", role=Role.CHANNEL))
    refused = client.post(URL, body, content_type=ER7, HTTP_AUTHORIZATION=f"Bearer {stranger}")
    assert refused.status_code == 403 and refused.json()["code"] == "HL7-019"
    token = token_for(hospital, lis.user)
    wrong_type = client.post(
        URL, {"a": 1}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert wrong_type.status_code == 415 and wrong_type.json()["code"] == "HL7-023"
    assert not Observation.objects.exists() and not Hl7Message.objects.exists()
