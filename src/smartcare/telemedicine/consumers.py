"""The consultation room's websocket: WebRTC signalling, chat, the shared viewer and the
connection log, all on one socket per participant.

The browser connects to ``/ws/telemedicine/rooms/<id>/?token=...`` with its session cookie; the
token (signed, expiring, issued to this user for this consultation) is checked with the user. Every
message a participant sends is relayed to the others in the room's group:

* ``{"type": "signal", "data": {...}}``: an SDP offer or answer or an ICE candidate (relayed as is);
* ``{"type": "chat", "text": "..."}``: stored, then broadcast with author and time;
* ``{"type": "viewer", "state": {study, series, index, wc, ww}}``: validated, stored, broadcast;
* ``{"type": "quality" | "failure", "detail": {...}}``: logged (round-trip time, loss, ICE state).

The server sends ``{"type": "peers", "count": n}`` when someone joins or leaves: the participant
already present makes the offer when a second one arrives.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from smartcare.core.errors import CodedError


def group_name(consultation_id: int) -> str:
    return f"telemedicine.room.{consultation_id}"


class RoomConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        consultation_id = int(self.scope["url_route"]["kwargs"]["consultation_id"])
        query = parse_qs((self.scope.get("query_string") or b"").decode())
        token = (query.get("token") or [""])[0]
        user = self.scope.get("user")
        joined = await sync_to_async(_join)(user, consultation_id, token)
        if joined is None:
            await self.close(code=4403)
            return
        self.consultation_id = consultation_id
        self.user_id = user.pk
        self.user_label = joined["label"]
        self.group = group_name(consultation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(
            {"type": "welcome", "me": self.user_id, "viewer": joined["viewer"], "chat": joined["chat"]}
        )
        await self.channel_layer.group_send(
            self.group, {"type": "room.presence", "sender": self.channel_name, "joined": True}
        )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_send(
                self.group, {"type": "room.presence", "sender": self.channel_name, "joined": False}
            )
            await sync_to_async(_log)(self.user_id, self.consultation_id, "left", {"code": code})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "signal" and isinstance(content.get("data"), dict):
            await self.channel_layer.group_send(
                self.group,
                {
                    "type": "room.relay",
                    "sender": self.channel_name,
                    "message": {"type": "signal", "data": content["data"], "from": self.user_id},
                },
            )
        elif kind == "chat":
            result = await sync_to_async(_chat)(self.user_id, self.consultation_id, content.get("text"))
            if result.get("type") == "error":
                await self.send_json(result)
            else:
                await self.channel_layer.group_send(
                    self.group, {"type": "room.relay", "sender": None, "message": result}
                )
        elif kind == "viewer":
            result = await sync_to_async(_viewer)(self.consultation_id, content.get("state"))
            if result.get("type") == "error":
                await self.send_json(result)
            else:
                await self.channel_layer.group_send(
                    self.group,
                    {
                        "type": "room.relay",
                        "sender": self.channel_name,
                        "message": {**result, "from": self.user_id},
                    },
                )
        elif kind in ("quality", "failure"):
            await sync_to_async(_log)(self.user_id, self.consultation_id, kind, content.get("detail"))

    async def room_relay(self, event: dict[str, Any]) -> None:
        if event.get("sender") != self.channel_name:
            await self.send_json(event["message"])

    async def room_presence(self, event: dict[str, Any]) -> None:
        # Only the others learn about a join or leave: the one already there makes the offer.
        if event.get("sender") != self.channel_name:
            await self.send_json({"type": "peer", "joined": event["joined"]})


def _join(user: Any, consultation_id: int, token: str) -> dict[str, Any] | None:
    from smartcare.telemedicine import services

    try:
        consultation = services.open_room(user, consultation_id, token)
    except CodedError:
        return None
    services.log_room_event(user, consultation, "joined")
    chat = [
        {
            "type": "chat",
            "author": str(m.author),
            "from": m.author_id,
            "text": m.text,
            "at": m.sent_at.isoformat(),
        }
        for m in consultation.chat.select_related("author").order_by("-sent_at", "-pk")[:50]
    ]
    return {"label": str(user), "viewer": consultation.viewer_state or None, "chat": list(reversed(chat))}


def _consultation(consultation_id: int) -> Any:
    from smartcare.telemedicine.models import Consultation

    return Consultation.objects.get(pk=consultation_id)


def _chat(user_id: int, consultation_id: int, text: Any) -> dict[str, Any]:
    from smartcare.accounts.models import User
    from smartcare.telemedicine import services

    user = User.objects.get(pk=user_id)
    consultation = _consultation(consultation_id)
    if not services.room_is_open(consultation):
        return {"type": "error", "code": "TM-009"}
    try:
        message = services.post_chat(user, consultation, text)
    except CodedError as exc:
        return {"type": "error", "code": exc.code, "detail": exc.detail}
    return {
        "type": "chat",
        "author": str(user),
        "from": user.pk,
        "text": message.text,
        "at": message.sent_at.isoformat(),
    }


def _viewer(consultation_id: int, state: Any) -> dict[str, Any]:
    from smartcare.telemedicine import services

    consultation = _consultation(consultation_id)
    try:
        clean = services.clean_viewer_state(consultation, state)
    except CodedError as exc:
        return {"type": "error", "code": exc.code, "detail": exc.detail}
    services.save_viewer_state(consultation, clean)
    return {"type": "viewer", "state": clean}


def _log(user_id: int, consultation_id: int, kind: str, detail: Any) -> None:
    from smartcare.accounts.models import User
    from smartcare.telemedicine import services

    services.log_room_event(User.objects.get(pk=user_id), _consultation(consultation_id), kind, detail)
