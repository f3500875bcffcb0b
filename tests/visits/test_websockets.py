"""Live queues over websockets: the waiting-room display (signed token) and the patient's phone
(their own appointment, signed in by the session cookie), through the real ASGI application."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.test import Client

from smartcare.asgi import application
from smartcare.scheduling.choices import Channel
from smartcare.scheduling.models import Appointment
from smartcare.scheduling.services import book_slot
from smartcare.visits.displays import make_token
from smartcare.visits.services import call_next, check_in, send_to_exam
from tests.scheduling.builders import Clinic

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
TIMEOUT = 10


class WebsocketCommunicator(ApplicationCommunicator):
    """The calls of ``channels.testing.WebsocketCommunicator`` these tests use. That package cannot be
    imported here: its ``__init__`` loads the live-server test case, which needs daphne, not a
    smartcare dependency. Like channels' own class, it keeps the test's database connection open."""

    def __init__(self, app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        scope = {
            "type": "websocket",
            "path": path,
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(app, scope)

    async def send_input(self, message: dict[str, Any]) -> None:
        with mock.patch("channels.db.close_old_connections", lambda: None):
            await super().send_input(message)

    async def receive_output(self, timeout: float = 1) -> Any:
        with mock.patch("channels.db.close_old_connections", lambda: None):
            return await super().receive_output(timeout)

    async def connect(self, timeout: float = TIMEOUT) -> tuple[bool, Any]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, response.get("subprotocol")

    async def receive_json_from(self, timeout: float = TIMEOUT) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = TIMEOUT) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


@pytest.fixture(autouse=True)
def in_memory_channel_layer(settings: Any) -> None:
    """One process: the in-memory layer (also when REDIS_URL points the settings at Redis)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


def book_today(clinic: Clinic, patient: Any, minute: int = 0) -> Appointment:
    return book_slot(
        clinic.user("frontdesk"),
        patient_id=patient.pk,
        slot_id=clinic.slot(0, 9, minute).pk,
        channel=Channel.FRONT_DESK,
    ).appointment


def arrive(clinic: Clinic, patient: Any) -> Any:
    return check_in(clinic.user("frontdesk"), code=patient.one_code, channel="desk")


def cookie_of(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return [*ORIGIN, (b"cookie", f"{name}={client.cookies[name].value}".encode())]


def display(clinic: Clinic, token: str | None = None) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/display/{token or make_token(clinic.cardiology.pk)}/", headers=ORIGIN
    )


def test_a_display_with_a_valid_token_receives_the_queue(clinic: Clinic) -> None:
    book_today(clinic, clinic.own_patient)
    arrive(clinic, clinic.own_patient)
    session = clinic.session(0).pk

    async def scenario() -> None:
        screen = display(clinic)
        connected, _ = await screen.connect(timeout=TIMEOUT)
        assert connected
        message = await screen.receive_json_from(timeout=TIMEOUT)
        assert message["type"] == "queue"
        state = message["state"]
        assert state["session"] == session
        assert state["called"] is None
        assert [(w["number"], w["position"], w["name"]) for w in state["waiting"]] == [("A001", 1, "本*")]
        await screen.disconnect()

    run(scenario)


@pytest.mark.parametrize("token", ["not-a-token", "eyJkZXBhcnRtZW50IjoxfQ:forged:signature"])
def test_a_display_with_an_invalid_token_is_refused(clinic: Clinic, token: str) -> None:
    async def scenario() -> None:
        screen = display(clinic, token)
        connected, code = await screen.connect(timeout=TIMEOUT)
        assert (connected, code) == (False, 4404)

    run(scenario)


def test_a_foreign_origin_is_refused(clinic: Clinic) -> None:
    async def scenario() -> None:
        screen = WebsocketCommunicator(
            application,
            f"/ws/display/{make_token(clinic.cardiology.pk)}/",
            headers=[(b"origin", b"http://evil.example"), (b"host", b"testserver")],
        )
        connected, _ = await screen.connect(timeout=TIMEOUT)
        assert not connected

    run(scenario)


def test_the_display_follows_check_in_and_calls(clinic: Clinic) -> None:
    book_today(clinic, clinic.own_patient)
    session = clinic.session(0).pk
    doctor = clinic.user("doctor")

    async def scenario() -> None:
        screen = display(clinic)
        assert (await screen.connect(timeout=TIMEOUT))[0]
        first = await screen.receive_json_from(timeout=TIMEOUT)
        assert first["state"]["waiting"] == []

        await database_sync_to_async(arrive)(clinic, clinic.own_patient)
        arrived = await screen.receive_json_from(timeout=TIMEOUT)
        assert [w["number"] for w in arrived["state"]["waiting"]] == ["A001"]

        await database_sync_to_async(call_next)(doctor, session)
        called = await screen.receive_json_from(timeout=TIMEOUT)
        assert called["type"] == "queue"
        assert called["state"]["called"]["number"] == "A001"
        assert called["state"]["called"]["name"] == "本*"
        assert called["state"]["waiting"] == []
        await screen.disconnect()

    run(scenario)


