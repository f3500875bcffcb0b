"""Reading through the FHIR API: read, vread and search, with the access and audit rules of the
pages.

* Patient data is reached through ``access_patient`` (one resource, or the ``patient`` of a
  search) and ``Patient.objects.visible_to`` (every other search); each patient whose data a
  response shows gets a ``read`` audit event, as when a page opens their record. "Not allowed"
  answers exactly like "not found".
* Searching patients needs ``patients.search`` (or ``patients.view_own`` for one's own record),
  like the search page, and is audited as a search. Schedules and slots need
  ``scheduling.view_schedule``, audit events ``audit.view``; practitioners, organizations and
  locations are the hospital's directory (any signed-in user).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.utils import timezone

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core.errors import NotAuthenticated, NotFound, PermissionDenied
from smartcare.core.permissions import has_capability, require_capability
from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.errors import InvalidSearch, UnknownResourceType, VersionNotFound
from smartcare.interop.fhir.registry import Access, Mapping, Source, mapping_for
from smartcare.interop.fhir.render import render
from smartcare.interop.fhir.store import stored_to_fhir
from smartcare.interop.models import FhirResource, FhirResourceVersion
from smartcare.patients.access import access_patient, may
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

DEFAULT_COUNT = 50
MAX_COUNT = 500
IMPORT_CAPABILITY = "interop.fhir_import"
_CONTROL = {"_count", "_offset", "_sort", "_include", "_summary", "_format", "_pretty", "_total", "_elements"}


def mapping_or_404(resource_type: str) -> Mapping:
    mapping = mapping_for(resource_type)
    if mapping is None:
        raise UnknownResourceType(resource_type=resource_type)
    return mapping


def _action(mapping: Mapping) -> AccessAction:
    return AccessAction.VIEW if mapping.access is Access.PATIENT_VIEW else AccessAction.CLINICAL


def check_type_access(user: Any, mapping: Mapping, *, searching: bool) -> None:
    """Role-level checks before any row is looked at."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        raise NotAuthenticated()
    if mapping.access is Access.SCHEDULE:
        require_capability(user, "scheduling.view_schedule")
    elif mapping.access is Access.AUDIT:
        require_capability(user, "audit.view")
    elif mapping.access in (Access.PATIENT_VIEW, Access.PATIENT_CLINICAL) and searching:
        if mapping.resource_type == "Patient":
            if not (has_capability(user, "patients.search") or has_capability(user, "patients.view_own")):
                raise PermissionDenied()
        elif not may(user, _action(mapping)):
            raise PermissionDenied()


def row_patient_id(source: Source, row: Any) -> int | None:
    field = source.patient_field
    if field is None:
        return None
    if field == "pk":
        return int(row.pk)
    node = row
    parts = field.split("__")
    for part in parts[:-1]:
        node = getattr(node, part)
    value = getattr(node, f"{parts[-1]}_id", None)
    return int(value) if value is not None else None


def restrict(user: Any, mapping: Mapping, source: Source, rows: QuerySet[Any]) -> QuerySet[Any]:
    """Only the rows ``user`` may see (patient data through ``visible_to``)."""
    if mapping.access not in (Access.PATIENT_VIEW, Access.PATIENT_CLINICAL) or source.patient_field is None:
        return rows
    if not may(user, _action(mapping)):
        return rows.none()
    visible = Patient.objects.visible_to(user).values("pk")
    field = source.patient_field
    condition = Q(pk__in=visible) if field == "pk" else Q(**{f"{field}__in": visible})
    if source.is_store and has_capability(user, IMPORT_CAPABILITY):
        condition |= Q(patient__isnull=True)
    return rows.filter(condition)


def _open_row(
    user: Any, mapping: Mapping, fhir_id: str, *, audited: set[int] | None = None
) -> tuple[Source, Any]:
    located = mapping.source_for_id(fhir_id)
    if located is None:
        raise NotFound()
    source, pk = located
    row = source.queryset().filter(**{source.id_field: pk}).first()
    if row is None:
        raise NotFound()
    if mapping.access in (Access.PATIENT_VIEW, Access.PATIENT_CLINICAL) and source.patient_field is not None:
        patient_id = row_patient_id(source, row)
        if patient_id is None:
            if not has_capability(user, IMPORT_CAPABILITY):
                raise NotFound()
        elif audited is None or patient_id not in audited:
            access_patient(user, patient_id, _action(mapping), obj=(f"fhir.{mapping.resource_type}", fhir_id))
            if audited is not None:
                audited.add(patient_id)
    return source, row


