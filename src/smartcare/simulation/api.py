"""Simulation API: what-if scenarios of clinic days."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["simulation"])
