"""Periodic jobs. Apps register idempotent tasks with an interval; every `smartcare worker` runs a
small ticker thread that enqueues them when due, so running several workers only repeats
harmless work."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("smartcare.periodic")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    enqueue: Callable[[], object]
    every_seconds: int


_JOBS: dict[str, PeriodicJob] = {}


def register(name: str, enqueue: Callable[[], object], every_seconds: int) -> None:
    _JOBS[name] = PeriodicJob(name, enqueue, every_seconds)


def jobs() -> list[PeriodicJob]:
    return list(_JOBS.values())


def run_due(last_run: dict[str, float], now: float) -> list[str]:
    started = []
    for job in jobs():
        if now - last_run.get(job.name, 0.0) >= job.every_seconds:
            try:
                job.enqueue()
                started.append(job.name)
            except Exception:  # the ticker must survive a failing enqueue (database restarting...)
                logger.exception("could not enqueue periodic job %s", job.name)
            last_run[job.name] = now
    return started


def start_ticker(stop: threading.Event, tick_seconds: float = 30.0) -> threading.Thread:
    def loop() -> None:
        last_run: dict[str, float] = {}
        while not stop.is_set():
            run_due(last_run, time.monotonic())
            stop.wait(tick_seconds)

    thread = threading.Thread(target=loop, name="smartcare-periodic", daemon=True)
    thread.start()
    return thread
