"""Who is acting, from where: set per request by middleware and per command by the CLI.

The audit trail reads this so that services need not pass the request around.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    client_address: str = ""
    channel: str = "system"  # web, api, fhir, cli, worker, system
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    user_agent: str = ""


_current: ContextVar[RequestContext | None] = ContextVar("smartcare_request_context", default=None)
_SYSTEM = RequestContext(request_id="system")


def current() -> RequestContext:
    return _current.get() or _SYSTEM


@contextmanager
def acting(context: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def set_context(context: RequestContext) -> object:
    return _current.set(context)


def reset_context(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
