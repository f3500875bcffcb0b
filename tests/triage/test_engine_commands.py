"""The evaluation and training commands: output format, bad files, retraining on labelled texts."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from smartcare.triage.engine import get_engine
from smartcare.triage.training import stored_examples

pytestmark = pytest.mark.django_db

CASES = """text,department_code,age,sex
牙疼三天了,12,30,male
皮肤起红疹子很痒,13,25,female
孩子发烧咳嗽两天,07,4,male
"I have had a sore throat and runny nose for two days",11,30,female
胸口剧痛，出冷汗，喘不上气,20,60,male
"""


def _run(*args: str) -> tuple[str, dict[str, object]]:
    out = StringIO()
    call_command(*args, stdout=out)
    text = out.getvalue().strip()
    return text, json.loads(text.splitlines()[-1])


def test_evaluation_prints_per_department_figures_and_a_json_summary(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(CASES, encoding="utf-8")
    text, summary = _run("triage_eval", str(path), "--errors")
    assert set(summary) == {"cases", "top1", "top3", "top1_parent", "top3_parent", "p95_ms"}
    assert summary["cases"] == 5
    assert 0 <= summary["top1"] <= summary["top3"] <= 1  # type: ignore[operator]
    assert summary["top1"] <= summary["top1_parent"]  # type: ignore[operator]
    assert summary["top3"] >= 0.6  # type: ignore[operator]
    assert summary["p95_ms"] > 0  # type: ignore[operator]
    assert "prec" in text and "recall" in text
    assert "12 " in text and "Stomatology" in text
    assert "Confusions" in text


def test_evaluation_rejects_a_bad_file_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,department_code,age,sex\n,12,30,male\n牙疼,99.99,abc,other\n", encoding="utf-8")
    with pytest.raises(CommandError) as raised:
        call_command("triage_eval", str(path), stdout=StringIO())
    message = str(raised.value)
    assert "TRIAGE-011" in message and "line 2" in message and "line 3" in message
    path.write_text("words,label\nx,12\n", encoding="utf-8")
    with pytest.raises(CommandError, match="TRIAGE-011"):
        call_command("triage_eval", str(path), stdout=StringIO())


def test_training_adds_labelled_texts_and_the_engine_learns_them(tmp_path: Path, settings: object) -> None:
    settings.VAR_DIR = tmp_path  # type: ignore[attr-defined]
    phrase = "zqxv wobble syndrome"  # words the graph has never seen
    before = get_engine().triage_text_scores(phrase)
    path = tmp_path / "labelled.csv"
    path.write_text(
        "text,department_code\n" + "".join(f"{phrase} {i},22\n" for i in range(20)), encoding="utf-8"
    )
    _, summary = _run("triage_train", str(path))
    assert summary["added"] == 20 and summary["labelled_texts"] == 20
    after = get_engine().triage_text_scores(phrase)
    assert after["22"] > before["22"]
    assert max(after, key=after.__getitem__) == "22"
    assert len(stored_examples()) == 20


def test_training_rejects_a_bad_file_and_keeps_nothing(tmp_path: Path, settings: object) -> None:
    settings.VAR_DIR = tmp_path  # type: ignore[attr-defined]
    path = tmp_path / "bad.csv"
    path.write_text("text,department_code\n牙疼,12\n,12\n头疼,not-a-code\n", encoding="utf-8")
    with pytest.raises(CommandError) as raised:
        call_command("triage_train", str(path), stdout=StringIO())
    assert (
        "TRIAGE-010" in str(raised.value) and "line 3" in str(raised.value) and "line 4" in str(raised.value)
    )
    assert stored_examples() == []
