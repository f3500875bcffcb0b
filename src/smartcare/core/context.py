"""Who is acting, from where: set per request by middleware and per command by the CLI.

The audit trail reads this so that services need not pass the request around.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
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


# Work that must outlive the current transaction (the audit event of a refused access, when the
# service that asked rolls back): collected per request and run after the view has finished.
_deferred: ContextVar[list[Callable[[], object]] | None] = ContextVar("smartcare_deferred", default=None)


def collect_deferred() -> object:
    return _deferred.set([])


def defer(work: Callable[[], object]) -> bool:
    """Queue ``work`` to run after the request; False when no request is collecting."""
    pending = _deferred.get()
    if pending is None:
        return False
    pending.append(work)
    return True


def run_deferred(token: object) -> None:
    pending = _deferred.get() or []
    _deferred.reset(token)  # type: ignore[arg-type]
    for work in pending:
        work()
