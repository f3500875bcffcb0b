"""Writing FHIR resources: one engine for single creates and updates, Bundles and bulk imports.

For a batch of entries it

1. rejects invalid resources (``fhir.resources`` problems found earlier) and unknown types,
2. finds what each entry already is in smartcare: the URL of an update, a conditional
   ``ifNoneExist``, or the keys of an earlier import (fullUrl, source id, identifiers; a resource
   received again unchanged is left alone),
3. resolves references (other entries by ``urn:uuid``/fullUrl/``Type/id``, earlier imports,
   smartcare's own ids, ``Type?identifier=system|value``) and rejects entries that refer to a
   rejected entry or to a patient smartcare does not have,
4. writes rank by rank (patients before encounters before observations before reports) with one
   bulk insert per table, keeping in the lossless FHIR store what smartcare's tables cannot hold,
5. records where each resource came from (``SourceRecord``/``SourceKey``) for the next import.

Importers (``interop.fhir_import``, the command line) write without per-patient checks, with one
audit event per run. Clinical users write like on the pages: each entry needs the type's
capability and update access to its patient (``access_patient``), and each write is audited;
registration and booking go through their services.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import ManyToManyField

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import CodedError, NotFound, PermissionDenied
from smartcare.core.permissions import has_capability, require_capability
from smartcare.interop.fhir.errors import (
    DuplicateRecord,
    ImportersOnly,
    InteractionNotSupported,
    InvalidResource,
    NotRepresentable,
    ReferencedResourceRejected,
    UnknownResourceType,
    UnresolvedReference,
    first_problem,
)
from smartcare.interop.fhir.fastinsert import RawJson, Row, insert_rows
from smartcare.interop.fhir.keys import (
    id_key,
    identifier_keys,
    identity_hash,
    identity_key,
    key_hash,
    url_key,
)
from smartcare.interop.fhir.references import Target, parse_conditional, resolve_existing, split_reference
from smartcare.interop.fhir.registry import Access, Mapping, Plan, Source, WriteContext, mapping_for
from smartcare.interop.fhir.sourcemap import records_by_identifier, records_by_identity
from smartcare.interop.fhir.store import new_id, patient_references, store_plan
from smartcare.interop.fhir.validation import problems
from smartcare.interop.models import FhirResource, FhirResourceVersion, SourceKey, SourceRecord
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction

IMPORT_CAPABILITY = "interop.fhir_import"

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
STORED = "stored"  # kept as FHIR in the lossless store (new or a new version)
LINKED = "linked"  # names a smartcare row that imports do not change (a practitioner, a department)
REJECTED = "rejected"
SKIPPED = "skipped"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, STORED, LINKED, REJECTED, SKIPPED)


@dataclass
class Entry:
    """One resource to write, and what became of it."""

    resource: Any
    index: int = 0
    full_url: str = ""
    method: str = "POST"  # POST: create; PUT: update (``url`` names what)
    url: str = ""
    if_none_exist: str = ""
    where: str = ""  # for reports: "file.json entry 3"
    problems: list[tuple[str, str]] | None = None  # None: not validated yet
    verdict: Callable[[], list[tuple[str, str]]] | None = None  # a worker's validation, when asked
    # results
    outcome: str = ""
    target: Target | None = None
    error: CodedError | None = None
    status: int = 0
    version: int | None = None
    # working state
    mapping: Mapping | None = None
    identity: str = ""  # url:... or id:source|Type/id
    identifiers: list[str] = field(default_factory=list)  # identifier:system|value
    content_hash: str = ""
    text: str = ""  # canonical JSON as received (hashed; references rewritten when kept)
    record: SourceRecord | None = None
    existing: Any = None
    existing_source: Source | None = None
    plan: Plan | None = None
    stored_reason: str = ""
    patient_id: int | None = None
    pending_references: bool = False
    by_service: bool = False

    resource_type: str = field(init=False, default="")

    def __post_init__(self) -> None:
        found = self.resource.get("resourceType") if isinstance(self.resource, dict) else None
        self.resource_type = found if isinstance(found, str) else ""

    @property
    def ok(self) -> bool:
        return self.outcome not in (REJECTED, SKIPPED, "")

    def reject(self, error: CodedError, *, skipped: bool = False) -> None:
        self.outcome = SKIPPED if skipped else REJECTED
        self.error = error
        self.status = error.status


def canonical_text(resource: dict[str, Any]) -> str:
    return json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_hash(resource: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_text(resource).encode("utf-8")).hexdigest()


# A Reference's "reference" in canonical (compact) JSON text.
_REFERENCE = re.compile(r'"reference":"((?:[^"\\]|\\.)*)"')


def _json_string(raw: str) -> str:
    return raw if "\\" not in raw else str(json.loads(f'"{raw}"'))


def rewrite_text(text: str, resolver: Resolver) -> tuple[str, bool]:
    """``rewrite_references`` on a resource's canonical JSON text (no tree walk)."""
    pending = False
    memo = resolver.rewritten

    def replace(match: re.Match[str]) -> str:
        nonlocal pending
        raw = match.group(1)
        known = memo.get(raw)
        if known is None:
            reference = _json_string(raw)
            if not reference or reference[0] == "#":
                return match.group(0)
            target = resolver({"reference": reference})
            if target is not None and target.fhir_id:
                known = memo[raw] = target.reference
            else:
                if target is not None and not target.rejected and resolver.entry_for(reference) is not None:
                    pending = True
                return match.group(0)
        return f'"reference":{json.dumps(known, ensure_ascii=False)}'

    return _REFERENCE.sub(replace, text), pending


