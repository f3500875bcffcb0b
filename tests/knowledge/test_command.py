"""``smartcare knowledge-import``: counts and report on stdout, coded errors and exit code 1."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from smartcare.cli import ALIASES, main
from smartcare.knowledge.models import KnowledgeRelease
from smartcare.knowledge.seed import SEED
from tests.knowledge.conftest import SAMPLE
from tests.knowledge.helpers import table_state

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("knowledge_import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_importing_the_sample_prints_counts_and_unmapped_departments() -> None:
    out, _err = _run(str(SAMPLE), "--origin", "qamedkg", "--version", "2026.1")
    release = KnowledgeRelease.objects.get(origin="qamedkg")
    assert release.version == "2026.1"
    assert f"release {release.pk}: qamedkg 2026.1 (jsonl-disease) imported" in out
    assert f"nodes_created: {release.counts['nodes_created']}" in out
    assert "unmapped departments: 2" in out
    assert "中医综合: 1 (e.g. 肝郁气滞证)" in out
    assert "其他科室: 1 (e.g. 接触性皮炎)" in out
    assert "diseases without a department: 1" in out

    again, _err = _run(str(SAMPLE), "--origin", "qamedkg")
    assert "unchanged" in again
    assert KnowledgeRelease.objects.filter(origin="qamedkg").count() == 1


def test_the_format_and_the_dataset_name_come_from_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "medical.json"  # QASystemOnMedicalKG's name for a JSON-lines file
    copy.write_bytes(SAMPLE.read_bytes())
    _run(str(copy))
    release = KnowledgeRelease.objects.get(origin="medical")
    assert release.format == "jsonl-disease"
    assert len(release.version) == 10  # the file's date, YYYY-MM-DD
    # The shipped seed's dataset is reserved: only smartcare's own seed loader writes it.
    with pytest.raises(CommandError, match=r"KNOW-005 \(origin\)"):
        _run(str(SEED), "--origin", "smartcare-seed")


def test_a_bad_file_fails_with_coded_errors_per_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "甲病"}\nnot json\n{"desc": "x"}\n', encoding="utf-8")
    before = table_state()
    err = io.StringIO()
    with pytest.raises(CommandError) as caught, translation.override("en"):
        call_command("knowledge_import", str(bad), stdout=io.StringIO(), stderr=err)
    assert str(caught.value).startswith("KNOW-001")
    assert "line 2: Not valid JSON" in err.getvalue()
    assert "line 3:" in err.getvalue()
    assert table_state() == before
    with pytest.raises(CommandError, match="KNOW-001 no such file"):
        _run(str(tmp_path / "missing.jsonl"))
    with pytest.raises(CommandError, match=r"CORE-001 \(origin\)"):
        _run(str(SAMPLE), "--origin", "Bad Name")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(CommandError, match="KNOW-001"):
        _run(str(wrong), "--format", "smartcare")


def test_the_smartcare_command_takes_the_dashed_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert "knowledge-import" not in ALIASES  # dashes map to underscores by themselves
    with pytest.raises(SystemExit) as exited:
        main(["smartcare", "knowledge-import", "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    assert "--origin" in help_text and "--version" in help_text and "{auto,smartcare,jsonl}" in help_text
