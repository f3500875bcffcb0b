"""Websocket consumers: a waiting-room display (by signed display token) and a patient's phone
(their own appointment, via the session cookie)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from smartcare.visits.live import group_name


class DisplayConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        from smartcare.visits.displays import sessions_for_token

        token = self.scope["url_route"]["kwargs"]["token"]
        session_ids = await sync_to_async(sessions_for_token)(token)
        if session_ids is None:
            await self.close(code=4404)
            return
        self.groups_joined = [group_name(s) for s in session_ids]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        for session_id in session_ids:
            await self.send_json({"type": "queue", "state": await sync_to_async(_state)(session_id)})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def queue_update(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "queue", "state": event["state"]})


class PatientQueueConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        appointment_id = int(self.scope["url_route"]["kwargs"]["appointment_id"])
        session_id = await sync_to_async(_own_session)(self.scope.get("user"), appointment_id)
        if session_id is None:
            await self.close(code=4404)
            return
        self.appointment_id = appointment_id
        self.group = group_name(session_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(_mine(await sync_to_async(_state)(session_id), appointment_id))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def queue_update(self, event: dict[str, Any]) -> None:
        await self.send_json(_mine(event["state"], self.appointment_id))


def _state(session_id: int) -> dict[str, Any]:
    from smartcare.scheduling.models import ClinicSession
    from smartcare.visits.services import queue_state

    return queue_state(ClinicSession.objects.get(pk=session_id))


def _own_session(user: Any, appointment_id: int) -> int | None:
    """The session of the appointment if the user may see its patient (audited), else None."""
    from smartcare.core.errors import NotFound
    from smartcare.patients.access import access_patient
    from smartcare.scheduling.models import Appointment

    appointment = Appointment.objects.filter(pk=appointment_id).first()
    if appointment is None or user is None or not user.is_authenticated:
        return None
    try:
        access_patient(user, appointment.patient_id, "view", reason="live queue")
    except NotFound:
        return None
    return appointment.session_id


def _mine(state: dict[str, Any], appointment_id: int) -> dict[str, Any]:
    called = state.get("called")
    if called and called["appointment"] == appointment_id:
        return {
            "type": "position",
            "called": True,
            "number": called["number"],
            "position": 0,
            "estimated_wait_minutes": 0,
            "recalls": state.get("recalls", 0),
        }
    for item in state.get("waiting", []):
        if item["appointment"] == appointment_id:
            return {
                "type": "position",
                "called": False,
                "number": item["number"],
                "position": item["position"],
                "estimated_wait_minutes": item["estimated_wait_minutes"],
                "now_serving": called["number"] if called else None,
            }
    if appointment_id in state.get("at_exam", []):
        return {"type": "position", "called": False, "at_exam": True, "position": None}
    if appointment_id in state.get("skipped", []):
        return {"type": "position", "called": False, "skipped": True, "position": None}
    return {"type": "position", "called": False, "finished": True, "position": None}
