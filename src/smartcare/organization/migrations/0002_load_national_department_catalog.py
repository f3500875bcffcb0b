"""Load the national department catalog shipped in organization/data/departments.csv."""

import csv
from pathlib import Path

from django.db import migrations

CATALOG = Path(__file__).resolve().parent.parent / "data" / "departments.csv"


def load(apps, schema_editor):
    code_model = apps.get_model("organization", "NationalDepartmentCode")
    with CATALOG.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    for row in sorted(rows, key=lambda r: (r["parent"] != "", r["code"])):
        code_model.objects.update_or_create(
            code=row["code"],
            defaults={"parent_id": row["parent"] or None, "name_zh": row["name_zh"], "name_en": row["name_en"]},
        )


class Migration(migrations.Migration):
    dependencies = [("organization", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
