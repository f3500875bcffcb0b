"""The curated seed shipped with smartcare (``data/seed.json``), loaded after ``migrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SEED = Path(__file__).parent / "data" / "seed.json"


def load_seed(path: Path = SEED) -> bool:
    """Apply the shipped seed unless this exact file is already the applied seed release."""
    from smartcare.knowledge.services import SEED_ORIGIN, import_smartcare_file

    # The shipped seed is authoritative: a new version may retire what it no longer has.
    _, changed = import_smartcare_file(
        path.read_bytes(), file_name=path.name, origin=SEED_ORIGIN, force=True, audited=False
    )
    return changed


def ensure_seed() -> None:
    """Load the seed when the graph is empty (tests that flush the database call this)."""
    from smartcare.knowledge.models import Node
    from smartcare.organization.catalog import load_department_catalog
    from smartcare.organization.models import NationalDepartmentCode

    if not Node.objects.exists():
        if not NationalDepartmentCode.objects.exists():
            load_department_catalog()
        load_seed()


def load_seed_after_migrate(sender: Any, using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    """post_migrate: bring the shipped seed in, or update it when the file changed."""
    from smartcare.organization.models import NationalDepartmentCode

    if not NationalDepartmentCode.objects.using(using).exists():
        return
    load_seed()
