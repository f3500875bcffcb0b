"""Modules add their demo activity by registering a generator; ``smartcare demo-data`` runs them in order."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class DemoContext:
    seed: int
    rng: random.Random
    patients: int
    log: Callable[[str], None]
    state: dict[str, Any]


@dataclass(frozen=True)
class Generator:
    name: str
    run: Callable[[DemoContext], None]
    order: int


_GENERATORS: list[Generator] = []


def register_generator(name: str, run: Callable[[DemoContext], None], order: int = 100) -> None:
    if any(g.name == name for g in _GENERATORS):
        return
    _GENERATORS.append(Generator(name, run, order))
    _GENERATORS.sort(key=lambda g: g.order)


def generators() -> list[Generator]:
    return list(_GENERATORS)
