"""The ASGI entry point: HTTP requests run their sync middleware and view on a fixed set of
threads ("lanes"), one request per lane at a time, and answer like Django's own handler."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from smartcare.core.asgi import SyncChainASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


def scope(path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def call(
    app: Any, request_scope: dict[str, Any], body: bytes = b""
) -> tuple[int, dict[bytes, bytes], bytes]:
    communicator = ApplicationCommunicator(app, request_scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(timeout=30)
    chunks = []
    while True:
        message = await communicator.receive_output(timeout=30)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=30)
    return start["status"], {k.lower(): v for k, v in start["headers"]}, b"".join(chunks)


def test_the_application_answers_http_through_the_lanes() -> None:
    from smartcare.asgi import application, django_asgi_app

    assert isinstance(django_asgi_app, SyncChainASGIHandler)
    status, headers, body = asyncio.run(call(application, scope("/healthz")))
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    assert b"x-request-id" in headers


def test_errors_are_still_problem_json() -> None:
    handler = SyncChainASGIHandler(threads=2)
    status, headers, body = asyncio.run(call(handler, scope("/api/booking/slots/1")))
    assert status == 401
    assert headers[b"content-type"] == b"application/problem+json"
    assert json.loads(body)["code"] == "CORE-401"


def test_requests_beyond_the_lanes_wait_their_turn_and_all_run_on_lane_threads(monkeypatch: Any) -> None:
    handler = SyncChainASGIHandler(threads=2)
    seen: list[str] = []
    running = 0
    most = 0
    lock = threading.Lock()
    original = handler.get_response

    def get_response(request: Any) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            seen.append(threading.current_thread().name)
        try:
            return original(request)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(handler, "get_response", get_response)

    async def many() -> list[int]:
        answers = await asyncio.gather(*(call(handler, scope("/healthz")) for _ in range(6)))
        return [status for status, _headers, _body in answers]

    assert asyncio.run(many()) == [200] * 6
    assert most <= 2
    assert len(seen) == 6
    assert {name.rsplit("_", 1)[0] for name in seen} <= {"smartcare-request-0", "smartcare-request-1"}
