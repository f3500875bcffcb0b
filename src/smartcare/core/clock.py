"""The one place smartcare asks for the time, so tests and simulations can move it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """Aware current time (UTC), or the frozen time inside ``frozen_at``."""
    return _frozen if _frozen is not None else timezone.now()


def local_now() -> dt.datetime:
    return timezone.localtime(now())


def today() -> dt.date:
    return local_now().date()


@contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[None]:
    if timezone.is_naive(moment):
        raise ValueError("frozen_at needs an aware datetime")
    global _frozen
    previous, _frozen = _frozen, moment
    try:
        yield
    finally:
        _frozen = previous
