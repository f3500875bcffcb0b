"""A fixed-window request limit per key (a client address, an account), kept in the cache.

The embedded default keeps the counters in the process's memory cache; with ``REDIS_URL`` they
live in Redis and hold across every app server.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from smartcare.core.errors import RateLimited


def seconds() -> float:
    """The clock windows are counted on (a function so that tests can hold it still)."""
    return time.time()


def check_rate(scope: str, key: str, limit: int, window_seconds: int = 60) -> None:
    """Count one request for ``key`` in ``scope``; raise ``RateLimited`` (CORE-429) past ``limit``."""
    if limit <= 0:
        return
    bucket = int(seconds() // window_seconds)
    name = f"ratelimit:{scope}:{key}:{bucket}"
    if cache.add(name, 1, timeout=window_seconds + 5):
        return
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.add(name, 1, timeout=window_seconds + 5)
        return
    if count > limit:
        raise RateLimited()