def references_in(text: str) -> list[str]:
    return [_json_string(raw) for raw in _REFERENCE.findall(text)]


class Resolver:
    """Resolves references for one batch (see the module docstring)."""

    def __init__(self, entries: list[Entry], *, source: str | None, cache: dict[str, Any]):
        self.source = source
        self.entries = entries
        self.any_rejected = False
        self.by_url: dict[str, Entry] = {}
        self.by_type_id: dict[tuple[str, str], Entry] = {}
        for entry in entries:
            if entry.full_url:
                self.by_url.setdefault(entry.full_url, entry)
            if isinstance(entry.resource, dict) and isinstance(entry.resource.get("id"), str):
                self.by_type_id.setdefault((entry.resource_type, entry.resource["id"]), entry)
        self.existing: dict[str, Target | None] = cache.setdefault("references", {})
        self.keyed: dict[str, Target | None] = cache.setdefault("keyed_references", {})
        self.rewritten: dict[str, str] = {}  # reference as received -> smartcare reference

    def entry_for(self, text: str) -> Entry | None:
        entry = self.by_url.get(text)
        if entry is None:
            literal = split_reference(text)
            if literal is not None:
                entry = self.by_type_id.get(literal)
        return entry

    def __call__(self, reference: Any, element: str = "") -> Target | None:
        text = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(text, str) or not text or text.startswith("#"):
            return None
        entry = self.entry_for(text)
        if entry is not None:
            if not entry.ok and entry.outcome:
                return Target(entry.resource_type, rejected=True)
            return entry.target or Target(entry.resource_type)
        keyed = self._from_keys(text)
        if keyed is not None:
            return keyed
        return resolve_existing(text, self.existing)

    def _from_keys(self, text: str) -> Target | None:
        """A resource of an earlier import, by its fullUrl or (bulk files) its source id."""
        literal = split_reference(text)
        if text.startswith(("urn:uuid:", "urn:oid:", "http://", "https://")):
            resource_type = literal[0] if literal else None
            key = url_key(text)
        elif literal is not None and self.source is not None and "?" not in text:
            resource_type, key = literal[0], id_key(self.source, literal[0], literal[1])
        else:
            return None
        if key in self.keyed:
            return self.keyed[key]
        query = SourceRecord.objects.filter(key=identity_hash(key))
        if resource_type:
            query = query.filter(resource_type=resource_type)
        row = query.only("resource_type", "fhir_id", "target_model", "target_pk").first()
        found = None
        if row is not None:
            found = Target(row.resource_type, row.fhir_id, row.target_model, row.target_pk)
        self.keyed[key] = found
        return found

    def patient_reference_unresolved(self, resource: dict[str, Any]) -> tuple[str, str] | None:
        """A reference naming the resource's patient that points nowhere: (reference, element)."""
        for reference, element in patient_references(resource):
            text = str(reference.get("reference"))
            literal = split_reference(text)
            conditional = parse_conditional(text)
            entry = self.entry_for(text)
            is_patient = (
                (entry is not None and entry.resource_type == "Patient")
                or (literal is not None and literal[0] == "Patient")
                or (conditional is not None and conditional[0] == "Patient")
            )
            if not is_patient:
                continue
            target = self(reference, element)
            if target is None or (not target.rejected and target.pk is None and entry is None):
                return text, element
        return None


