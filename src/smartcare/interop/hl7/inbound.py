"""What a message handler receives, and what it reports back for the log and the ACK."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartcare.interop.hl7.parsing import Header
from smartcare.interop.models import ConnectedSystem


@dataclass
class Inbound:
    header: Header
    system: ConnectedSystem
    actor: Any
    patient: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
