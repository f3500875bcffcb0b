# ruff: noqa: S608 - this module is the SQL compiler: every literal is validated (patterns, dates, numbers) and quoted
"""Cohort criteria: the JSON language, its validation, and its compilation to DuckDB SQL over the lake.

A definition is ``{"index_date": "YYYY-MM-DD" (optional), "criteria": <node>}``. A node is a
group or a criterion:

* groups: ``{"and": [node, ...]}``, ``{"or": [node, ...]}``, ``{"not": node}`` (nested freely,
  up to ``MAX_DEPTH`` levels and ``MAX_NODES`` nodes);
* ``{"type": "diagnosis", "codes": ["E11", "I10-I15", "J45.9"], "primary_only": false, "window": w}``
  ICD-10 with its hierarchy: a category (``E11``) matches every code under it (``E11.9``), a
  code with a subdivision (``E11.6``) matches itself and its children (``E11.65``), a range of
  categories (``I10-I15``) matches every category between them;
* ``{"type": "age", "min": 60, "max": 80}`` whole years at the index date, both ends inclusive;
* ``{"type": "sex", "values": ["female"]}``;
* ``{"type": "medication", "atc": ["A10A"], "drugs": ["drug:metformin"], "window": w}``: ATC
  codes with their hierarchy (a prefix matches every code under it) or knowledge-graph drug keys;
* ``{"type": "lab", "code": "4548-4", "op": ">=", "value": 7, "value2": null, "which": "any", "window": w}``:
  ``op`` one of ``> >= < <= = between`` (``between``: ``value`` ≤ x ≤ ``value2``); ``which``
  ``any`` (any result in the window meets it) or ``latest`` (the latest result in the window does);
* ``{"type": "encounter", "kinds": ["inpatient"], "departments": ["03"], "window": w}``.

A window ``w`` (optional; without one any time counts) is ``{"from": date, "to": date}``
(inclusive calendar dates) and/or ``{"days_before": n, "days_after": m}`` around the index date;
both given: both apply.

Every criterion compiles to a set of people (``person_num``, the integer form of ``person_key``); ``and`` intersects (its ``not`` members are
subtracted), ``or`` unites, ``not`` is the complement within ``persons``. The run subtracts the
patients who withdrew research consent (the ``withdrawn`` table, filled at run time). Values are
validated strictly (codes by pattern, dates, numbers, fixed vocabularies) before they are written
into the SQL as literals, so the SQL a researcher sees is the SQL that runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.research.errors import CohortQueryFailed, CriteriaInvalid

MAX_DEPTH = 8
MAX_NODES = 100
MAX_CODES = 200

ICD_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
ICD_RANGE = re.compile(r"^([A-Z][0-9]{2})-([A-Z][0-9]{2})$")
ATC_CODE = re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$")
DRUG_KEY = re.compile(r"^drug:[a-z0-9][a-z0-9_-]{0,80}$")
LAB_CODE = re.compile(r"^([0-9]{1,7}-[0-9]|exam:[a-z0-9][a-z0-9_-]{0,80})$")
DEPARTMENT_CODE = re.compile(r"^[0-9A-Za-z.]{1,12}$")
SEXES = ("male", "female", "other", "unknown")
ENCOUNTER_KINDS = ("outpatient", "inpatient", "emergency")
LAB_OPS = (">", ">=", "<", "<=", "=", "between")
CRITERION_TYPES = ("diagnosis", "age", "sex", "medication", "lab", "encounter")

# Reasons shown with RES-001 (translated).
R_NOT_OBJECT = _("must be an object")
R_NOT_LIST = _("must be a non-empty list")
R_UNKNOWN_KEY = _("unknown field")
R_UNKNOWN_TYPE = _("unknown criterion type")
R_NEEDS_ONE = _("a group needs exactly one of and, or, not")
R_TOO_DEEP = _("groups are nested too deeply")
R_TOO_MANY = _("too many criteria")
R_BAD_ICD = _("not an ICD-10 code, category or range (E11, E11.9, I10-I15)")
R_BAD_RANGE = _("the range is reversed")
R_BAD_ATC = _("not an ATC code")
R_BAD_DRUG = _("not a drug key (drug:<name>)")
R_BAD_LAB = _("not a LOINC code or exam key")
R_BAD_DEPT = _("not a department code")
R_BAD_DATE = _("not a date (YYYY-MM-DD)")
R_BAD_NUMBER = _("not a number")
R_BAD_DAYS = _("must be a whole number of days from 0 to 36500")
R_BAD_AGE = _("must be a whole number of years from 0 to 150")
R_AGE_ORDER = _("the minimum is above the maximum")
R_NEEDS_BOUND = _("give a minimum, a maximum or both")
R_BAD_CHOICE = _("not one of the allowed values")
R_WINDOW_ORDER = _("the window ends before it starts")
R_NEEDS_VALUE2 = _("between needs value and value2, value not above value2")
R_NEEDS_ONE_OF = _("give ATC codes, drug keys or both")
R_BAD_BOOL = _("must be true or false")
R_TOO_MANY_CODES = _("too many codes")


def _fail(path: str, reason: Any) -> CriteriaInvalid:
    return CriteriaInvalid(path=path, reason=reason, field=path)


# --- validation ---------------------------------------------------------------------------------


def _date(value: Any, path: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise _fail(path, R_BAD_DATE)
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise _fail(path, R_BAD_DATE) from None


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(path, R_BAD_NUMBER)
    try:
        number = float(value)
    except ValueError:
        raise _fail(path, R_BAD_NUMBER) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise _fail(path, R_BAD_NUMBER)
    return number


def _whole(value: Any, path: str, top: int, reason: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise _fail(path, reason)
    return value


def _keys(node: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in node:
        if key not in allowed:
            raise _fail(f"{path}.{key}", R_UNKNOWN_KEY)


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(path, R_NOT_LIST)
    if len(value) > MAX_CODES:
        raise _fail(path, R_TOO_MANY_CODES)
    return value


def _strings(value: Any, path: str, pattern: re.Pattern[str], reason: Any, upper: bool = False) -> list[str]:
    out = []
    for i, item in enumerate(_list(value, path)):
        text = item.strip() if isinstance(item, str) else ""
        if upper:
            text = text.upper()
        if not pattern.match(text):
            raise _fail(f"{path}[{i}]", reason)
        out.append(text)
    return sorted(set(out))


def _choices(value: Any, path: str, allowed: tuple[str, ...]) -> list[str]:
    out = []
    for i, item in enumerate(_list(value, path)):
        if item not in allowed:
            raise _fail(f"{path}[{i}]", R_BAD_CHOICE)
        out.append(item)
    return sorted(set(out))


def _window(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(path, R_NOT_OBJECT)
    _keys(value, {"from", "to", "days_before", "days_after"}, path)
    out: dict[str, Any] = {}
    if value.get("from") is not None:
        out["from"] = _date(value["from"], f"{path}.from").isoformat()
    if value.get("to") is not None:
        out["to"] = _date(value["to"], f"{path}.to").isoformat()
    if "from" in out and "to" in out and out["to"] < out["from"]:
        raise _fail(f"{path}.to", R_WINDOW_ORDER)
    for key in ("days_before", "days_after"):
        if value.get(key) is not None:
            out[key] = _whole(value[key], f"{path}.{key}", 36500, R_BAD_DAYS)
    return out or None


def _icd(codes: Any, path: str) -> list[str]:
    out = []
    for i, item in enumerate(_list(codes, path)):
        text = item.strip().upper() if isinstance(item, str) else ""
        ranged = ICD_RANGE.match(text)
        if ranged:
            if ranged.group(2) < ranged.group(1):
                raise _fail(f"{path}[{i}]", R_BAD_RANGE)
        elif not ICD_CODE.match(text):
            raise _fail(f"{path}[{i}]", R_BAD_ICD)
        out.append(text)
    return sorted(set(out))


def _criterion(node: dict[str, Any], path: str) -> dict[str, Any]:
    kind = node.get("type")
    if kind not in CRITERION_TYPES:
        raise _fail(f"{path}.type", R_UNKNOWN_TYPE)
    if kind == "diagnosis":
        _keys(node, {"type", "codes", "primary_only", "window"}, path)
        primary = node.get("primary_only", False)
        if not isinstance(primary, bool):
            raise _fail(f"{path}.primary_only", R_BAD_BOOL)
        out: dict[str, Any] = {"type": kind, "codes": _icd(node.get("codes"), f"{path}.codes")}
        if primary:
            out["primary_only"] = True
    elif kind == "age":
        _keys(node, {"type", "min", "max"}, path)
        out = {"type": kind}
        for key in ("min", "max"):
            if node.get(key) is not None:
                out[key] = _whole(node[key], f"{path}.{key}", 150, R_BAD_AGE)
        if "min" not in out and "max" not in out:
            raise _fail(path, R_NEEDS_BOUND)
        if "min" in out and "max" in out and out["min"] > out["max"]:
            raise _fail(f"{path}.max", R_AGE_ORDER)
        return out
    elif kind == "sex":
        _keys(node, {"type", "values"}, path)
        return {"type": kind, "values": _choices(node.get("values"), f"{path}.values", SEXES)}
    elif kind == "medication":
        _keys(node, {"type", "atc", "drugs", "window"}, path)
        out = {"type": kind}
        if node.get("atc"):
            out["atc"] = _strings(node["atc"], f"{path}.atc", ATC_CODE, R_BAD_ATC, upper=True)
        if node.get("drugs"):
            out["drugs"] = _strings(node["drugs"], f"{path}.drugs", DRUG_KEY, R_BAD_DRUG)
        if "atc" not in out and "drugs" not in out:
            raise _fail(path, R_NEEDS_ONE_OF)
    elif kind == "lab":
        _keys(node, {"type", "code", "op", "value", "value2", "which", "window"}, path)
        code = node.get("code")
        if not isinstance(code, str) or not LAB_CODE.match(code.strip()):
            raise _fail(f"{path}.code", R_BAD_LAB)
        op = node.get("op", ">=")
        if op not in LAB_OPS:
            raise _fail(f"{path}.op", R_BAD_CHOICE)
        which = node.get("which", "any")
        if which not in ("any", "latest"):
            raise _fail(f"{path}.which", R_BAD_CHOICE)
        out = {
            "type": kind,
            "code": code.strip(),
            "op": op,
            "value": _number(node.get("value"), f"{path}.value"),
        }
        if op == "between":
            if node.get("value2") is None:
                raise _fail(f"{path}.value2", R_NEEDS_VALUE2)
            out["value2"] = _number(node["value2"], f"{path}.value2")
            if out["value2"] < out["value"]:
                raise _fail(f"{path}.value2", R_NEEDS_VALUE2)
        out["which"] = which
    else:  # encounter
        _keys(node, {"type", "kinds", "departments", "window"}, path)
        out = {"type": kind}
        if node.get("kinds"):
            out["kinds"] = _choices(node["kinds"], f"{path}.kinds", ENCOUNTER_KINDS)
        if node.get("departments"):
            out["departments"] = _strings(
                node["departments"], f"{path}.departments", DEPARTMENT_CODE, R_BAD_DEPT
            )
    window = _window(node.get("window"), f"{path}.window")
    if window:
        out["window"] = window
    return out


def _node(node: Any, path: str, depth: int, counter: list[int]) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _fail(path, R_NOT_OBJECT)
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise _fail(path, R_TOO_MANY)
    if depth > MAX_DEPTH:
        raise _fail(path, R_TOO_DEEP)
    if "type" in node:
        return _criterion(node, path)
    groups = [key for key in ("and", "or", "not") if key in node]
    if len(groups) != 1 or len(node) != 1:
        raise _fail(path, R_NEEDS_ONE)
    op = groups[0]
    if op == "not":
        return {"not": _node(node["not"], f"{path}.not", depth + 1, counter)}
    items = node[op]
    if not isinstance(items, list) or not items:
        raise _fail(f"{path}.{op}", R_NOT_LIST)
    return {op: [_node(item, f"{path}.{op}[{i}]", depth + 1, counter) for i, item in enumerate(items)]}


def validate(definition: Any) -> dict[str, Any]:
    """The definition in canonical form (sorted lists, defaults filled), or RES-001 naming the
    first problem's path (``criteria.and[1].codes[0]``)."""
    if isinstance(definition, str | bytes):
        try:
            definition = json.loads(definition)
        except ValueError:
            raise _fail("definition", R_NOT_OBJECT) from None
    if not isinstance(definition, dict):
        raise _fail("definition", R_NOT_OBJECT)
    _keys(definition, {"index_date", "criteria"}, "definition")
    if "criteria" not in definition:
        raise _fail("criteria", R_NOT_OBJECT)
    out: dict[str, Any] = {"criteria": _node(definition["criteria"], "criteria", 1, [0])}
    if definition.get("index_date"):
        out["index_date"] = _date(definition["index_date"], "index_date").isoformat()
    return out


