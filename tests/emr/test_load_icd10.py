"""``smartcare load-icd10 FILE``: a national ICD-10 code set is loaded idempotently; bad rows are
rejected with coded reasons, a malformed file writes nothing; ``migrate`` never renames loaded codes."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from smartcare.audit.models import AuditEvent
from smartcare.emr.icd10 import load_icd10_after_migrate, read_rows
from smartcare.emr.models import Icd10Code

pytestmark = pytest.mark.django_db

GOOD = (
    "code,name_zh,name_en\n"
    "E11.900x001,2型糖尿病不伴有并发症,Type 2 diabetes mellitus without complications\n"
    "I10.x00x002,高血压1级,Hypertension grade 1\n"
    "E11.9,2型糖尿病（国家临床版）,Type 2 diabetes mellitus\n"
)


def load(tmp_path: Path, text: str | bytes, *args: str) -> dict[str, Any]:
    path = tmp_path / "icd10.csv"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    out = StringIO()
    call_command("load_icd10", str(path), "--json", *args, stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue().strip().splitlines()[-1])
    return result


def test_loads_new_codes_updates_known_ones_and_is_idempotent(tmp_path: Path) -> None:
    before = Icd10Code.objects.count()
    result = load(tmp_path, GOOD)
    assert (result["created"], result["updated"], result["rejected"]) == (2, 1, [])
    assert Icd10Code.objects.count() == before + 2
    national = Icd10Code.objects.get(code="E11.900x001")
    assert (national.name_en, national.chapter) == ("Type 2 diabetes mellitus without complications", "IV")
    assert Icd10Code.objects.get(code="E11.9").name_zh == "2型糖尿病（国家临床版）"
    again = load(tmp_path, GOOD)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert Icd10Code.objects.count() == before + 2
    assert AuditEvent.objects.filter(reason="load-icd10").count() == 2


def test_bad_rows_are_rejected_with_coded_reasons_and_the_rest_loaded(tmp_path: Path) -> None:
    text = (
        "code,name_zh,name_en,chapter\n"
        "Z99.8,依赖其他辅助装置,Dependence on other enabling machines,\n"
        "11A.0,无效,Invalid,\n"
        "E11.95,,Missing Chinese name,\n"
        "Z99.8,重复,Duplicate,\n"
        "e12.1,营养不良相关糖尿病,Malnutrition-related diabetes,IV\n"
    )
    result = load(tmp_path, text)
    assert result["created"] == 2
    rejected = {(r["line"], r["error"]) for r in result["rejected"]}
    assert rejected == {(3, "EMR-016"), (4, "EMR-017"), (5, "EMR-018")}
    assert "11A.0" in next(r["reason"] for r in result["rejected"] if r["error"] == "EMR-016")
    assert Icd10Code.objects.get(code="E12.1").name_zh == "营养不良相关糖尿病"
    assert Icd10Code.objects.get(code="Z99.8").name_zh == "依赖其他辅助装置"
    assert not Icd10Code.objects.filter(code="11A.0").exists()


def test_the_plain_output_lists_rejections_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    path.write_text(
        "code,name_zh,name_en\nBAD,坏,bad\nK21.9,胃食管反流病,Gastro-oesophageal reflux\n", "utf-8"
    )
    out = StringIO()
    call_command("load_icd10", str(path), stdout=out)
    text = out.getvalue()
    assert "line 2: BAD rejected: EMR-016" in text
    assert text.strip().endswith("1 rejected")


@pytest.mark.parametrize(
    "content",
    [
        "code,name_zh\nE11.9,糖尿病\n",  # a column missing
        "code,name_zh,name_en\nX99.1,新码,New code\nE11.9,糖尿病,Diabetes,extra\n",  # a field too many
        "code,name_zh,name_en\nX99.1,新码,New code\nE11.9,糖尿病\n",  # a field too few
        "code,name_zh,name_en\nX99.1,新码,New code\n".encode("gb18030")
        + "E11.9,糖尿病,Diabetes\n".encode("gb18030"),
        "",
    ],
)
def test_a_malformed_file_writes_nothing(tmp_path: Path, content: str | bytes) -> None:
    before = {c.code: c.name_zh for c in Icd10Code.objects.all()}
    events = AuditEvent.objects.count()
    with pytest.raises(CommandError, match="EMR-015"):
        load(tmp_path, content)
    assert {c.code: c.name_zh for c in Icd10Code.objects.all()} == before
    assert AuditEvent.objects.count() == events


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="EMR-015"):
        call_command("load_icd10", str(tmp_path / "nope.csv"))


def test_migrate_adds_missing_shipped_codes_but_keeps_loaded_names(tmp_path: Path) -> None:
    load(tmp_path, GOOD)
    shipped = read_rows()[0]["code"]
    Icd10Code.objects.filter(code=shipped).delete()
    load_icd10_after_migrate(sender=None)
    assert Icd10Code.objects.filter(code=shipped).exists()
    assert Icd10Code.objects.get(code="E11.9").name_zh == "2型糖尿病（国家临床版）"
