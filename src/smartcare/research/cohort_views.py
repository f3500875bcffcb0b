"""Cohort builder pages: the list of saved cohorts, the builder with live counts (htmx), saving
versions and re-running them.

The builder has one row per criterion (type, codes, values, window, "exclude") combined with AND
or OR; nested groups are written in the criteria JSON field, which takes precedence when filled.
Every count is released through ``cohort_services.count_cohort`` (differential privacy)."""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from smartcare.core.errors import CodedError
from smartcare.core.permissions import require_capability
from smartcare.research import cohort_services as services
from smartcare.research import cohorts, lake
from smartcare.research.errors import CriteriaInvalid

TYPE_LABELS = (
    ("diagnosis", _("Diagnosis (ICD-10)")),
    ("age", _("Age at index date")),
    ("sex", _("Sex")),
    ("medication", _("Medication (ATC or drug)")),
    ("lab", _("Lab value")),
    ("encounter", _("Encounter")),
)
SEX_LABELS = (("male", _("Male")), ("female", _("Female")), ("other", _("Other")), ("unknown", _("Unknown")))
KIND_LABELS = (
    ("outpatient", _("Outpatient visit")),
    ("inpatient", _("Inpatient stay")),
    ("emergency", _("Emergency visit")),
)
OP_LABELS = ((">=", "≥"), (">", ">"), ("<=", "≤"), ("<", "<"), ("=", "="), ("between", _("between")))
WHICH_LABELS = (("any", _("any result")), ("latest", _("latest result")))
WINDOWED = ("diagnosis", "medication", "lab", "encounter")
FIELDS = (
    "type",
    "negate",
    "codes",
    "values",
    "min",
    "max",
    "code",
    "op",
    "value",
    "value2",
    "which",
    "primary",
    "from",
    "to",
    "days_before",
    "days_after",
)
INITIAL_ROWS = 2
MAX_ROWS = 30


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;，；]+", text or "") if part]


def _int_or_raw(text: str) -> Any:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text  # the validator names the field


def _row_from(data: QueryDict, i: int) -> dict[str, Any]:
    def get(name: str) -> str:
        return (data.get(f"c{i}-{name}") or "").strip()

    row: dict[str, Any] = {name: get(name) for name in FIELDS}
    row["values"] = data.getlist(f"c{i}-values")
    row["index"] = i
    return row


def _criterion_from(row: dict[str, Any]) -> dict[str, Any]:
    kind = row["type"]
    node: dict[str, Any] = {"type": kind}
    if kind == "diagnosis":
        node["codes"] = _split(row["codes"])
        if row["primary"]:
            node["primary_only"] = True
    elif kind == "age":
        for key in ("min", "max"):
            if row[key]:
                node[key] = _int_or_raw(row[key])
    elif kind == "sex":
        node["values"] = row["values"]
    elif kind == "medication":
        items = _split(row["codes"])
        drugs = [item for item in items if item.lower().startswith("drug:")]
        atc = [item for item in items if item not in drugs]
        if atc:
            node["atc"] = atc
        if drugs:
            node["drugs"] = [d.lower() for d in drugs]
    elif kind == "lab":
        node.update({"code": row["code"], "op": row["op"] or ">=", "value": row["value"] or None})
        if row["op"] == "between":
            node["value2"] = row["value2"] or None
        node["which"] = row["which"] or "any"
    elif kind == "encounter":
        if row["values"]:
            node["kinds"] = row["values"]
        if row["codes"]:
            node["departments"] = _split(row["codes"])
    if kind in WINDOWED:
        window = {key: row[key] for key in ("from", "to") if row[key]}
        window.update({key: _int_or_raw(row[key]) for key in ("days_before", "days_after") if row[key]})
        if window:
            node["window"] = window
    return {"not": node} if row["negate"] else node


def _rows_in(data: QueryDict) -> list[dict[str, Any]]:
    indexes = sorted({int(m.group(1)) for key in data for m in [re.match(r"^c(\d+)-type$", key)] if m})[
        :MAX_ROWS
    ]
    return [_row_from(data, i) for i in indexes]


def definition_from(data: QueryDict) -> dict[str, Any]:
    """The criteria a builder form describes (not yet validated)."""
    text = (data.get("criteria_json") or "").strip()
    if text:
        try:
            definition = json.loads(text)
        except ValueError:
            raise CriteriaInvalid(
                path="criteria_json", reason=cohorts.R_NOT_OBJECT, field="criteria_json"
            ) from None
        if isinstance(definition, dict) and "criteria" not in definition and "index_date" not in definition:
            definition = {"criteria": definition}  # the criteria node alone
    else:
        rows = [row for row in _rows_in(data) if row["type"]]
        combine = "or" if data.get("combine") == "or" else "and"
        definition = {"criteria": {combine: [_criterion_from(row) for row in rows]}}
    if isinstance(definition, dict) and data.get("index_date"):
        definition["index_date"] = data["index_date"]
    return definition


