"""Validate the held-out triage evaluation set (eval_cases.csv).

Run:  python src/smartcare/triage/data/validate_eval_cases.py

Checks that the file parses, that every department code exists in the
organization catalog, that age/sex are well formed and consistent with the
text, that there are no duplicate texts, and that the set still meets its
size / coverage targets.  Prints counts per department and per language.
Exits with status 1 if any check fails.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVAL_CSV = HERE / "eval_cases.csv"
CATALOG_CSV = HERE.parents[1] / "organization" / "data" / "departments.csv"

HEADER = ["text", "department_code", "age", "sex"]
SEXES = {"male", "female"}
CJK = re.compile(r"[\u4e00-\u9fff]")

# Children (0-14): general medical complaints -> 07 / 07.01; these specialties
# (and emergency) also legitimately receive children.
CHILD_OK = {"07", "07.01", "08", "09", "10", "11", "12", "13", "04.07", "20"}
CHILD_ONLY = {"07", "07.01", "08", "09"}
FEMALE_ONLY_PREFIX = ("05", "06")
MALE_WORDS = re.compile(
    r"前列腺|PSA|睾丸|阴囊|包皮|勃起|早泄|蛋蛋|prostate|testic|erection|penis|scrot",
    re.I,
)
PREGNANT_WORDS = re.compile(
    r"怀孕|孕\d+周|孕早期|孕期|二胎|剖腹产后|生完孩子|产后|pregnan|weeks,? contractions|postpartum|breastfeeding|喂奶",
    re.I,
)

# Minimum targets for the set (see EVAL_README.md).
MIN_CASES = 560
MIN_CODES = 28
MIN_PER_TOP15 = 10
EMERGENCY_SHARE = (0.06, 0.10)
CHINESE_SHARE = (0.60, 0.70)

_ZH_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def zh_number(s: str) -> int | None:
    """Parse simple Chinese numerals 1-99 (e.g. 三, 十二, 七十六)."""
    if s.isdigit():
        return int(s)
    if "十" in s:
        tens, _, ones = s.partition("十")
        t = _ZH_DIGITS.get(tens) if tens else 1
        o = _ZH_DIGITS.get(ones) if ones else 0
        if t is None or o is None:
            return None
        return t * 10 + o
    if len(s) == 1 and s in _ZH_DIGITS:
        return _ZH_DIGITS[s]
    return None


AGE_PATTERNS = [
    re.compile(r"([0-9]{1,3}|[一二两三四五六七八九十]{1,3})岁"),
    re.compile(r"\b(\d{1,3})[\s-]*(?:year|yr)s?[\s-]*old\b", re.I),
    re.compile(r"\bI'?m (\d{1,3})\b(?!\s*(?:weeks?|wks?|months?|days?))", re.I),
    re.compile(r"\b(\d{1,2}) ?yo\b", re.I),
]


def stated_ages(text: str) -> list[int]:
    ages = []
    for pat in AGE_PATTERNS:
        for m in pat.finditer(text):
            n = zh_number(m.group(1))
            if n is not None:
                ages.append(n)
    return ages


def normalise(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def main() -> int:
    errors: list[str] = []
    catalog = {}
    with CATALOG_CSV.open(encoding="utf-8", newline="") as fh:
        for entry in csv.DictReader(fh):
            catalog[entry["code"]] = (entry["name_zh"], entry["name_en"])

    with EVAL_CSV.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if header != HEADER:
            errors.append(f"header is {header}, expected {HEADER}")
        rows = list(reader)

    seen: dict[str, int] = {}
    seen_norm: dict[str, int] = {}
    by_code: Counter[str] = Counter()
    by_lang: Counter[str] = Counter()
    by_code_lang: Counter[tuple[str, str]] = Counter()

    for i, row in enumerate(rows, start=2):
        if len(row) != 4:
            errors.append(f"line {i}: {len(row)} fields")
            continue
        text, code, age_s, sex = row
        where = f"line {i} ({text[:30]!r})"
        if not text.strip() or text != text.strip():
            errors.append(f"{where}: empty or untrimmed text")
        if code not in catalog:
            errors.append(f"{where}: unknown department code {code!r}")
        if not re.fullmatch(r"\d{1,3}", age_s) or not 0 <= int(age_s) <= 110:
            errors.append(f"{where}: bad age {age_s!r}")
            continue
        age = int(age_s)
        if sex not in SEXES:
            errors.append(f"{where}: bad sex {sex!r}")
        if text in seen:
            errors.append(f"{where}: exact duplicate of line {seen[text]}")
        seen[text] = i
        norm = normalise(text)
        if norm in seen_norm and text not in seen:
            errors.append(f"{where}: near-duplicate of line {seen_norm[norm]}")
        seen_norm.setdefault(norm, i)

        # consistency rules
        if age <= 14 and code not in CHILD_OK:
            errors.append(f"{where}: age {age} but adult department {code}")
        if age >= 15 and code in CHILD_ONLY:
            errors.append(f"{where}: age {age} but paediatric department {code}")
        if code == "07.01" and age != 0:
            errors.append(f"{where}: neonatology case with age {age}")
        if code.startswith(FEMALE_ONLY_PREFIX) and sex != "female":
            errors.append(f"{where}: {code} case must be female")
        if MALE_WORDS.search(text) and sex != "male":
            errors.append(f"{where}: male-specific wording but sex={sex}")
        if PREGNANT_WORDS.search(text) and not (sex == "female" and 15 <= age <= 50):
            errors.append(f"{where}: pregnancy wording but {sex}, {age}")
        for n in stated_ages(text):
            if n != age and not re.search(r"我爸|我妈|奶奶|爷爷|dad|mother|father", text, re.I):
                errors.append(f"{where}: text says age {n}, column says {age}")

        lang = "zh" if CJK.search(text) else "en"
        by_code[code] += 1
        by_lang[lang] += 1
        by_code_lang[(code, lang)] += 1

    total = len(rows)
    print(f"cases: {total}")
    for lang in ("zh", "en"):
        print(f"  {lang}: {by_lang[lang]:4d}  ({by_lang[lang] / total:.1%})")
    print(f"department codes used: {len(by_code)}")
    print(f"{'code':<6} {'total':>5} {'zh':>4} {'en':>4}  name")
    for code in sorted(by_code, key=lambda c: [int(p) for p in c.split(".")]):
        zh, en = by_code_lang[(code, "zh")], by_code_lang[(code, "en")]
        print(f"{code:<6} {by_code[code]:>5} {zh:>4} {en:>4}  {catalog.get(code, ('?', '?'))[1]}")

    # targets
    if total < MIN_CASES:
        errors.append(f"only {total} cases (< {MIN_CASES})")
    if len(by_code) < MIN_CODES:
        errors.append(f"only {len(by_code)} department codes (< {MIN_CODES})")
    for code, n in by_code.most_common(15):
        if n < MIN_PER_TOP15:
            errors.append(f"top-15 department {code} has only {n} cases")
    emerg = by_code["20"] / total
    print(f"emergency share: {emerg:.1%}")
    if not EMERGENCY_SHARE[0] <= emerg <= EMERGENCY_SHARE[1]:
        errors.append(f"emergency share {emerg:.1%} outside {EMERGENCY_SHARE}")
    zh_share = by_lang["zh"] / total
    if not CHINESE_SHARE[0] <= zh_share <= CHINESE_SHARE[1]:
        errors.append(f"Chinese share {zh_share:.1%} outside {CHINESE_SHARE}")

    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)")
        for e in errors:
            print("  -", e)
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
