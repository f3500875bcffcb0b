"""Permission rules for the kpi app: the operations cockpit (pages under /kpi/, API under
/api/kpi/) and quality control (/kpi/quality/, /api/kpi/quality/).

Each part keeps its rules and setup in its own section; the quality part lives in
``quality_permission_rules.py`` and is added here.
"""

from __future__ import annotations

from tests.kpi.cockpit_permission_rules import RULES as COCKPIT_RULES
from tests.kpi.cockpit_permission_rules import setup as cockpit_setup
from tests.kpi.quality_permission_rules import RULES as QUALITY_RULES
from tests.kpi.quality_permission_rules import setup as quality_setup
from tests.test_permissions import Rule, World

RULES: list[Rule] = []


def setup(world: World) -> None:
    cockpit_setup(world)  # --- cockpit ---
    quality_setup(world)  # --- quality ---


# --- cockpit ---
RULES.extend(COCKPIT_RULES)
# --- end cockpit ---
# --- quality ---
RULES.extend(QUALITY_RULES)
# --- end quality ---
