"""The resource types the FHIR API serves and where each one lives.

One ``Mapping`` per resource type, defined in ``fhir/resources/<type>.py``: the tables its
resources live in (``Source``: a smartcare model, or the lossless FHIR store), how a row becomes
FHIR JSON (``to_fhir``), how FHIR JSON becomes a row (``plan``), which search parameters it
answers and who may read and write it. Everything else (the REST views, search, Bundles, import)
works from these declarations.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Model, Q, QuerySet

from smartcare.interop.fhir.errors import NotRepresentable

if TYPE_CHECKING:
    from smartcare.interop.fhir.references import Target


class Access(enum.Enum):
    """Who may read a type; patient data follows ``patients.access`` like the pages."""

    PATIENT_VIEW = "patient-view"  # demographics level: Patient, Appointment
    PATIENT_CLINICAL = "patient-clinical"  # the clinical record
    DIRECTORY = "directory"  # practitioners, organizations, locations: every signed-in user
    SCHEDULE = "schedule"  # schedules and slots: scheduling.view_schedule
    AUDIT = "audit"  # the audit trail: audit.view


class ParamKind(enum.Enum):
    TOKEN = "token"  # noqa: S105  (a FHIR search parameter type)
    DATE = "date"
    REFERENCE = "reference"
    STRING = "string"


# Filter(queryset, values, ctx) -> queryset. ``values`` are the comma-separated alternatives of one
# parameter (OR); repeated parameters are applied one after the other (AND).
Filter = Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]


@dataclass(eq=False)
class Source:
    """A table that holds resources of one type. ``prefix`` tells its ids apart from the other
    sources' (``vs-12`` is a vital sign, ``12`` a result)."""

    model: type[Model]
    to_fhir: Callable[[Any], dict[str, Any]]
    prefix: str = ""
    base: Callable[[], QuerySet[Any]] | None = None
    patient_field: str | None = "patient"
    filters: dict[str, Filter] = field(default_factory=dict)
    sort: dict[str, str] = field(default_factory=dict)  # parameter -> model field
    last_updated: str | None = "updated_at"
    related: tuple[str, ...] = ()
    is_store: bool = False
    id_field: str = "pk"  # the column behind the FHIR id (the audit trail uses its sequence)

    def queryset(self) -> QuerySet[Any]:
        rows = self.base() if self.base is not None else self.model._default_manager.all()
        return rows.select_related(*self.related) if self.related else rows

    def fhir_id(self, pk: Any) -> str:
        return f"{self.prefix}{pk}"

    def parse_id(self, fhir_id: str) -> Any:
        """The primary key behind ``fhir_id`` when it belongs to this source, else None."""
        if self.is_store:
            return fhir_id
        if self.prefix and not fhir_id.startswith(self.prefix):
            return None
        rest = fhir_id[len(self.prefix) :]
        return int(rest) if rest.isdigit() and len(rest) < 19 else None

    @property
    def label(self) -> str:
        return self.model._meta.label


@dataclass
class Plan:
    """What one resource becomes: a row of ``source.model`` with these field values.

    ``fields`` are written on create and update; ``create_fields`` only on create (who recorded
    it). ``patient_id`` is the patient whose record it joins (access and audit)."""

    source: Source
    fields: dict[str, Any]
    patient_id: int | None = None
    create_fields: dict[str, Any] = field(default_factory=dict)
    # Many-to-many links written after the row: field name -> primary keys of the linked rows.
    m2m: dict[str, list[Any]] = field(default_factory=dict)
    # The fields to read back to detect duplicates that the database would refuse.
    unique_key: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: ParamKind
    description: str = ""


@dataclass
class WriteContext:
    """What a mapping needs to turn a resource into a row."""

    actor: Any  # the user on whose behalf rows are written (recorded_by, ordered_by)
    resolve: Callable[[dict[str, Any] | None, str], Target | None]  # (Reference, element) -> target
    importing: bool  # an importer (no per-patient checks, one audit event per run)
    cache: dict[str, Any] = field(default_factory=dict)  # per-run lookups (departments, ICD-10 codes)


