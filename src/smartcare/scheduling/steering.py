"""Booking steering hook: an app above scheduling (equipment) may register an advisor that judges
exam sessions by the expected load of the equipment they use. The booking pages then list the
quieter sessions of a day first, with the expected wait. Without an advisor nothing changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SessionAdvice:
    load: float  # expected utilization of the session's equipment, 0..1
    expected_wait_minutes: int
    quieter: bool  # recommended: clearly less busy than the busiest session of its kind that day


Advisor = Callable[[Sequence[Any]], dict[int, SessionAdvice]]
_ADVISORS: list[Advisor] = []


def register_advisor(advisor: Advisor) -> None:
    if advisor not in _ADVISORS:
        _ADVISORS.append(advisor)


def advise(sessions: Sequence[Any]) -> dict[int, SessionAdvice]:
    """Advice per session id (sessions no advisor knows are absent)."""
    found: dict[int, SessionAdvice] = {}
    for advisor in _ADVISORS:
        found.update(advisor(sessions))
    return found


def order_by_advice(items: list[dict[str, Any]], advice: dict[int, SessionAdvice]) -> list[dict[str, Any]]:
    """A day's sessions: the advised ones by expected load (quietest first), the rest as they were."""
    for item in items:
        item["advice"] = advice.get(item["session"].pk)
    advised = sorted((i for i in items if i["advice"] is not None), key=lambda i: i["advice"].load)
    return advised + [i for i in items if i["advice"] is None]