def rewrite_references(value: Any, resolver: Resolver) -> bool:
    """Rewrite, in place, every reference of ``value`` to a resource smartcare knows to its
    smartcare id; True when some reference names an entry not written yet."""
    pending = False
    memo = resolver.rewritten
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            text = node.get("reference")
            if isinstance(text, str) and text and text[0] != "#":
                known = memo.get(text)
                if known is None:
                    target = resolver({"reference": text})
                    if target is not None and target.fhir_id:
                        known = memo[text] = target.reference
                    elif target is not None and not target.rejected and resolver.entry_for(text) is not None:
                        pending = True
                if known is not None:
                    node["reference"] = known
            stack.extend(item for item in node.values() if isinstance(item, (dict, list)))
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, (dict, list)))
    return pending


class Writer:
    """Writes a batch of entries (call inside a transaction)."""

    def __init__(
        self,
        actor: Any,
        *,
        importing: bool,
        source: str | None = None,
        system_user: Any = None,
        audit_each: bool | None = None,
        check: Any = None,
    ):
        self.actor = actor
        self.importing = importing
        self.source = source
        self.row_user = actor if getattr(actor, "pk", None) else system_user
        self.audit_each = (not importing) if audit_each is None else audit_each
        # fhir.resources' model classes, or the same rules compiled (bulk imports)
        self.check = check or problems
        self.cache: dict[str, Any] = {}
        self.created_patients: set[int] = set()
        self.patients_touched: set[int] = set()

    # --- public ---------------------------------------------------------------------------------

    def write(self, entries: list[Entry]) -> None:
        resolver = Resolver(entries, source=self.source if self.importing else None, cache=self.cache)
        ctx = WriteContext(actor=self.row_user, resolve=resolver, importing=self.importing, cache=self.cache)
        live = [e for e in entries if self._admit(e)]
        self._find_existing(live, ctx)
        self._validate(live)
        ranks: dict[int, list[Entry]] = defaultdict(list)
        for entry in live:
            if entry.outcome == "":
                assert entry.mapping is not None
                ranks[entry.mapping.rank].append(entry)
        for rank in sorted(ranks):
            self._write_rank(ranks[rank], ctx, resolver)
        self._finish(entries, resolver)
        # References that found nothing may find what this batch wrote, in the next one.
        for name in ("references", "keyed_references"):
            table = self.cache.get(name, {})
            for key in [k for k, v in table.items() if v is None]:
                del table[key]

    # --- steps ----------------------------------------------------------------------------------

    def _admit(self, entry: Entry) -> bool:
        resource = entry.resource
        if (
            not isinstance(resource, dict)
            or not isinstance(resource.get("resourceType"), str)
            or entry.problems
        ):
            self._reject_invalid(entry, entry.problems or self.check(resource))
            return False
        mapping = mapping_for(entry.resource_type)
        if mapping is None:
            entry.reject(UnknownResourceType(resource_type=entry.resource_type), skipped=True)
            return False
        entry.mapping = mapping
        if not self.importing:
            # The role's capability first, before anything is looked up (a refusal tells nothing).
            needs = (
                mapping.write_capability if mapping.writable and mapping.resource_type != "Patient" else ""
            )
            if needs and not has_capability(self.actor, needs):
                entry.reject(PermissionDenied())
                return False
            if mapping.sources[0].is_store and not has_capability(self.actor, IMPORT_CAPABILITY):
                entry.reject(ImportersOnly(resource_type=entry.resource_type))
                return False
            if not mapping.writable and not mapping.sources[0].is_store:
                entry.reject(
                    InteractionNotSupported(
                        interaction="create" if entry.method == "POST" else "update",
                        resource_type=entry.resource_type,
                    )
                )
                return False
        entry.text = canonical_text(resource)
        entry.content_hash = hashlib.sha256(entry.text.encode("utf-8")).hexdigest()
        # Source ids name resources only in bulk files; in an API request the id is smartcare's.
        entry.identity = identity_key(
            resource, full_url=entry.full_url, source=self.source if self.importing else None
        )
        entry.identifiers = identifier_keys(resource)
        return True

    @staticmethod
    def _reject_invalid(entry: Entry, found: list[tuple[str, str]]) -> None:
        entry.reject(
            InvalidResource(
                resource_type=entry.resource_type or "?", reason=first_problem(found), issues=found
            )
        )

    def _validate(self, entries: list[Entry]) -> None:
        """``fhir.resources`` validation of what is still to be written (a resource received again
        unchanged was valid the first time); new stored resources get their id."""
        for entry in entries:
            if entry.outcome:
                continue
            if entry.problems is None:
                entry.problems = entry.verdict() if entry.verdict is not None else self.check(entry.resource)
            if entry.problems:
                self._reject_invalid(entry, entry.problems)
            elif (
                entry.target is None
                and entry.existing is None
                and entry.mapping is not None
                and entry.mapping.sources[0].is_store
            ):
                entry.target = Target(entry.resource_type, new_id(), "interop.FhirResource", None)

    def _find_existing(self, entries: list[Entry], ctx: WriteContext) -> None:
        found = records_by_identity(
            (entry.resource_type, identity_hash(entry.identity)) for entry in entries if entry.identity
        )
        by_record: list[Entry] = []
        for entry in entries:
            assert entry.mapping is not None
            try:
                if entry.method == "PUT":
                    self._existing_for_update(entry)
                elif entry.if_none_exist:
                    self._existing_for_condition(entry)
                if entry.outcome or entry.existing is not None:
                    continue
                record = (
                    found.get((entry.resource_type, identity_hash(entry.identity)))
                    if entry.identity
                    else None
                )
                if record is None and entry.mapping.match_by_identifier and entry.identifiers:
                    matches = records_by_identifier(entry.resource_type, entry.identifiers)
                    if len(matches) > 1:
                        raise DuplicateRecord(
                            resource_type=entry.resource_type,
                            reason="its identifiers name several earlier imports",
                        )
                    record = matches[0] if matches else None
                if record is not None:
                    entry.record = record
                    by_record.append(entry)
            except CodedError as exc:
                entry.reject(exc)
        self._load_records(by_record)
        for entry in entries:
            if entry.outcome:
                continue
            assert entry.mapping is not None
            try:
                if entry.existing is None and entry.record is None:
                    row = entry.mapping.find_existing(entry.resource, ctx)
                    if row is not None:
                        entry.existing = row
                        entry.existing_source = entry.mapping.source_by_model(type(row))
                        entry.record = SourceRecord.objects.filter(
                            target_model=entry.existing_source.label, target_pk=row.pk
                        ).first()
                if entry.record is not None and entry.record.content_hash == entry.content_hash:
                    entry.outcome = UNCHANGED
                    entry.status = 200
                    entry.target = Target(
                        entry.resource_type,
                        entry.record.fhir_id,
                        entry.record.target_model,
                        entry.record.target_pk,
                    )
                elif (
                    entry.existing is not None
                    and not entry.mapping.import_updates
                    and not (entry.existing_source and entry.existing_source.is_store)
                ):
                    entry.outcome = LINKED
                    entry.status = 200
                    entry.target = self._target_of(entry)
            except CodedError as exc:
                entry.reject(exc)

    def _load_records(self, entries: list[Entry]) -> None:
        """The rows behind earlier imports: only checked to exist when the resource is unchanged,
        loaded when it will be updated (one query per table)."""
        groups: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            assert entry.record is not None
            groups[entry.record.target_model].append(entry)
        stale: list[int] = []
        for label, group in groups.items():
            model = apps.get_model(label)
            unchanged = [
                e.record.target_pk for e in group if e.record and e.record.content_hash == e.content_hash
            ]
            changed = [
                e.record.target_pk for e in group if e.record and e.record.content_hash != e.content_hash
            ]
            present = set(model._default_manager.filter(pk__in=unchanged).values_list("pk", flat=True))
            rows = model._default_manager.in_bulk(changed)
            for entry in group:
                assert entry.record is not None and entry.mapping is not None
                pk = entry.record.target_pk
                located = entry.mapping.source_for_id(entry.record.fhir_id)
                if located is None or (pk not in present and pk not in rows):
                    stale.append(entry.record.pk)  # the row it pointed to is gone: write it again
                    entry.record = None
                    continue
                entry.existing_source = located[0]
                entry.existing = rows.get(pk)
        if stale:
            SourceRecord.objects.filter(pk__in=stale).delete()

    def _existing_for_update(self, entry: Entry) -> None:
        assert entry.mapping is not None
        conditional = parse_conditional(entry.url)
        if conditional is not None:
            target = resolve_existing(entry.url, {})
            if target is None:
                entry.method = "POST"
                if entry.mapping.sources[0].is_store:
                    entry.target = Target(entry.resource_type, new_id(), "interop.FhirResource", None)
                return
        else:
            literal = split_reference(entry.url)
            if literal is None or literal[0] != entry.resource_type:
                raise InvalidResource(resource_type=entry.resource_type, reason=f"cannot update {entry.url}")
            target = resolve_existing(f"{literal[0]}/{literal[1]}", {})
            if target is None:
                raise NotFound()
        located = entry.mapping.source_for_id(str(target.fhir_id))
        assert located is not None
        source, pk = located
        entry.existing = source.model._default_manager.get(**{source.id_field: pk})
        entry.existing_source = source
        entry.record = SourceRecord.objects.filter(
            target_model=source.label, target_pk=entry.existing.pk
        ).first()

    def _existing_for_condition(self, entry: Entry) -> None:
        target = resolve_existing(f"{entry.resource_type}?{entry.if_none_exist.lstrip('?')}", {})
        if target is not None:
            entry.outcome = UNCHANGED
            entry.status = 200
            entry.target = target

    def _target_of(self, entry: Entry) -> Target:
        assert entry.existing_source is not None
        source = entry.existing_source
        pk = entry.existing.pk
        fhir_id = (
            entry.existing.fhir_id
            if source.is_store
            else source.fhir_id(getattr(entry.existing, source.id_field))
        )
        return Target(entry.resource_type, fhir_id, source.label, pk)

    # --- writing one rank -----------------------------------------------------------------------

    def _write_rank(self, entries: list[Entry], ctx: WriteContext, resolver: Resolver) -> None:
        resolver.any_rejected = any(e.outcome in (REJECTED, SKIPPED) for e in resolver.entries)
        plans: list[Entry] = []
        for entry in entries:
            try:
                self._prepare(entry, ctx, resolver)
            except CodedError as exc:
                entry.reject(exc)
                continue
            if entry.outcome == "" and entry.plan is not None:
                plans.append(entry)
        self._check_conflicts(plans)
        ready = [e for e in plans if e.outcome == ""]
        if not ready:
            return
        try:
            with transaction.atomic():
                self._apply(ready, resolver)
        except IntegrityError:
            # Something the checks above did not foresee: find the entries at fault one by one.
            for entry in ready:
                entry.target = (
                    None if not (entry.mapping and entry.mapping.sources[0].is_store) else entry.target
                )
                try:
                    with transaction.atomic():
                        self._apply([entry], resolver)
                except IntegrityError as exc:
                    entry.reject(
                        DuplicateRecord(
                            resource_type=entry.resource_type, reason=str(exc).splitlines()[0][:200]
                        )
                    )

    def _prepare(self, entry: Entry, ctx: WriteContext, resolver: Resolver) -> None:
        mapping = entry.mapping
        assert mapping is not None
        resource = entry.resource
        rejected = self._rejected_reference(entry, resolver)
        if rejected:
            raise ReferencedResourceRejected(reference=rejected)
        unresolved = resolver.patient_reference_unresolved(resource)
        if unresolved and not self.importing:
            # To a clinical user a patient that does not exist looks like one they may not see
            # (and is audited the same way).
            literal = split_reference(unresolved[0])
            if literal is not None and literal[1].isdigit():
                access_patient(self.actor, int(literal[1]), AccessAction.UPDATE, audit=False)
            raise NotFound()
        if unresolved:
            raise UnresolvedReference(
                reference=unresolved[0], element=unresolved[1], reason="smartcare has no such patient"
            )
        patient_id = mapping.patient_of(resource, ctx)
        entry.patient_id = patient_id
        if not self.importing:
            self._authorize(entry, patient_id)
            service = self._with_service(entry, ctx)
            if service:
                return
        existing_store = entry.existing_source is not None and entry.existing_source.is_store
        if existing_store or (mapping.sources[0].is_store):
            entry.plan = self._store(entry, resolver, patient_id, reason=mapping.description)
            return
        try:
            entry.plan = mapping.plan(resource, ctx, existing=entry.existing)
        except NotRepresentable as exc:
            if entry.existing is not None or not mapping.store_fallback or mapping.store_source() is None:
                raise
            entry.stored_reason = str(exc.params.get("reason", ""))
            entry.target = Target(entry.resource_type, new_id(), "interop.FhirResource", None)
            entry.plan = self._store(entry, resolver, patient_id, reason=entry.stored_reason)

    def _store(self, entry: Entry, resolver: Resolver, patient_id: int | None, *, reason: str) -> Plan:
        assert entry.mapping is not None
        existing = entry.existing if isinstance(entry.existing, FhirResource) else None
        if existing is None:
            # A new row: the rewritten text is encrypted as it is (no second serialisation).
            text, entry.pending_references = rewrite_text(entry.text, resolver)
            content: Any = RawJson(text)
        else:
            content = entry.resource
            entry.pending_references = rewrite_references(content, resolver)
        fhir_id = (
            existing.fhir_id
            if existing is not None
            else str(entry.target.fhir_id if entry.target else new_id())
        )
        if entry.target is None:
            entry.target = Target(entry.resource_type, fhir_id, "interop.FhirResource", None)
        return store_plan(
            entry.mapping,
            entry.resource,
            content=content,
            fhir_id=fhir_id,
            patient_id=patient_id,
            reason=reason,
            existing=existing,
        )

    def _rejected_reference(self, entry: Entry, resolver: Resolver) -> str:
        """A reference of the entry to an entry of this batch that was rejected."""
        if not resolver.any_rejected:
            return ""
        for reference in references_in(entry.text):
            named = resolver.entry_for(reference)
            if named is not None and named.outcome in (REJECTED, SKIPPED):
                return reference
        return ""

    def _authorize(self, entry: Entry, patient_id: int | None) -> None:
        """A clinical user's write: the type's capability and update access to the patient."""
        mapping = entry.mapping
        assert mapping is not None
        if mapping.sources[0].is_store:
            return  # importers only, checked on admission
        if mapping.resource_type == "Patient":
            if entry.existing is None:
                require_capability(self.actor, mapping.write_capability)
            else:
                access_patient(self.actor, entry.existing.pk, AccessAction.UPDATE, audit=False)
            return
        if mapping.write_capability:
            require_capability(self.actor, mapping.write_capability)
        if mapping.access in (Access.PATIENT_CLINICAL, Access.PATIENT_VIEW):
            if patient_id is None:
                raise InvalidResource(
                    resource_type=mapping.resource_type, reason="it names no smartcare patient"
                )
            if patient_id not in self.created_patients:
                action = AccessAction.UPDATE
                access_patient(self.actor, patient_id, action, audit=False)

    def _with_service(self, entry: Entry, ctx: WriteContext) -> bool:
        """Registration, booking and their updates go through the services that own them."""
        mapping = entry.mapping
        assert mapping is not None
        if entry.existing is None:
            row = mapping.create_with_service(self.actor, entry.resource, ctx)
            outcome = CREATED
        else:
            row = mapping.update_with_service(self.actor, entry.existing, entry.resource, ctx)
            outcome = UPDATED
        if row is None:
            return False
        source = mapping.source_by_model(type(row))
        entry.existing = row
        entry.existing_source = source
        entry.target = Target(entry.resource_type, source.fhir_id(row.pk), source.label, row.pk)
        entry.outcome = outcome
        entry.status = 201 if outcome == CREATED else 200
        entry.by_service = True
        if mapping.resource_type == "Patient" and outcome == CREATED:
            # Registration gave a registering clinician's department care of the patient; the
            # rest of the Bundle may write to the new record.
            self.created_patients.add(row.pk)
        return True

    def _check_conflicts(self, entries: list[Entry]) -> None:
        """Rows the database would refuse (a second diagnosis of the same code in one encounter):
        rejected before the bulk insert, inside the batch and against what is stored."""
        by_mapping: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            if entry.plan is not None and entry.plan.unique_key is not None:
                by_mapping[entry.resource_type].append(entry)
        for resource_type, group in by_mapping.items():
            mapping = mapping_for(resource_type)
            assert mapping is not None
            seen: dict[Any, Entry] = {}
            keys = set()
            for entry in group:
                assert entry.plan is not None
                key = entry.plan.unique_key
                if key in seen:
                    entry.reject(
                        DuplicateRecord(
                            resource_type=resource_type,
                            reason=f"same as {seen[key].where or 'an earlier entry'}",
                        )
                    )
                    continue
                seen[key] = entry
                keys.add(key)
            exclude = {
                (e.existing_source.label, e.existing.pk)
                for e in group
                if e.existing is not None and e.existing_source
            }
            taken = mapping.conflicts(keys, exclude)
            for key in taken:
                holder = seen.get(key)
                if holder is not None and holder.outcome == "":
                    holder.reject(
                        DuplicateRecord(resource_type=resource_type, reason="smartcare already has it")
                    )

    def _apply(self, entries: list[Entry], resolver: Resolver) -> None:
        creates: dict[Source, list[Entry]] = defaultdict(list)
        updates: dict[Source, list[Entry]] = defaultdict(list)
        for entry in entries:
            assert entry.plan is not None
            (updates if entry.existing is not None else creates)[entry.plan.source].append(entry)
        for source, group in creates.items():
            values = [{**e.plan.create_fields, **e.plan.fields} for e in group if e.plan is not None]
            rows = [Row(pk, row) for pk, row in zip(insert_rows(source.model, values), values, strict=True)]
            for entry, row in zip(group, rows, strict=True):
                entry.existing = row
                entry.existing_source = source
                if source.is_store:
                    entry.outcome = STORED
                    entry.version = 1
                    assert entry.target is not None
                    entry.target.pk = row.pk
                    entry.target.model_label = source.label
                else:
                    entry.outcome = CREATED
                    entry.target = Target(
                        entry.resource_type,
                        source.fhir_id(getattr(row, source.id_field)),
                        source.label,
                        row.pk,
                    )
                entry.status = 201
            assert group[0].mapping is not None
            if not source.is_store:
                group[0].mapping.created(rows)
            self._write_links(source, group, replace=False)
        for source, group in updates.items():
            self._update(source, group)

    def _update(self, source: Source, group: list[Entry]) -> None:
        model = source.model
        if source.is_store:
            history = [
                FhirResourceVersion(
                    resource_id=e.existing.pk,
                    version=e.existing.version,
                    content=e.existing.content,
                    last_updated=e.existing.last_updated,
                )
                for e in group
            ]
            FhirResourceVersion.objects.bulk_create(history)
        by_fields: dict[tuple[str, ...], list[Entry]] = defaultdict(list)
        for entry in group:
            assert entry.plan is not None
            fields = dict(entry.plan.fields)
            if source.is_store:
                fields["version"] = entry.existing.version + 1
            for name, value in fields.items():
                setattr(entry.existing, name, value)
            by_fields[tuple(sorted(fields))].append(entry)
        for names, members in by_fields.items():
            model._default_manager.bulk_update([e.existing for e in members], list(names), batch_size=500)
        for entry in group:
            entry.outcome = STORED if source.is_store else UPDATED
            entry.status = 200
            entry.version = entry.existing.version if source.is_store else None
            entry.target = Target(
                entry.resource_type,
                entry.existing.fhir_id
                if source.is_store
                else source.fhir_id(getattr(entry.existing, source.id_field)),
                source.label,
                entry.existing.pk,
            )
        self._write_links(source, group, replace=True)

    def _write_links(self, source: Source, group: list[Entry], *, replace: bool) -> None:
        fields: set[str] = set()
        for entry in group:
            if entry.plan is not None:
                fields |= set(entry.plan.m2m)
        for name in fields:
            through = getattr(source.model, name).through
            relation = source.model._meta.get_field(name)
            assert isinstance(relation, ManyToManyField)
            own = relation.m2m_field_name()
            other = relation.m2m_reverse_field_name()
            if replace:
                through.objects.filter(**{f"{own}__in": [e.existing.pk for e in group]}).delete()
            links = [
                through(**{f"{own}_id": e.existing.pk, f"{other}_id": pk})
                for e in group
                if e.plan is not None
                for pk in dict.fromkeys(e.plan.m2m.get(name, []))
            ]
            through.objects.bulk_create(links, batch_size=1000)

    # --- after every rank -------------------------------------------------------------------------

    def _finish(self, entries: list[Entry], resolver: Resolver) -> None:
        written = [e for e in entries if e.outcome in (CREATED, UPDATED, STORED, LINKED, UNCHANGED)]
        # Stored resources that named entries written after them get their references now.
        late = [e for e in written if e.pending_references and e.existing is not None]
        for entry in late:
            content = entry.existing.content
            if isinstance(content, RawJson):
                content = content.value()
            rewrite_references(content, resolver)
            FhirResource.objects.filter(pk=entry.existing.pk).update(content=content)
        self._remember(written, resolver)
        for entry in written:
            if entry.patient_id is not None and entry.outcome in (CREATED, UPDATED, STORED):
                self.patients_touched.add(entry.patient_id)
            created_patient = entry.resource_type == "Patient" and entry.outcome in (CREATED, UPDATED)
            if created_patient and entry.target is not None and entry.target.pk:
                self.patients_touched.add(int(entry.target.pk))
        if self.audit_each:
            self._audit_each(written)
        if not self.importing:
            for entry in written:
                if (
                    entry.outcome in (CREATED, UPDATED)
                    and entry.mapping is not None
                    and entry.target is not None
                ):
                    entry.mapping.written(self.actor, entry.target.pk)

    def _remember(self, entries: list[Entry], resolver: Resolver) -> None:
        """A SourceRecord (and identifier keys) for each resource received with an identity or
        identifiers, so that the next import finds it; for rows of smartcare's own tables also the
        resource as received."""
        now = clock.now()
        new_records: list[tuple[Entry, dict[str, Any]]] = []
        changed: list[tuple[Entry, SourceRecord]] = []
        for entry in entries:
            if entry.outcome == UNCHANGED or entry.target is None or entry.target.pk is None:
                continue
            if not (entry.identity or entry.identifiers or entry.record is not None):
                continue
            payload: Any = None
            if entry.target.model_label != "interop.FhirResource":
                text, _pending = rewrite_text(entry.text, resolver)
                payload = RawJson(f'{{"resource":{text}}}')
            if entry.record is not None:
                entry.record.content_hash = entry.content_hash
                entry.record.payload = payload.value() if isinstance(payload, RawJson) else payload
                entry.record.updated_at = now
                changed.append((entry, entry.record))
                continue
            new_records.append(
                (
                    entry,
                    {
                        "resource_type": entry.resource_type,
                        "key": identity_hash(entry.identity) if entry.identity else "",
                        "target_model": str(entry.target.model_label),
                        "target_pk": entry.target.pk,
                        "fhir_id": str(entry.target.fhir_id),
                        "content_hash": entry.content_hash,
                        "payload": payload,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            )
        if changed:
            SourceRecord.objects.bulk_update(
                [r for _e, r in changed], ["content_hash", "payload", "updated_at"], batch_size=500
            )
            # Identifiers may have changed with the resource: its identifier keys are written anew.
            SourceKey.objects.filter(record__in=[r for _e, r in changed]).delete()
        pks = insert_rows(SourceRecord, [row for _e, row in new_records])
        keys = [
            {"record_id": pk, "resource_type": entry.resource_type, "key": key_hash(key)}
            for (entry, _row), pk in zip(new_records, pks, strict=True)
            for key in entry.identifiers
        ]
        keys += [
            {"record_id": record.pk, "resource_type": entry.resource_type, "key": key_hash(key)}
            for entry, record in changed
            for key in entry.identifiers
        ]
        insert_rows(SourceKey, keys)

    def _audit_each(self, entries: list[Entry]) -> None:
        for entry in entries:
            if entry.outcome not in (CREATED, UPDATED, STORED) or entry.target is None:
                continue
            if entry.by_service:
                continue  # registration and booking wrote their own events
            record(
                self.actor,
                AuditAction.CREATE if entry.status == 201 else AuditAction.UPDATE,
                patient=entry.patient_id,
                obj=(f"fhir.{entry.resource_type}", entry.target.fhir_id),
                detail={"fhir": entry.resource_type, "outcome": entry.outcome},
            )


def counts_of(entries: Iterable[Entry]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for entry in entries:
        if not entry.outcome:
            continue
        per_type = counts.setdefault(entry.resource_type or "?", {})
        per_type[entry.outcome] = per_type.get(entry.outcome, 0) + 1
    return counts


def rejection(entry: Entry) -> dict[str, Any]:
    error = entry.error
    return {
        "where": entry.where,
        "resource_type": entry.resource_type,
        "outcome": entry.outcome,
        "code": getattr(error, "code", ""),
        "reason": getattr(error, "detail", ""),
    }