def _rows_of(definition: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """Builder rows for a flat definition (AND/OR of criteria or negated criteria), else None."""
    criteria = definition.get("criteria", {})
    combine = "and" if "and" in criteria else "or" if "or" in criteria else None
    if combine is None:
        return None
    rows = []
    for i, child in enumerate(criteria[combine]):
        negate = "not" in child
        node = child["not"] if negate else child
        if "type" not in node:
            return None
        window = node.get("window", {})
        row: dict[str, Any] = dict.fromkeys(FIELDS, "")
        row.update(
            index=i,
            type=node["type"],
            negate="1" if negate else "",
            values=node.get("values") or node.get("kinds") or [],
            codes=" ".join(
                node.get("codes")
                or (node.get("atc", []) + node.get("drugs", []))
                or node.get("departments", [])
            ),
            min=node.get("min", ""),
            max=node.get("max", ""),
            code=node.get("code", ""),
            op=node.get("op", ">="),
            value=node.get("value", ""),
            value2=node.get("value2", ""),
            which=node.get("which", "any"),
            primary="1" if node.get("primary_only") else "",
            **{"from": window.get("from", ""), "to": window.get("to", "")},
            days_before=window.get("days_before", ""),
            days_after=window.get("days_after", ""),
        )
        rows.append(row)
    return combine, rows


def _blank_row(i: int, kind: str = "diagnosis") -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(FIELDS, "")
    row.update(index=i, type=kind, values=[], op=">=", which="any")
    return row


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    user: Any = request.user
    return {
        "type_labels": TYPE_LABELS,
        "sex_labels": SEX_LABELS,
        "kind_labels": KIND_LABELS,
        "op_labels": OP_LABELS,
        "which_labels": WHICH_LABELS,
        "windowed": WINDOWED,
        "projects": list(services.projects_for(user)),
        "lake_built": lake.is_built(),
        "last_build": lake.last_build(),
        **extra,
    }


@login_required
@require_GET
def cohort_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    rows = [(c, c.latest_version()) for c in services.cohorts_for(user)]
    return render(
        request,
        "research/cohort_list.html",
        _context(request, cohorts=rows, runs=services.recent_runs(user)),
    )


def _builder(request: HttpRequest, cohort: Any = None, version: Any = None) -> HttpResponse:
    definition: dict[str, Any] = version.definition if version is not None else {}
    flat = _rows_of(definition) if definition else ("and", [_blank_row(i) for i in range(INITIAL_ROWS)])
    combine, rows = flat if flat else ("and", [])
    criteria_json = "" if flat else json.dumps(definition, ensure_ascii=False, indent=2)
    return render(
        request,
        "research/cohort_builder.html",
        _context(
            request,
            cohort=cohort,
            version=version,
            versions=list(cohort.versions.order_by("-number")) if cohort else [],
            runs=services.recent_runs(request.user, cohort) if cohort else [],
            combine=combine,
            rows=rows,
            next_index=len(rows),
            criteria_json=criteria_json,
            index_date=definition.get("index_date", ""),
        ),
    )


@login_required
@require_GET
def cohort_new(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, services.CAPABILITY)
    return _builder(request)


@login_required
@require_GET
def cohort_detail(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = services.get_cohort(request.user, cohort_id)
    version = services.get_version(cohort, request.GET.get("version"))
    return _builder(request, cohort, version)


@login_required
@require_GET
def cohort_row(request: HttpRequest) -> HttpResponse:
    """One criterion row (htmx): a new one, or the same row re-drawn for another type."""
    require_capability(request.user, services.CAPABILITY)
    try:
        i = min(MAX_ROWS - 1, max(0, int(request.GET.get("i", "0"))))
    except ValueError:
        i = 0
    kind = request.GET.get(f"c{i}-type") or request.GET.get("type") or "diagnosis"
    if kind not in dict(TYPE_LABELS):
        kind = "diagnosis"
    row = _blank_row(i, kind)
    row["negate"] = request.GET.get(f"c{i}-negate", "")
    return render(request, "research/_cohort_row.html", _context(request, row=row))


def _count_response(request: HttpRequest, **context: Any) -> HttpResponse:
    return render(request, "research/_cohort_count.html", _context(request, **context))


@login_required
@require_POST
def cohort_count(request: HttpRequest) -> HttpResponse:
    """The live count of the builder form (htmx): errors are shown in place, with their code."""
    user: Any = request.user
    require_capability(user, services.CAPABILITY)
    try:
        definition = definition_from(request.POST)
        project = services.project_for(user, request.POST.get("project"))
        version = None
        if request.POST.get("cohort") and request.POST.get("rerun"):
            cohort = services.get_cohort(user, request.POST["cohort"])
            version = services.get_version(cohort, request.POST.get("version"))
        shown = services.count_cohort(user, definition, version=version, project=project)
    except CodedError as error:
        return _count_response(request, error=error)
    return _count_response(
        request,
        shown=shown,
        project=project,
        definition_json=json.dumps(shown.definition, ensure_ascii=False, indent=2),
    )


@login_required
@require_POST
def cohort_save(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_capability(user, services.CAPABILITY)
    cohort = None
    try:
        if request.POST.get("cohort"):
            cohort = services.get_cohort(user, request.POST["cohort"])
        definition = definition_from(request.POST)
        version = services.save_cohort(
            user,
            definition=definition,
            name=request.POST.get("name"),
            description=request.POST.get("description", ""),
            cohort=cohort,
            comment=request.POST.get("comment", ""),
        )
    except CodedError as error:
        if request.htmx:  # type: ignore[attr-defined]
            return _count_response(request, error=error)
        raise
    target = f"/research/cohorts/{version.cohort_id}/?version={version.number}"
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)