def read(user: Any, resource_type: str, fhir_id: str) -> dict[str, Any]:
    mapping = mapping_or_404(resource_type)
    check_type_access(user, mapping, searching=False)
    source, row = _open_row(user, mapping, fhir_id)
    return render(mapping, source, [row])[0]


def vread(user: Any, resource_type: str, fhir_id: str, version: str) -> dict[str, Any]:
    mapping = mapping_or_404(resource_type)
    check_type_access(user, mapping, searching=False)
    source, row = _open_row(user, mapping, fhir_id)
    if not source.is_store or not version.isdigit():
        raise VersionNotFound()
    if int(version) == row.version:
        return render(mapping, source, [row])[0]
    old = FhirResourceVersion.objects.filter(resource=row, version=int(version)).first()
    if old is None:
        raise VersionNotFound()
    snapshot = FhirResource(
        resource_type=row.resource_type,
        fhir_id=row.fhir_id,
        version=old.version,
        content=old.content,
        last_updated=old.last_updated,
    )
    return stored_to_fhir(snapshot)


def find_by_identifier(resource_type: str, system: str, value: str) -> list[tuple[str, Any, str]]:
    """(model label, pk, FHIR id) of the resources of a type with this identifier (no access
    check: for resolving references in writes)."""
    mapping = mapping_for(resource_type)
    if mapping is None:
        return []
    found = []
    token = p.Token(system=system, code=value)
    for source in mapping.sources:
        apply = source.filters.get("identifier")
        if apply is None:
            continue
        for pk, key in apply(source.queryset(), [token]).values_list("pk", source.id_field)[:2]:
            found.append((source.label, pk, str(key) if source.is_store else source.fhir_id(key)))
    return found


# --- search -------------------------------------------------------------------------------------------


def _split_values(text: str) -> list[str]:
    values, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            values.append(current)
            current = ""
        else:
            current += char
    values.append(current)
    return values


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidSearch(parameter=name, reason="not a whole number") from None
    if number < low:
        raise InvalidSearch(parameter=name, reason=f"at least {low}")
    return min(number, high)


