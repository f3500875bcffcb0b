"""Websocket routes. Apps append their consumers' routes here in their ``AppConfig.ready``."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
