"""Every user-facing string exists in zh-Hans: the catalogue has no untranslated or fuzzy entry
(a fuzzy entry is ignored when the catalogue is compiled, so the English text would show), and
its placeholders match the English ones.

``make translations`` extracts new strings; this test fails until they are translated.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CATALOGUE = Path(__file__).resolve().parent.parent / "src/smartcare/locale/zh_Hans/LC_MESSAGES/django.po"
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sd]|%[sd]|\{[a-z_0-9]*\}")

needs_gettext = pytest.mark.skipif(shutil.which("msgattrib") is None, reason="GNU gettext is not installed")


def _msgids(*options: str) -> list[str]:
    output = subprocess.run(
        ["msgattrib", "--no-obsolete", "--no-wrap", *options, str(CATALOGUE)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [m for m in re.findall(r'^msgid "(.*)"$', output, re.MULTILINE) if m]


@needs_gettext
def test_no_string_is_left_untranslated() -> None:
    assert _msgids("--untranslated") == []


@needs_gettext
def test_no_translation_is_fuzzy() -> None:
    assert _msgids("--only-fuzzy") == []


def _entries(text: str) -> list[tuple[str, str]]:
    """(msgid, msgstr) of the singular entries, continuation lines joined."""
    entries = []
    for block in text.split("\n\n"):
        if "msgid_plural" in block or block.lstrip().startswith("#~"):
            continue
        msgid = re.search(r'^msgid ((?:".*"\n?)+)', block, re.MULTILINE)
        msgstr = re.search(r'^msgstr ((?:".*"\n?)+)', block, re.MULTILINE)
        if msgid and msgstr:
            join = lambda m: "".join(re.findall(r'"(.*)"', m.group(1)))  # noqa: E731
            entries.append((join(msgid), join(msgstr)))
    return entries


def test_placeholders_survive_translation() -> None:
    wrong = [
        msgid
        for msgid, msgstr in _entries(CATALOGUE.read_text(encoding="utf-8"))
        if msgid and msgstr and sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(msgstr))
    ]
    assert wrong == []


def test_the_checks_see_a_bad_entry(tmp_path: Path) -> None:
    """The placeholder check is not vacuous: it finds a dropped placeholder."""
    sample = 'msgid "Hello %(name)s"\nmsgstr "你好"\n\nmsgid "Fine {n}"\nmsgstr "好 {n}"\n'
    entries = _entries(sample)
    assert entries == [("Hello %(name)s", "你好"), ("Fine {n}", "好 {n}")]
    assert [m for m, s in entries if sorted(PLACEHOLDER.findall(m)) != sorted(PLACEHOLDER.findall(s))] == [
        "Hello %(name)s"
    ]