class Mapping:
    """Base class of a resource type's mapping (see the module docstring)."""

    resource_type: str = ""
    access: Access = Access.PATIENT_CLINICAL
    sources: list[Source]
    params: list[ParamSpec] = []
    # _include name (``Observation:patient``) -> JSON elements holding the references.
    includes: dict[str, tuple[str, ...]] = {}
    # Write order in Bundles and imports: lower ranks first (patients before their encounters).
    rank: int = 5
    # create/update through the API by clinical users, and the capability they need.
    writable: bool = False
    write_capability: str = ""
    # Instances smartcare's tables cannot hold may be kept as FHIR (the lossless store).
    store_fallback: bool = True
    # A received resource whose identifier an earlier import had is that resource (patients and
    # the directory; other systems reuse identifiers across resources, so they match by fullUrl).
    match_by_identifier: bool = False
    # Imports may change the rows they match (False: only link to them).
    import_updates: bool = True
    # Elements whose reference must resolve to a smartcare resource for the row to be written.
    required_references: dict[str, tuple[str, ...]] = {}
    description: str = ""

    def plan(self, resource: dict[str, Any], ctx: WriteContext, existing: Any = None) -> Plan:
        """The row this resource becomes (``existing``: the row it updates). Raises
        ``NotRepresentable`` when smartcare's tables cannot hold it."""
        raise NotRepresentable(resource_type=self.resource_type, reason="read-only in smartcare")

    def find_existing(self, resource: dict[str, Any], ctx: WriteContext) -> Any:
        """A row this resource is the same as although it was never imported (a patient with the
        same resident ID). None when there is none."""
        return None

    def conflicts(self, keys: set[Any], exclude_pks: set[Any]) -> set[Any]:
        """Which of the plans' ``unique_key`` values rows other than ``exclude_pks`` already hold
        (the database would refuse them)."""
        return set()

    def created(self, rows: list[Any]) -> None:
        """Called once the rows of a bulk insert have primary keys."""

    def written(self, actor: Any, target_pk: Any) -> None:
        """Called after a clinical user's create or update of a row of this type (not for
        imports), inside the transaction."""

    # Writes that a smartcare service owns (registration, booking): clinical users' creates and
    # updates of these types go through the service instead of a plain row write. Return None
    # when the type has no such service.
    def create_with_service(self, actor: Any, resource: dict[str, Any], ctx: WriteContext) -> Any:
        return None

    def update_with_service(self, actor: Any, row: Any, resource: dict[str, Any], ctx: WriteContext) -> Any:
        return None

    def patient_of(self, resource: dict[str, Any], ctx: WriteContext) -> int | None:
        for element in ("subject", "patient"):
            target = ctx.resolve(resource.get(element), element)
            if target is not None and target.resource_type == "Patient" and target.pk is not None:
                return int(target.pk)
        return None

    def source_for_id(self, fhir_id: str) -> tuple[Source, Any] | None:
        for source in self.sources:
            pk = source.parse_id(fhir_id)
            if pk is not None:
                return source, pk
        return None

    def source_by_model(self, model: type[Model]) -> Source:
        for source in self.sources:
            if source.model is model and not source.is_store:
                return source
        raise LookupError(model)

    def store_source(self) -> Source | None:
        return next((s for s in self.sources if s.is_store), None)

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)


_REGISTRY: dict[str, Mapping] = {}


def register(mapping: Mapping) -> Mapping:
    _REGISTRY[mapping.resource_type] = mapping
    return mapping


def mapping_for(resource_type: str) -> Mapping | None:
    _load()
    return _REGISTRY.get(resource_type)


def mappings() -> list[Mapping]:
    _load()
    return sorted(_REGISTRY.values(), key=lambda m: m.resource_type)


_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from smartcare.interop.fhir import resources  # noqa: F401  (registers every mapping)


# --- Common filters ---------------------------------------------------------------------------------

_PK = re.compile(r"^\d{1,18}$")


def pk_values(source: Source, values: list[str]) -> list[Any]:
    found = []
    for value in values:
        pk = source.parse_id(value)
        if pk is not None:
            found.append(pk)
    return found


def q_any(conditions: list[Q]) -> Q:
    combined = Q(pk__in=[])
    for condition in conditions:
        combined |= condition
    return combined


def pks_of(rows: set[tuple[str, Any]], label: str) -> list[Any]:
    """The primary keys of ``label`` in a set of (model label, pk) pairs."""
    return [pk for model, pk in rows if model == label]
