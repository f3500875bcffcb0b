"""Live queue updates over websockets (Django Channels).

Every change to a queue sends its new state to the group ``queue.<session>``; waiting-room
displays and patients' phones subscribed to it update at once. With REDIS_URL the channel layer
is Redis, so updates reach clients connected to any web process.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger("smartcare.visits")


def group_name(session_id: int) -> str:
    return f"queue.{session_id}"


def broadcast_queue(session_id: int) -> None:
    from smartcare.scheduling.models import ClinicSession
    from smartcare.visits.services import queue_state

    session = ClinicSession.objects.filter(pk=session_id).first()
    layer = get_channel_layer()
    if session is None or layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            group_name(session_id), {"type": "queue.update", "state": queue_state(session)}
        )
    except Exception:  # a display that misses one update catches up with the next; never fail the write
        logger.exception("queue broadcast failed for session %s", session_id)
