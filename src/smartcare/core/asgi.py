"""The ASGI handler for HTTP: each request in one thread of a fixed set, in one hop.

Django's own ``ASGIHandler`` costs a lot per request when the views are synchronous, as all of
smartcare's are: it starts a new thread for every request (and a second one to join it), and it
builds the middleware chain in async mode, so a request crosses between the event loop and a
thread several times (around each sync-only middleware, into the view, for the signals), each
crossing paying thread hand-offs and context copies. On the 2-core reference machine that was
several ms of CPU per request, more than the booking itself.

This handler

* builds the middleware chain in sync mode, as under WSGI, and runs it (middleware, view, and so
  the database work) with one ``sync_to_async`` hop; reading the body and sending the response
  stay on the event loop;
* runs requests on a fixed set of ``SMARTCARE_WEB_THREADS`` threads ("lanes", asgiref's
  ``ThreadSensitiveContext(executor=...)``): a request takes a free lane, does all its
  thread-sensitive work there (the ``request_started`` signal, the view, ``response.close()``
  which gives the database connection back to the pool) and frees it when the response is sent.
  Requests beyond that number wait for a lane in arrival order, so the lanes also bound how many
  requests of one process work in the database at once (match the database pool's size).

Async views still work (Django runs them with ``async_to_sync``); websockets do not come here
(Channels routes them). A lane is held while the request body is read: put a buffering reverse
proxy in front against clients that send bodies slowly (as for any sync server).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self, threads: int | None = None) -> None:
        super().__init__()
        self.threads = max(1, threads or getattr(settings, "SMARTCARE_WEB_THREADS", 8))
        self._lanes: asyncio.Queue[ThreadPoolExecutor] | None = None
        self._lanes_loop: asyncio.AbstractEventLoop | None = None

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    def _lane_queue(self) -> asyncio.Queue[ThreadPoolExecutor]:
        loop = asyncio.get_running_loop()
        if self._lanes is None or self._lanes_loop is not loop:
            lanes: asyncio.Queue[ThreadPoolExecutor] = asyncio.Queue()
            for index in range(self.threads):
                lanes.put_nowait(
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"smartcare-request-{index}")
                )
            self._lanes, self._lanes_loop = lanes, loop
        return self._lanes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        lanes = self._lane_queue()
        lane = await lanes.get()
        try:
            # Django's handler opens its own ThreadSensitiveContext inside; nested in this one it
            # changes nothing, so every thread-sensitive call of the request runs on the lane.
            async with ThreadSensitiveContext(executor=lane):
                await super().__call__(scope, receive, send)
        finally:
            lanes.put_nowait(lane)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        return response