def test_the_patients_phone_sees_their_place_then_their_call(clinic: Clinic) -> None:
    ahead = book_today(clinic, clinic.patient_in_care)
    mine = book_today(clinic, clinic.own_patient, 30)
    arrive(clinic, clinic.patient_in_care)
    arrive(clinic, clinic.own_patient)
    session = clinic.session(0).pk
    doctor = clinic.user("doctor")
    headers = cookie_of(clinic.user("patient"))

    async def scenario() -> None:
        phone = WebsocketCommunicator(application, f"/ws/queue/{mine.pk}/", headers=headers)
        assert (await phone.connect(timeout=TIMEOUT))[0]
        place = await phone.receive_json_from(timeout=TIMEOUT)
        assert place == {
            "type": "position",
            "called": False,
            "number": "A002",
            "position": 2,
            "estimated_wait_minutes": 15.0,
            "now_serving": None,
        }

        entry = await database_sync_to_async(call_next)(doctor, session)
        assert entry.appointment_id == ahead.pk
        closer = await phone.receive_json_from(timeout=TIMEOUT)
        assert (closer["called"], closer["position"], closer["now_serving"]) == (False, 1, "A001")

        await database_sync_to_async(call_next)(doctor, session)
        called = await phone.receive_json_from(timeout=TIMEOUT)
        assert (called["called"], called["number"], called["position"]) == (True, "A002", 0)
        await phone.disconnect()

    run(scenario)


def test_another_patients_appointment_is_refused(clinic: Clinic) -> None:
    theirs = book_today(clinic, clinic.own_patient)
    arrive(clinic, clinic.own_patient)
    stranger = cookie_of(clinic.user("other_patient_user"))

    async def scenario() -> None:
        for headers, path in (
            (stranger, f"/ws/queue/{theirs.pk}/"),
            (ORIGIN, f"/ws/queue/{theirs.pk}/"),  # not signed in
            (stranger, "/ws/queue/999999/"),
        ):
            phone = WebsocketCommunicator(application, path, headers=headers)
            connected, code = await phone.connect(timeout=TIMEOUT)
            assert (connected, code) == (False, 4404)

    run(scenario)


def test_the_display_and_the_phone_follow_a_patient_out_of_the_queue_and_back(clinic: Clinic) -> None:
    """Sent to an exam, then back by a scan at the desk: both go out on the usual broadcast."""
    mine = book_today(clinic, clinic.own_patient)
    arrive(clinic, clinic.own_patient)
    session = clinic.session(0).pk
    doctor = clinic.user("doctor")
    call_next(doctor, session)
    headers = cookie_of(clinic.user("patient"))

    async def scenario() -> None:
        screen = display(clinic)
        assert (await screen.connect(timeout=TIMEOUT))[0]
        assert (await screen.receive_json_from(timeout=TIMEOUT))["state"]["called"]["number"] == "A001"
        phone = WebsocketCommunicator(application, f"/ws/queue/{mine.pk}/", headers=headers)
        assert (await phone.connect(timeout=TIMEOUT))[0]
        assert (await phone.receive_json_from(timeout=TIMEOUT))["called"] is True

        await database_sync_to_async(send_to_exam)(doctor, session)
        away = (await screen.receive_json_from(timeout=TIMEOUT))["state"]
        assert (away["called"], away["waiting"], away["at_exam"]) == (None, [], [mine.pk])
        assert await phone.receive_json_from(timeout=TIMEOUT) == {
            "type": "position",
            "called": False,
            "at_exam": True,
            "position": None,
        }

        await database_sync_to_async(arrive)(clinic, clinic.own_patient)
        back = (await screen.receive_json_from(timeout=TIMEOUT))["state"]
        assert [(w["number"], w["returned"]) for w in back["waiting"]] == [("A001", True)]
        assert back["at_exam"] == []
        place = await phone.receive_json_from(timeout=TIMEOUT)
        assert (place["called"], place["number"], place["position"]) == (False, "A001", 1)
        await phone.disconnect()
        await screen.disconnect()

    run(scenario)
