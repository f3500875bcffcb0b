"""Transaction and batch Bundles posted to ``/fhir/R4``, and single creates and updates.

A transaction is all or nothing: every entry is checked and written inside one database
transaction, and any entry that fails rolls everything back (``INTEROP-111`` names the entry and
its reason). A batch writes each entry on its own and answers each one. References between
entries by ``urn:uuid`` (or fullUrl, or ``Type/id`` of an entry) are resolved to the ids smartcare
gives. Entries are processed in the order FHIR prescribes for transactions: creates and updates
(patients first, reports last), then reads.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock, context
from smartcare.core.errors import CodedError, NotAuthenticated, NotFound, PermissionDenied
from smartcare.core.permissions import has_capability
from smartcare.interop.fhir import search as reading
from smartcare.interop.fhir.datatypes import fhir_instant
from smartcare.interop.fhir.engine import (
    CREATED,
    IMPORT_CAPABILITY,
    STORED,
    UNCHANGED,
    UPDATED,
    Entry,
    Writer,
    counts_of,
    rejection,
)
from smartcare.interop.fhir.errors import (
    InteractionNotSupported,
    InvalidBundle,
    ResourceMismatch,
    TransactionFailed,
    operation_outcome,
)
from smartcare.interop.fhir.registry import mapping_for
from smartcare.interop.fhir.render import render
from smartcare.interop.models import ImportRun

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
}
_REASONS.update(
    {405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed", 422: "Unprocessable Entity"}
)
ACCESS_ERRORS = (NotAuthenticated, PermissionDenied, NotFound)


def is_importer(user: Any) -> bool:
    return has_capability(user, IMPORT_CAPABILITY)


def writer_for(user: Any) -> Writer:
    importing = is_importer(user)
    return Writer(user, importing=importing, source=None, audit_each=not importing)


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, '')}".strip()


def _location(entry: Entry) -> str:
    if entry.target is None or not entry.target.fhir_id:
        return ""
    location = entry.target.reference
    if entry.version:
        location += f"/_history/{entry.version}"
    return location


def representation(user: Any, entry: Entry) -> dict[str, Any] | None:
    """The resource as written (for ``Prefer: return=representation``); not for importers, who may
    write records they are not allowed to read."""
    if entry.target is None or entry.existing is None or entry.existing_source is None or is_importer(user):
        return None
    mapping = mapping_for(entry.resource_type)
    if mapping is None:
        return None
    row = entry.existing_source.queryset().filter(pk=entry.existing.pk).first()
    return render(mapping, entry.existing_source, [row])[0] if row is not None else None


def write_one(user: Any, resource: Any, *, method: str, url: str = "", if_none_exist: str = "") -> Entry:
    """A single create (POST /Type) or update (PUT /Type/id): a transaction of one entry."""
    entry = Entry(resource=resource, method=method, url=url, if_none_exist=if_none_exist, where="body")
    writer = writer_for(user)
    with transaction.atomic():
        writer.write([entry])
        if not entry.ok:
            raise _entry_error(entry, 0, single=True)
        _audit_import(writer, [entry], user)
    return entry


def _entry_error(entry: Entry, index: int, *, single: bool = False) -> CodedError:
    error = entry.error
    assert error is not None
    if single or isinstance(error, ACCESS_ERRORS):
        return error
    failed = TransactionFailed(
        index=index,
        reason=f"{error.code} {error.detail}",
        issues=[(f"Bundle.entry[{index}]", f"{error.code}: {error.detail}")],
    )
    failed.status = error.status if 400 <= error.status < 500 else 400  # type: ignore[misc]
    return failed


def _audit_import(writer: Writer, entries: list[Entry], user: Any) -> ImportRun | None:
    """Importers' writes: one ImportRun and one audit event with the counts, not one per row."""
    if not writer.importing:
        return None
    counts = counts_of(entries)
    run = ImportRun.objects.create(
        actor=user if getattr(user, "pk", None) else None,
        channel=context.current().channel,
        counts=counts,
        rejected=[rejection(e) for e in entries if not e.ok][:1000],
        finished_at=clock.now(),
    )
    record(
        user,
        AuditAction.CREATE,
        obj=("interop.ImportRun", run.pk),
        detail={"counts": counts, "patients": len(writer.patients_touched)},
    )
    return run


