"""The consultation room: expiring tokens limited to the two participants, and the websocket that
relays signalling, stores the chat and the shared viewer state, and logs connection quality."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings as django_settings
from django.test import Client

from smartcare.asgi import application
from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.telemedicine import services
from smartcare.telemedicine.models import ChatMessage, Consultation, RoomEvent
from tests.factories import TestHospital
from tests.telemedicine.conftest import ask

ORIGIN = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
TIMEOUT = 10


def code_of(call: Any) -> str:
    with pytest.raises(CodedError) as caught:
        call()
    return caught.value.code


def accepted(h: TestHospital) -> Consultation:
    c = ask(h)
    services.accept(h.user("neurologist"), c.pk)
    return Consultation.objects.get(pk=c.pk)


def test_tokens_open_the_room_for_their_holder_until_they_expire(h: TestHospital, frozen: Any) -> None:
    c = ask(h)
    assert code_of(lambda: services.issue_room_token(h.user("doctor"), c.pk)) == "TM-009"  # not accepted yet
    services.accept(h.user("neurologist"), c.pk)
    token, expires = services.issue_room_token(h.user("doctor"), c.pk)
    assert expires == frozen + dt.timedelta(hours=2)
    assert services.open_room(h.user("doctor"), c.pk, token).pk == c.pk
    assert code_of(lambda: services.open_room(h.user("neurologist"), c.pk, token)) == "TM-008"  # not theirs
    assert code_of(lambda: services.open_room(h.user("doctor"), c.pk + 1, token)) == "TM-008"
    assert code_of(lambda: services.open_room(h.user("doctor"), c.pk, token + "x")) == "TM-008"
    with clock.frozen_at(expires + dt.timedelta(seconds=1)):
        assert code_of(lambda: services.open_room(h.user("doctor"), c.pk, token)) == "TM-008"
    # A head who may see the consultation is no participant.
    assert code_of(lambda: services.issue_room_token(h.user("head"), c.pk)) == "TM-008"
    # The opinion closes the room: earlier tokens stop working.
    services.submit_opinion(h.user("neurologist"), c.pk, diagnosis="G45.9", recommendations="x")
    assert code_of(lambda: services.open_room(h.user("doctor"), c.pk, token)) == "TM-009"


def test_viewer_state_is_checked_against_the_shared_studies(h: TestHospital) -> None:
    c = accepted(h)
    assert code_of(lambda: services.clean_viewer_state(c, {"study": 1, "series": 1})) == "CORE-001"
    assert code_of(lambda: services.clean_viewer_state(c, "x")) == "CORE-001"
    assert code_of(lambda: services.post_chat(h.user("doctor"), c, " ")) == "TM-011"
    assert code_of(lambda: services.post_chat(h.user("doctor"), c, "x" * 1001)) == "TM-011"


# --- The websocket -------------------------------------------------------------------------------------


class Socket(ApplicationCommunicator):
    def __init__(self, path: str, query: str, headers: list[tuple[bytes, bytes]]) -> None:
        scope = {
            "type": "websocket",
            "path": path,
            "query_string": query.encode(),
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(application, scope)

    async def send_input(self, message: dict[str, Any]) -> None:
        with mock.patch("channels.db.close_old_connections", lambda: None):
            await super().send_input(message)

    async def receive_output(self, timeout: float = 1) -> Any:
        with mock.patch("channels.db.close_old_connections", lambda: None):
            return await super().receive_output(timeout)

    async def connect(self) -> Any:
        await self.send_input({"type": "websocket.connect"})
        return await self.receive_output(TIMEOUT)

    async def send_json(self, data: Any) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def receive_json(self) -> Any:
        response = await self.receive_output(TIMEOUT)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def close(self) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(TIMEOUT)


def cookie_of(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return [*ORIGIN, (b"cookie", f"{name}={client.cookies[name].value}".encode())]


@pytest.mark.django_db(transaction=True)
def test_the_room_relays_signals_chat_and_viewer_state(settings: Any) -> None:
    from smartcare.emr.icd10 import ensure_icd10
    from tests.factories import build_hospital

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    ensure_icd10()
    h = build_hospital()
    c = accepted(h)
    doctor, expert = h.user("doctor"), h.user("neurologist")
    path = f"/ws/telemedicine/rooms/{c.pk}/"
    doctor_token, _e = services.issue_room_token(doctor, c.pk)
    expert_token, _e = services.issue_room_token(expert, c.pk)

    doctor_cookie, expert_cookie = cookie_of(doctor), cookie_of(expert)

    async def scenario() -> None:
        # Wrong token, or a token of someone else: refused.
        intruder = Socket(path, f"token={doctor_token}", expert_cookie)
        assert (await intruder.connect())["type"] == "websocket.close"
        first = Socket(path, f"token={doctor_token}", doctor_cookie)
        assert (await first.connect())["type"] == "websocket.accept"
        welcome = await first.receive_json()
        assert welcome["type"] == "welcome" and welcome["viewer"] is None and welcome["chat"] == []
        second = Socket(path, f"token={expert_token}", expert_cookie)
        assert (await second.connect())["type"] == "websocket.accept"
        assert (await second.receive_json())["type"] == "welcome"
        assert await first.receive_json() == {"type": "peer", "joined": True}
        offer = {"description": {"type": "offer", "sdp": "v=0..."}}
        await first.send_json({"type": "signal", "data": offer})
        assert await second.receive_json() == {"type": "signal", "data": offer, "from": doctor.pk}
        await second.send_json({"type": "chat", "text": "I can see the CT"})
        for socket in (first, second):
            message = await socket.receive_json()
            assert (
                message["type"] == "chat"
                and message["text"] == "I can see the CT"
                and message["from"] == expert.pk
            )
        await second.send_json({"type": "viewer", "state": {"study": 999, "series": 1, "index": 2}})
        assert (await second.receive_json())["type"] == "error"
        await first.send_json(
            {"type": "quality", "detail": {"rtt_ms": 12, "packets_lost": 0, "nested": {"x": 1}}}
        )
        await first.send_json({"type": "failure", "detail": {"stage": "ice", "state": "failed"}})
        await second.close()
        assert await first.receive_json() == {"type": "peer", "joined": False}
        await first.close()

    async_to_sync(scenario)()
    assert list(ChatMessage.objects.filter(consultation=c).values_list("text", flat=True)) == [
        "I can see the CT"
    ]
    kinds = list(RoomEvent.objects.filter(consultation=c).values_list("kind", flat=True))
    assert kinds.count("joined") == 2 and kinds.count("left") == 2
    quality = RoomEvent.objects.get(consultation=c, kind="quality")
    assert quality.detail == {"rtt_ms": 12, "packets_lost": 0}
    assert RoomEvent.objects.filter(consultation=c, kind="failure", detail__stage="ice").exists()


def test_shared_images_bound_the_viewer_state_and_the_annotations(h: TestHospital, frozen: Any) -> None:
    from smartcare.interop.models import ImagingInstance, ImagingSeries, ImagingStudy

    study = ImagingStudy.objects.create(
        study_uid="1.2.3", patient=h.patient_in_care, source="upload", modalities="CT"
    )
    series = ImagingSeries.objects.create(study=study, series_uid="1.2.3.1", modality="CT")
    instance = ImagingInstance.objects.create(
        series=series,
        sop_instance_uid="1.2.3.1.1",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        storage="local",
        file_path="x/1.dcm",
    )
    c = ask(h, study_ids=[study.pk])
    services.accept(h.user("neurologist"), c.pk)
    state = services.clean_viewer_state(
        c, {"study": study.pk, "series": series.pk, "index": "4", "wc": 40, "ww": "400"}
    )
    assert state == {"study": study.pk, "series": series.pk, "index": 4, "wc": 40.0, "ww": 400.0}
    assert code_of(lambda: services.clean_viewer_state(c, {**state, "ww": 0})) == "CORE-001"
    assert code_of(lambda: services.clean_viewer_state(c, {**state, "index": -1})) == "CORE-001"
    marks = [
        {
            "kind": "distance",
            "instance": instance.pk,
            "frame": 1,
            "points": [[10, 10], [40, 50]],
            "mm": 21.456,  # what the browser says does not count: measured again on the server
        },
        {"kind": "text", "instance": instance.pk, "frame": 1, "points": [[12, 30]], "text": "infarct"},
    ]
    opinion = services.submit_opinion(
        h.user("neurologist"), c.pk, diagnosis="I63.9", recommendations="Stroke unit", annotations=marks
    )
    opinion.refresh_from_db()
    # No file, so no known pixel spacing: the distance is saved in pixels, with its unit.
    assert opinion.annotations[0] == {
        "kind": "distance",
        "instance": instance.pk,
        "frame": 1,
        "points": [[10.0, 10.0], [40.0, 50.0]],
        "length": 50.0,
        "unit": "px",
    }
    assert opinion.annotations[1]["text"] == "infarct"
    other = ask(h)
    services.accept(h.user("neurologist"), other.pk)
    # An instance that is not shared with this consultation is refused.
    assert (
        code_of(
            lambda: services.submit_opinion(
                h.user("neurologist"), other.pk, diagnosis="I63.9", recommendations="x", annotations=marks
            )
        )
        == "TM-010"
    )