def _sort_key(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        return timezone.make_aware(dt.datetime(value.year, value.month, value.day)).timestamp()  # noqa: DTZ001
    return value


class SearchRequest:
    def __init__(self, mapping: Mapping, query: list[tuple[str, str]]):
        self.mapping = mapping
        self.query = query
        self.count = DEFAULT_COUNT
        self.offset = 0
        self.sort: list[tuple[str, bool]] = []
        self.includes: list[str] = []
        self.summary_count = False
        self.filters: list[tuple[str, list[Any]]] = []
        for name, value in query:
            if name in _CONTROL:
                self._control(name, value)
                continue
            if ":" in name or "." in name:
                raise InvalidSearch(
                    parameter=name, reason="modifiers and chained parameters are not supported"
                )
            spec = mapping.param(name)
            if spec is None:
                raise InvalidSearch(
                    parameter=name, reason=f"not a search parameter of {mapping.resource_type}"
                )
            self.filters.append((name, [p.parse(spec.kind, v, name) for v in _split_values(value)]))

    def _control(self, name: str, value: str) -> None:
        if name == "_count":
            self.count = _int(value, name, 0, MAX_COUNT)
        elif name == "_offset":
            self.offset = _int(value, name, 0, 10**7)
        elif name == "_sort":
            for item in value.split(","):
                desc = item.startswith("-")
                key = item.lstrip("-")
                allowed = {"_id", "_lastUpdated", *[s for src in self.mapping.sources for s in src.sort]}
                if key not in allowed:
                    raise InvalidSearch(parameter="_sort", reason=f"{mapping_sort_help(self.mapping)}")
                self.sort.append((key, desc))
        elif name == "_include":
            if value not in self.mapping.includes:
                raise InvalidSearch(
                    parameter="_include",
                    reason=f"supported: {', '.join(sorted(self.mapping.includes)) or 'none'}",
                )
            self.includes.append(value)
        elif name == "_summary":
            if value == "count":
                self.summary_count = True
            elif value != "false":
                raise InvalidSearch(parameter="_summary", reason="only count and false are supported")
        elif name == "_elements":
            raise InvalidSearch(parameter="_elements", reason="not supported")

    def patients_named(self) -> list[str] | None:
        ids: list[str] | None = None
        for name, values in self.filters:
            if name in ("patient", "subject") or (name == "_id" and self.mapping.resource_type == "Patient"):
                found = [getattr(v, "id", getattr(v, "code", "")) for v in values]
                ids = found if ids is None else [i for i in ids if i in found]
        return ids


def mapping_sort_help(mapping: Mapping) -> str:
    keys = sorted({"_id", "_lastUpdated", *[s for src in mapping.sources for s in src.sort]})
    return "sort by " + ", ".join(keys)


def search(user: Any, resource_type: str, query: list[tuple[str, str]], base_url: str) -> dict[str, Any]:
    mapping = mapping_or_404(resource_type)
    check_type_access(user, mapping, searching=True)
    request = SearchRequest(mapping, query)
    audited: set[int] = set()
    patient_level = mapping.access in (Access.PATIENT_VIEW, Access.PATIENT_CLINICAL)
    named = request.patients_named() if mapping.resource_type != "Patient" else None
    allowed_named: list[int] | None = None
    if patient_level and named is not None:
        allowed_named = []
        for value in named:
            if not value.isdigit() or len(value) > 18:
                continue
            try:
                access_patient(user, int(value), _action(mapping), obj=(f"fhir.{resource_type}", "search"))
            except NotFound:
                continue
            allowed_named.append(int(value))
            audited.add(int(value))
    per_source: list[tuple[Source, QuerySet[Any]]] = []
    for source in mapping.sources:
        rows = restrict(user, mapping, source, source.queryset())
        if allowed_named is not None and source.patient_field is not None:
            field = "pk" if source.patient_field == "pk" else f"{source.patient_field}_id"
            rows = rows.filter(**{f"{field}__in": allowed_named})
        for name, values in request.filters:
            apply = source.filters.get(name)
            rows = apply(rows, values) if apply is not None else rows.none()
        per_source.append((source, rows))
    total = sum(rows.count() for _source, rows in per_source)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total}
    if request.summary_count:
        bundle["link"] = [{"relation": "self", "url": _page_url(base_url, resource_type, query, None, None)}]
        _audit_search(user, mapping, audited, [], request)
        return bundle
    page = _page(per_source, request)
    entries: list[dict[str, Any]] = []
    shown: list[int] = []
    for source, shown_rows in page:
        for resource, row in zip(render(mapping, source, shown_rows), shown_rows, strict=True):
            entries.append(
                {
                    "fullUrl": f"{base_url}/{resource_type}/{resource['id']}",
                    "resource": resource,
                    "search": {"mode": "match"},
                }
            )
            patient_id = row_patient_id(source, row) if patient_level else None
            if patient_id is not None:
                shown.append(patient_id)
    matches = [e["resource"] for e in entries]
    entries.extend(_included(user, mapping, request, matches, base_url, audited))
    bundle["link"] = _links(base_url, resource_type, query, request, total)
    bundle["entry"] = entries
    _audit_search(user, mapping, audited, shown, request)
    return bundle


def _page(
    per_source: list[tuple[Source, QuerySet[Any]]], request: SearchRequest
) -> list[tuple[Source, list[Any]]]:
    """The rows of the requested page, merged across sources in the requested order."""
    wanted = request.offset + request.count
    candidates: list[tuple[list[Any], int, Any]] = []
    for index, (source, rows) in enumerate(per_source):
        if wanted == 0:
            break
        fields = []
        for key, desc in request.sort:
            field = source.sort.get(key)
            if field is None and key == "_id":
                field = source.id_field
            fields.append((field, desc))
        order = [(f"-{f}" if desc else f) for f, desc in fields if f] + ["pk"]
        columns = [f for f, _desc in fields if f]
        for values in rows.order_by(*order).values_list(*columns, "pk")[:wanted]:
            by_column = dict(zip(columns, values[:-1], strict=True))
            keys = [by_column.get(f) if f else None for f, _desc in fields]
            candidates.append((keys, index, values[-1]))
    for position in reversed(range(len(request.sort))):
        desc = request.sort[position][1]
        present = [c for c in candidates if c[0][position] is not None]
        missing = [c for c in candidates if c[0][position] is None]
        present.sort(key=lambda c: _sort_key(c[0][position]), reverse=desc)
        candidates = present + missing
    if not request.sort:
        candidates.sort(key=lambda c: (c[1], c[2]))
    chosen = candidates[request.offset : request.offset + request.count]
    by_source: dict[int, list[Any]] = {}
    for _keys, index, pk in chosen:
        by_source.setdefault(index, []).append(pk)
    loaded: dict[tuple[int, Any], Any] = {}
    for index, pks in by_source.items():
        source = per_source[index][0]
        for row in source.queryset().filter(pk__in=pks):
            loaded[(index, row.pk)] = row
    ordered: list[tuple[Source, list[Any]]] = []
    for _keys, index, pk in chosen:
        row = loaded.get((index, pk))
        if row is None:
            continue
        source = per_source[index][0]
        if ordered and ordered[-1][0] is source:
            ordered[-1][1].append(row)
        else:
            ordered.append((source, [row]))
    return ordered


