"""Loading the national department catalog shipped with smartcare."""

from __future__ import annotations

import csv
from pathlib import Path

from django.db import transaction

CATALOG = Path(__file__).parent / "data" / "departments.csv"


@transaction.atomic
def load_department_catalog(path: Path = CATALOG) -> int:
    from smartcare.organization.models import NationalDepartmentCode

    with path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    for row in sorted(rows, key=lambda r: (r["parent"] != "", r["code"])):
        NationalDepartmentCode.objects.update_or_create(
            code=row["code"],
            defaults={
                "parent_id": row["parent"] or None,
                "name_zh": row["name_zh"],
                "name_en": row["name_en"],
            },
        )
    return len(rows)
