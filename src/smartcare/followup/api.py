"""Follow-up and health education API."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["followup"])