def _references_at(resource: Any, path: str) -> list[str]:
    nodes = [resource]
    for part in path.split("."):
        following = []
        for node in nodes:
            value = node.get(part) if isinstance(node, dict) else None
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        nodes = following
    return [n["reference"] for n in nodes if isinstance(n, dict) and isinstance(n.get("reference"), str)]


def _included(
    user: Any,
    mapping: Mapping,
    request: SearchRequest,
    matches: list[dict[str, Any]],
    base_url: str,
    audited: set[int],
) -> list[dict[str, Any]]:
    seen = {(r["resourceType"], r["id"]) for r in matches}
    found: list[dict[str, Any]] = []
    for include in request.includes:
        for path in mapping.includes[include]:
            for resource in matches:
                for text in _references_at(resource, path):
                    parts = text.split("/")
                    if len(parts) != 2 or tuple(parts) in seen:
                        continue
                    seen.add((parts[0], parts[1]))
                    included = _read_included(user, parts[0], parts[1], audited)
                    if included is not None:
                        found.append(
                            {
                                "fullUrl": f"{base_url}/{parts[0]}/{parts[1]}",
                                "resource": included,
                                "search": {"mode": "include"},
                            }
                        )
    return found


def _read_included(user: Any, resource_type: str, fhir_id: str, audited: set[int]) -> dict[str, Any] | None:
    mapping = mapping_for(resource_type)
    if mapping is None:
        return None
    try:
        check_type_access(user, mapping, searching=False)
        source, row = _open_row(user, mapping, fhir_id, audited=audited)
    except (NotFound, PermissionDenied, NotAuthenticated):
        return None
    return render(mapping, source, [row])[0]


def _audit_search(
    user: Any, mapping: Mapping, audited: set[int], shown: list[int], request: SearchRequest
) -> None:
    if mapping.resource_type == "Patient":
        record(
            user,
            AuditAction.SEARCH,
            obj=("fhir.Patient", "search"),
            detail={"parameters": sorted({name for name, _v in request.filters}), "results": len(shown)},
        )
        return
    counts: dict[int, int] = {}
    for patient_id in shown:
        counts[patient_id] = counts.get(patient_id, 0) + 1
    for patient_id, count in counts.items():
        if patient_id in audited:
            continue
        record(
            user,
            AuditAction.READ,
            patient=patient_id,
            obj=(f"fhir.{mapping.resource_type}", "search"),
            detail={"action": str(_action(mapping)), "resources": count},
        )


def _page_url(
    base_url: str, resource_type: str, query: list[tuple[str, str]], offset: int | None, count: int | None
) -> str:
    items = [(k, v) for k, v in query if k not in ("_offset",) and not (count is not None and k == "_count")]
    if count is not None:
        items.append(("_count", str(count)))
    if offset:
        items.append(("_offset", str(offset)))
    encoded = urlencode(items)
    return f"{base_url}/{resource_type}" + (f"?{encoded}" if encoded else "")


def _links(
    base_url: str, resource_type: str, query: list[tuple[str, str]], request: SearchRequest, total: int
) -> list[dict[str, Any]]:
    count = request.count
    links = [{"relation": "self", "url": _page_url(base_url, resource_type, query, request.offset, count)}]
    if count == 0:
        return links
    links.append({"relation": "first", "url": _page_url(base_url, resource_type, query, 0, count)})
    if request.offset > 0:
        previous = max(0, request.offset - count)
        links.append(
            {"relation": "previous", "url": _page_url(base_url, resource_type, query, previous, count)}
        )
    if request.offset + count < total:
        links.append(
            {
                "relation": "next",
                "url": _page_url(base_url, resource_type, query, request.offset + count, count),
            }
        )
    last = ((total - 1) // count) * count if total else 0
    links.append({"relation": "last", "url": _page_url(base_url, resource_type, query, last, count)})
    return links