def _parse_entries(
    bundle: dict[str, Any],
) -> tuple[list[tuple[int, Entry]], list[tuple[int, dict[str, Any]]]]:
    """(index, write entry) and (index, read request) of a transaction or batch Bundle."""
    raw = bundle.get("entry") or []
    if not isinstance(raw, list):
        raise InvalidBundle(reason="entry must be an array")
    writes: list[tuple[int, Entry]] = []
    reads: list[tuple[int, dict[str, Any]]] = []
    seen_urls: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidBundle(reason=f"entry[{index}] is not an object")
        request = item.get("request")
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            raise InvalidBundle(reason=f"entry[{index}] has no request (method and url)")
        method = str(request["method"]).upper()
        url = str(request["url"]).lstrip("/")
        if method == "GET":
            reads.append((index, {"url": url}))
            continue
        if method not in ("POST", "PUT"):
            raise InvalidBundle(reason=f"entry[{index}]: {method} is not supported (POST, PUT and GET are)")
        resource = item.get("resource")
        full_url = str(item.get("fullUrl") or "")
        if full_url:
            if full_url in seen_urls:
                raise InvalidBundle(reason=f"entry[{index}]: fullUrl {full_url} appears twice")
            seen_urls.add(full_url)
        entry = Entry(
            resource=resource,
            index=index,
            full_url=full_url,
            method=method,
            url=url,
            if_none_exist=str(request.get("ifNoneExist") or ""),
            where=f"entry[{index}]",
        )
        expected = url.split("?", 1)[0].split("/", 1)[0]
        if isinstance(resource, dict) and expected != resource.get("resourceType"):
            entry.problems = [
                (
                    f"Bundle.entry[{index}].request.url",
                    f"names {expected}, the resource is {entry.resource_type}",
                )
            ]
        writes.append((index, entry))
    return writes, reads


def process_bundle(user: Any, bundle: Any, *, base_url: str, prefer: str = "") -> dict[str, Any]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidBundle(reason="the body is not a Bundle")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise InvalidBundle(reason="POST to the base accepts Bundles of type transaction or batch")
    writes, reads = _parse_entries(bundle)
    entries = [entry for _index, entry in writes]
    writer = writer_for(user)
    responses: dict[int, dict[str, Any]] = {}
    if kind == "transaction":
        with transaction.atomic():
            writer.write(entries)
            for index, entry in writes:
                if not entry.ok:
                    raise _entry_error(entry, index)
            for index, read in reads:
                responses[index] = _read_entry(user, read["url"], base_url, strict=True, index=index)
            _audit_import(writer, entries, user)
    else:
        with transaction.atomic():
            writer.write(entries)
            _audit_import(writer, entries, user)
        for index, read in reads:
            responses[index] = _read_entry(user, read["url"], base_url, strict=False, index=index)
    want_resource = "return=representation" in prefer
    for index, entry in writes:
        responses[index] = _write_response(user, entry, want_resource)
    return {
        "resourceType": "Bundle",
        "type": f"{kind}-response",
        "timestamp": fhir_instant(clock.now()),
        "entry": [responses[i] for i in sorted(responses)],
    }


def _write_response(user: Any, entry: Entry, want_resource: bool) -> dict[str, Any]:
    if not entry.ok:
        assert entry.error is not None
        return {
            "response": {
                "status": _status_line(entry.error.status),
                "outcome": operation_outcome(entry.error),
            }
        }
    status = 201 if entry.outcome in (CREATED,) or (entry.outcome == STORED and entry.status == 201) else 200
    response: dict[str, Any] = {"status": _status_line(status)}
    location = _location(entry)
    if location:
        response["location"] = location
    if entry.version:
        response["etag"] = f'W/"{entry.version}"'
    response["lastModified"] = fhir_instant(clock.now())
    result: dict[str, Any] = {"response": response}
    if entry.outcome in (UPDATED, UNCHANGED, CREATED, STORED) and want_resource:
        resource = representation(user, entry)
        if resource is not None:
            result["resource"] = resource
    return result


def _read_entry(user: Any, url: str, base_url: str, *, strict: bool, index: int) -> dict[str, Any]:
    path, _sep, query = url.partition("?")
    parts = [p for p in path.split("/") if p]
    try:
        if len(parts) == 1:
            from urllib.parse import parse_qsl

            resource = reading.search(user, parts[0], parse_qsl(query, keep_blank_values=True), base_url)
        elif len(parts) == 2:
            resource = reading.read(user, parts[0], parts[1])
        elif len(parts) == 4 and parts[2] == "_history":
            resource = reading.vread(user, parts[0], parts[1], parts[3])
        else:
            raise InteractionNotSupported(interaction=f"GET {url}", resource_type=parts[0] if parts else "?")
    except CodedError as exc:
        if strict:
            if isinstance(exc, ACCESS_ERRORS):
                raise
            raise TransactionFailed(index=index, reason=f"{exc.code} {exc.detail}") from exc
        return {"response": {"status": _status_line(exc.status), "outcome": operation_outcome(exc)}}
    return {"resource": resource, "response": {"status": "200 OK"}}


def check_body_matches(resource: Any, resource_type: str, resource_id: str | None = None) -> None:
    if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
        found = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
        raise ResourceMismatch(reason=f"the URL names {resource_type}, the body is {found}")
    if resource_id is not None and resource.get("id") not in (None, resource_id):
        raise ResourceMismatch(reason=f"the URL names id {resource_id}, the body has id {resource.get('id')}")