# --- compilation --------------------------------------------------------------------------------


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in(column: str, values: list[str]) -> str:
    if len(values) == 1:
        return f"{column} = {_lit(values[0])}"
    return f"{column} IN ({', '.join(_lit(v) for v in values)})"


def _years_ago(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _window_sql(window: dict[str, Any] | None, column: str, index: dt.date) -> list[str]:
    """Conditions on ``column`` (a timestamp) plus the partition years they imply, so DuckDB
    reads only the year directories concerned."""
    if not window:
        return []
    start: dt.date | None = None
    end: dt.date | None = None  # inclusive
    if "from" in window:
        start = dt.date.fromisoformat(window["from"])
    if "to" in window:
        end = dt.date.fromisoformat(window["to"])
    if "days_before" in window:
        relative = index - dt.timedelta(days=window["days_before"])
        start = max(start, relative) if start else relative
    if "days_after" in window:
        relative = index + dt.timedelta(days=window["days_after"])
        end = min(end, relative) if end else relative
    conditions = []
    if start is not None:
        conditions.append(f"{column} >= TIMESTAMP '{start.isoformat()} 00:00:00'")
        conditions.append(f"year >= {start.year}")
    if end is not None:
        conditions.append(f"{column} < TIMESTAMP '{(end + dt.timedelta(days=1)).isoformat()} 00:00:00'")
        conditions.append(f"year <= {end.year}")
    return conditions


def _icd_condition(code: str) -> str:
    ranged = ICD_RANGE.match(code)
    if ranged:
        return f"icd10_category BETWEEN {_lit(ranged.group(1))} AND {_lit(ranged.group(2))}"
    if len(code) == 3:
        return f"icd10_category = {_lit(code)}"
    return f"(icd10 = {_lit(code)} OR icd10 LIKE {_lit(code + '%')})"


def _select(table: str, conditions: list[str]) -> str:
    where = "\n  AND ".join(conditions) if conditions else "true"
    return f"SELECT person_num FROM {table}\nWHERE {where}"


def _criterion_sql(node: dict[str, Any], index: dt.date) -> str:
    kind = node["type"]
    window = node.get("window")
    if kind == "diagnosis":
        codes = " OR ".join(_icd_condition(c) for c in node["codes"])
        conditions = [f"({codes})"]
        if node.get("primary_only"):
            conditions.append("is_primary")
        return _select("diagnoses", conditions + _window_sql(window, "diagnosed_at", index))
    if kind == "age":
        conditions = []
        if "min" in node:  # born on or before the day that makes them min years old
            conditions.append(f"birth_date <= DATE '{_years_ago(index, node['min']).isoformat()}'")
        if "max" in node:  # not yet max + 1 years old
            conditions.append(f"birth_date > DATE '{_years_ago(index, node['max'] + 1).isoformat()}'")
        return _select("persons", conditions)
    if kind == "sex":
        return _select("persons", [_in("sex", node["values"])])
    if kind == "medication":
        alternatives = [f"atc_code LIKE {_lit(code + '%')}" for code in node.get("atc", [])]
        if node.get("drugs"):
            alternatives.append(_in("drug_key", node["drugs"]))
        return _select(
            "medications", [f"({' OR '.join(alternatives)})", *_window_sql(window, "started_at", index)]
        )
    if kind == "lab":
        op, value = node["op"], node["value"]
        test = (
            f"value BETWEEN {value!r} AND {node['value2']!r}" if op == "between" else f"value {op} {value!r}"
        )
        conditions = [
            f"code = {_lit(node['code'])}",
            "value IS NOT NULL",
            *_window_sql(window, "observed_at", index),
        ]
        if node.get("which") == "latest":
            inner = _select("labs", conditions).replace("SELECT person_num", "SELECT person_num, value", 1)
            return (
                f"SELECT person_num FROM (\n{inner}\nQUALIFY row_number() OVER "
                f"(PARTITION BY person_num ORDER BY observed_at DESC) = 1\n) AS latest\nWHERE {test}"
            )
        return _select("labs", [*conditions, test])
    # encounter
    conditions = []
    if node.get("kinds"):
        conditions.append(_in("kind", node["kinds"]))
    if node.get("departments"):
        conditions.append(_in("department_code", node["departments"]))
    return _select("encounters", conditions + _window_sql(window, "started_at", index))


def _indent(sql: str) -> str:
    return "\n".join("  " + line for line in sql.splitlines())


def _wrap(sql: str) -> str:
    return f"SELECT person_num FROM (\n{_indent(sql)}\n)"


def _node_sql(node: dict[str, Any], index: dt.date) -> str:
    if "type" in node:
        return _criterion_sql(node, index)
    if "not" in node:
        return f"SELECT person_num FROM persons\nEXCEPT\n{_wrap(_node_sql(node['not'], index))}"
    if "or" in node:
        return "\nUNION\n".join(_wrap(_node_sql(child, index)) for child in node["or"])
    # and: intersect the positive members, subtract the negated ones (A AND NOT B = A EXCEPT B)
    positive = [child for child in node["and"] if "not" not in child]
    negative = [child["not"] for child in node["and"] if "not" in child]
    if len(positive) == 1:
        sql = _node_sql(positive[0], index)
    else:
        parts = [_wrap(_node_sql(child, index)) for child in positive] or ["SELECT person_num FROM persons"]
        sql = "\nINTERSECT\n".join(parts)
    if negative:
        sql = _wrap(sql) + "".join(f"\nEXCEPT\n{_wrap(_node_sql(child, index))}" for child in negative)
    return sql


def index_date_of(definition: dict[str, Any], index_date: dt.date | None = None) -> dt.date:
    if index_date is not None:
        return index_date
    if definition.get("index_date"):
        return dt.date.fromisoformat(definition["index_date"])
    return clock.today()


def _with_cohort(clean: dict[str, Any], index: dt.date) -> str:
    body = _node_sql(clean["criteria"], index)
    return f"-- cohort at index date {index.isoformat()}\nWITH cohort AS (\n{_indent(body)}\n)\n"


def compile_sql(definition: Any, *, index_date: dt.date | None = None) -> str:
    """The SQL selecting the cohort's ``person_key`` s, with the consent exclusion. Set
    operations work on ``person_num`` (the key's first 60 bits as an integer: faster)."""
    clean = validate(definition)
    index = index_date_of(clean, index_date)
    return (
        _with_cohort(clean, index) + "SELECT person_key FROM persons\nWHERE person_num IN (\n"
        "  SELECT person_num FROM cohort\n"
        "  -- patients who withdrew research consent (filled at run time)\n"
        "  EXCEPT SELECT person_num FROM withdrawn\n)"
    )


# --- running ------------------------------------------------------------------------------------


@dataclass
class CohortResult:
    count: int
    person_keys: list[str]
    sql: str
    index_date: dt.date
    definition: dict[str, Any]
    excluded_withdrawn: int
    elapsed_ms: float


def withdrawn_keys() -> set[str]:
    """The lake keys of the patients who withdrew research consent (``research.consent``)."""
    from smartcare.research.consent import withdrawn_patient_ids
    from smartcare.research.lake import person_keys

    return person_keys(withdrawn_patient_ids())


def _definition_of(cohort: Any) -> dict[str, Any]:
    if hasattr(cohort, "definition") and hasattr(cohort, "cohort_id"):
        return dict(cohort.definition)  # a CohortVersion
    return cohort


def run(
    cohort: Any,
    *,
    index_date: dt.date | None = None,
    with_keys: bool = True,
    con: Any = None,
    withdrawn: set[str] | None = None,
) -> CohortResult:
    """Count (and list) the cohort of a ``CohortVersion`` or a definition over the lake, without
    the patients who withdrew research consent. Not audited here: callers that show or export
    the result audit it (``services.count_cohort``, the project export)."""
    import pyarrow as pa

    from smartcare.research.lake import connect, person_num

    definition = validate(_definition_of(cohort))
    index = index_date_of(definition, index_date)
    sql = compile_sql(definition, index_date=index)
    excluded = withdrawn_keys() if withdrawn is None else withdrawn
    own = con is None
    connection = connect() if own else con
    try:
        numbers = sorted({person_num(key) for key in excluded})
        connection.register("withdrawn", pa.table({"person_num": pa.array(numbers, type=pa.int64())}))
        began = time.perf_counter()
        counts = connection.execute(
            _with_cohort(definition, index)
            + "SELECT count(*) FILTER (WHERE w.person_num IS NULL), count(*) FILTER (WHERE w.person_num IS NOT NULL)\n"
            "FROM (SELECT DISTINCT person_num FROM cohort) AS c LEFT JOIN withdrawn AS w USING (person_num)"
        ).fetchall()[0]
        keys: list[str] = []
        if with_keys:
            keys = [row[0] for row in connection.execute(sql + "\nORDER BY person_key").fetchall()]
        elapsed = (time.perf_counter() - began) * 1000
    except Exception as exc:
        if "duckdb" in type(exc).__module__:
            raise CohortQueryFailed(reason=str(exc).splitlines()[0][:200]) from exc
        raise
    finally:
        with contextlib.suppress(Exception):  # the connection may already be closed
            connection.unregister("withdrawn")
        if own:
            connection.close()
    return CohortResult(
        count=int(counts[0]),
        person_keys=keys,
        sql=sql,
        index_date=index,
        definition=definition,
        excluded_withdrawn=int(counts[1]),
        elapsed_ms=elapsed,
    )


def describe(node: dict[str, Any]) -> str:
    """A one-line English summary of a criteria node (used in audit details and the cohort list)."""
    if "and" in node or "or" in node:
        op = "and" if "and" in node else "or"
        return "(" + f" {op.upper()} ".join(describe(child) for child in node[op]) + ")"
    if "not" in node:
        return "NOT " + describe(node["not"])
    kind = node["type"]
    if kind == "diagnosis":
        return "diagnosis " + "/".join(node["codes"])
    if kind == "age":
        return f"age {node.get('min', '')}-{node.get('max', '')}"
    if kind == "sex":
        return "sex " + "/".join(node["values"])
    if kind == "medication":
        return "medication " + "/".join(node.get("atc", []) + node.get("drugs", []))
    if kind == "lab":
        return f"lab {node['code']} {node['op']} {node['value']:g}"
    return "encounter " + "/".join(node.get("kinds", []) + node.get("departments", []))
