"""The Redis cache with one connection pool per process, also lent to the task queue.

Django keeps a cache object per request context (under ASGI every request has its own), and each
of Django's Redis cache objects builds its own connection pool: every request opened a new Redis
connection (a TCP handshake, a HELLO, and redis-py looking up its own version) for its first cache
access. Here the pools are shared by the whole process (redis-py's pools are thread-safe), so
requests borrow an open connection.

django-rq, too, opens a new client and connection every time a job is enqueued when
``RQ_QUEUES`` names a URL. Given ``USE_REDIS_CACHE``, it takes the cache's client instead (the
``_client`` attribute below): booking reminders are then enqueued over the same pooled
connections.
"""

from __future__ import annotations

import random
import threading
from typing import Any, ClassVar

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class SharedPoolRedisCacheClient(RedisCacheClient):
    # (server, pool options) -> (pool, client on it); redis-py clients are thread-safe too, and
    # building one costs more than the command it sends.
    _shared: ClassVar[dict[tuple[str, str], tuple[Any, Any]]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()
    # Set by Django's RedisCacheClient.__init__ (not in its type stubs).
    _servers: list[str]
    _pool_class: Any
    _pool_options: dict[str, Any]
    _client: Any

    def _shared_for(self, write: bool) -> tuple[Any, Any]:
        # Writes to the first server, reads from a replica when there are several (as Django).
        index = 0 if write or len(self._servers) == 1 else random.randint(1, len(self._servers) - 1)  # noqa: S311
        key = (self._servers[index], repr(sorted(self._pool_options.items(), key=lambda kv: kv[0])))
        found = self._shared.get(key)
        if found is None:
            with self._shared_lock:
                found = self._shared.get(key)
                if found is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    found = (pool, self._client(connection_pool=pool))
                    self._shared[key] = found
        return found

    def _get_connection_pool(self, write: bool) -> Any:
        return self._shared_for(write)[0]

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return self._shared_for(write)[1]


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

    @property
    def _client(self) -> Any:
        """A client on the shared pool, for django-rq's ``USE_REDIS_CACHE``."""
        return self._cache.get_client(write=True)
