"""Writing knowledge: one transaction per release, nothing partial, every import recorded."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from smartcare.audit import services as audit
from smartcare.audit.choices import AuditAction
from smartcare.core import clock
from smartcare.core.errors import InvalidInput
from smartcare.core.permissions import require_capability
from smartcare.knowledge.choices import EdgeType, ReleaseStatus
from smartcare.knowledge.dataset import Dataset, parse_json, read_smartcare
from smartcare.knowledge.errors import FileTooLarge, FormatChanged, ReleaseNeedsConfirmation, ReservedDataset
from smartcare.knowledge.jsonl import read_jsonl
from smartcare.knowledge.models import Edge, FollowUpQuestion, KnowledgeRelease, Node, RedFlag
from smartcare.organization.models import NationalDepartmentCode

SEED_ORIGIN = "smartcare-seed"  # the knowledge shipped with smartcare (seed.py)
NODE_COPY = (
    "type", "name_zh", "name_en", "synonyms_zh", "synonyms_en", "description_zh", "description_en",
    "icd10", "atc", "drugbank", "loinc", "min_age", "max_age", "sex",
)  # fmt: skip
EDGE_COPY = ("provenance", "frequency", "rank", "severity", "management_zh", "management_en")


def checksum_of(raw: bytes | str) -> str:
    return hashlib.sha256(raw.encode() if isinstance(raw, str) else raw).hexdigest()


def known_node_types() -> dict[str, str]:
    return dict(Node.objects.values_list("key", "type"))


def catalog_codes() -> set[str]:
    return set(NationalDepartmentCode.objects.values_list("code", flat=True))


def import_smartcare_file(
    raw: bytes | str,
    *,
    user: Any = None,
    file_name: str = "",
    origin: str = SEED_ORIGIN,
    force: bool = False,
    audited: bool = True,
) -> tuple[KnowledgeRelease, bool]:
    """Check and apply a file in smartcare's JSON format. Returns (release, changed)."""
    dataset = read_smartcare(
        parse_json(raw), origin=origin, known_keys=known_node_types(), known_codes=catalog_codes()
    )
    return apply_dataset(
        dataset, checksum=checksum_of(raw), user=user, file_name=file_name, force=force, audited=audited
    )


def import_jsonl_file(
    raw: bytes | str,
    *,
    origin: str,
    version: str = "",
    user: Any = None,
    file_name: str = "",
    force: bool = False,
) -> tuple[KnowledgeRelease, bool]:
    """Check and apply a JSON-lines disease file (see ``jsonl.py``). Returns (release, changed).

    Without a version the release is named by today's date.
    """
    dataset = read_jsonl(
        raw, origin=origin, version=version or clock.today().isoformat(), source=file_name or origin
    )
    return apply_dataset(dataset, checksum=checksum_of(raw), user=user, file_name=file_name, force=force)


FORMATS = ("auto", "smartcare", "jsonl")
ORIGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


def detect_format(raw: bytes | str, file_name: str = "") -> str:
    """``jsonl`` for .jsonl/.ndjson files and for files whose first line is a whole JSON object
    other than a smartcare file (QASystemOnMedicalKG calls its file medical.json); ``smartcare``
    otherwise (a smartcare file starts with ``{`` alone, or is one object with ``format``)."""
    if file_name.lower().endswith((".jsonl", ".ndjson")):
        return "jsonl"
    head = raw[:1_000_000].encode() if isinstance(raw, str) else raw[:1_000_000]
    for line in head.removeprefix(b"\xef\xbb\xbf").split(b"\n"):
        if not line.strip():
            continue
        try:
            first = json.loads(line)
        except ValueError:
            return "smartcare"
        smartcare = not isinstance(first, dict) or "nodes" in first or "format" in first
        return "smartcare" if smartcare else "jsonl"
    return "smartcare"


def default_origin(file_name: str) -> str:
    """The dataset name when none is given: the file name without its extension."""
    stem = Path(file_name).name.split(".")[0].lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-._")[:80]
    return slug or "upload"


def max_upload_bytes() -> int:
    return int(getattr(settings, "SMARTCARE_KNOWLEDGE_MAX_UPLOAD_MB", 64)) * 1024 * 1024


def check_upload_size(size: int | None) -> None:
    """Refuse an uploaded file before reading it when it is larger than the configured limit."""
    if size is not None and size > max_upload_bytes():
        raise FileTooLarge(field="file", limit=max_upload_bytes() // (1024 * 1024))


def import_knowledge_file(
    user: Any,
    raw: bytes | str,
    *,
    file_name: str = "",
    format: str = "auto",
    origin: str = "",
    version: str = "",
    force: bool = False,
) -> tuple[KnowledgeRelease, bool]:
    """Import a knowledge file uploaded by a curator or given to ``smartcare knowledge-import``.

    The whole file is checked first and then written as one release in one transaction; a bad
    file raises ``KnowledgeFileInvalid`` (KNOW-001) with every problem and writes nothing.
    ``user`` None is the operator at the command line; anyone else needs ``knowledge.curate``.
    The dataset (``origin``) defaults to the file name without extension; a smartcare file names
    its own version.
    """
    if user is not None:
        require_capability(user, "knowledge.curate")
        check_upload_size(len(raw))
    if format not in FORMATS:
        raise InvalidInput(_("The format must be auto, smartcare or jsonl."), field="format")
    origin = (origin or default_origin(file_name)).strip()
    if not ORIGIN.match(origin):
        raise InvalidInput(
            _("The dataset name may hold lower-case letters, digits, dots, dashes and underscores."),
            field="origin",
        )
    if len(version) > 40:
        raise InvalidInput(_("The version may have at most 40 characters."), field="version")
    if origin == SEED_ORIGIN:
        raise ReservedDataset(field="origin", origin=origin)
    kind = detect_format(raw, file_name) if format == "auto" else format
    if kind == "jsonl":
        return import_jsonl_file(
            raw, origin=origin, version=version, user=user, file_name=file_name, force=force
        )
    return import_smartcare_file(raw, user=user, file_name=file_name, origin=origin, force=force)


def _node_values(item: dict[str, Any]) -> dict[str, Any]:
    values = {name: item.get(name) for name in NODE_COPY}
    for name in ("description_zh", "description_en", "icd10", "atc", "drugbank", "loinc", "sex"):
        values[name] = values[name] or ""
    values["synonyms_zh"] = list(values["synonyms_zh"] or [])
    values["synonyms_en"] = list(values["synonyms_en"] or [])
    values["department_id"] = item.get("department_code") or None
    return values


def _edge_values(item: dict[str, Any]) -> dict[str, Any]:
    values = {name: item.get(name) for name in EDGE_COPY}
    for name in ("severity", "management_zh", "management_en"):
        values[name] = values[name] or ""
    return values


def _edge_key(kind: str, source: str, target: str) -> tuple[str, str, str]:
    if kind == EdgeType.INTERACTS_WITH and target < source:
        source, target = target, source
    return kind, source, target


@transaction.atomic
def apply_dataset(
    dataset: Dataset,
    *,
    checksum: str,
    user: Any = None,
    file_name: str = "",
    force: bool = False,
    audited: bool = True,
) -> tuple[KnowledgeRelease, bool]:
    """Write a checked dataset as one release. Re-applying the same file changes nothing.

    A dataset only ever writes its own concepts, edges, red flags and questions: what another
    dataset (the shipped seed, another import) already holds is used but never taken over. A
    release that would retire red flags, or more than half of the dataset's concepts, needs
    ``force`` (a truncated or wrong file should not switch off triage's safety net)."""
    same = KnowledgeRelease.objects.filter(
        origin=dataset.origin, checksum=checksum, status=ReleaseStatus.APPLIED
    ).first()
    if same is not None and not Node.objects.filter(origin=dataset.origin, release__isnull=True).exists():
        latest = KnowledgeRelease.objects.filter(origin=dataset.origin, status=ReleaseStatus.APPLIED).first()
        if latest is not None and latest.pk == same.pk:
            return same, False
    previous = KnowledgeRelease.objects.filter(origin=dataset.origin, status=ReleaseStatus.APPLIED).first()
    if previous is not None and previous.format != dataset.format:
        raise FormatChanged(field="origin", origin=dataset.origin, previous=previous.format)
    if dataset.replace and not force:
        _check_retirements(dataset)
    release = KnowledgeRelease.objects.create(
        origin=dataset.origin,
        version=dataset.version,
        format=dataset.format,
        source=dataset.source[:300],
        file_name=file_name[:300],
        checksum=checksum,
        status=ReleaseStatus.APPLIED,
        imported_by=user if getattr(user, "is_authenticated", False) else None,
        report=dataset.report,
    )
    counts: Counter[str] = Counter()
    nodes = _apply_nodes(dataset, release, counts)
    _apply_edges(dataset, release, nodes, counts)
    _apply_red_flags(dataset, release, counts)
    _apply_questions(dataset, release, nodes, counts)
    release.counts = dict(sorted(counts.items()))
    release.report = dataset.report
    release.save(update_fields=["counts", "report"])
    if not audited:  # the shipped seed, applied by migrate: a deployment step, not a curator's act
        return release, True
    audit.record(
        user if getattr(user, "is_authenticated", False) else None,
        AuditAction.SYSTEM,
        obj=release,
        detail={
            "event": "knowledge.import",
            "origin": release.origin,
            "version": release.version,
            "counts": release.counts,
        },
        actor_username="" if getattr(user, "is_authenticated", False) else "system",
    )
    return release, True


def _chunks(values: Any, size: int = 2000) -> Any:
    """Large imports (medical.json: ~9,000 diseases, ~150,000 edges) in pieces that every SQLite
    build accepts (some allow only 32,766 parameters per statement)."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _nodes_by_key(keys: Any) -> dict[str, Node]:
    return {n.key: n for chunk in _chunks(keys) for n in Node.objects.filter(key__in=chunk)}


def _check_retirements(dataset: Dataset) -> None:
    active = set(Node.objects.filter(origin=dataset.origin, is_active=True).values_list("key", flat=True))
    retiring = active - {i["id"] for i in dataset.nodes}
    flags = set(RedFlag.objects.filter(origin=dataset.origin, is_active=True).values_list("key", flat=True))
    flags_retiring = flags - {i["id"] for i in dataset.red_flags}
    if flags_retiring or (active and len(retiring) * 2 > len(active)):
        raise ReleaseNeedsConfirmation(
            field="file",
            nodes=len(retiring),
            active=len(active),
            flags=len(flags_retiring),
            origin=dataset.origin,
        )


def _note(dataset: Dataset, name: str, value: str, limit: int = 200) -> None:
    notes = dataset.report.setdefault(name, [])
    if len(notes) < limit:
        notes.append(value)


def _apply_nodes(dataset: Dataset, release: KnowledgeRelease, counts: Counter[str]) -> dict[str, Node]:
    existing = _nodes_by_key(i["id"] for i in dataset.nodes)
    create, update = [], []
    for item in dataset.nodes:
        values = _node_values(item)
        node = existing.get(item["id"])
        if node is None:
            node = Node(key=item["id"], origin=dataset.origin, release=release, **values)
            node.search_text = node.build_search_text()
            create.append(node)
            counts["nodes_created"] += 1
            continue
        if node.origin != dataset.origin:
            # Another dataset's concept: used for this dataset's edges, never taken over.
            counts["nodes_of_other_datasets"] += 1
            _note(dataset, "kept_other_datasets", f"{node.key} ({node.origin})")
            continue
        changed = any(getattr(node, name) != value for name, value in values.items()) or not node.is_active
        if changed:
            for name, value in values.items():
                setattr(node, name, value)
            node.origin, node.release, node.is_active = dataset.origin, release, True
            node.search_text = node.build_search_text()
            update.append(node)
            counts["nodes_updated"] += 1
    Node.objects.bulk_create(create, batch_size=500)
    Node.objects.bulk_update(
        update,
        [*NODE_COPY, "department", "origin", "release", "is_active", "search_text"],
        batch_size=500,
    )
    if dataset.replace:
        keys = {i["id"] for i in dataset.nodes}
        active = Node.objects.filter(origin=dataset.origin, is_active=True).values_list("key", flat=True)
        gone = sorted(set(active) - keys)
        for chunk in _chunks(gone):
            counts["nodes_retired"] += Node.objects.filter(key__in=chunk).update(
                is_active=False, release=release
            )
    wanted = {i["id"] for i in dataset.nodes}
    for edge in dataset.edges:
        wanted.update((edge["source"], edge["target"]))
    for question in dataset.questions:
        wanted.add(question["symptom"])
    return _nodes_by_key(wanted)


def _apply_edges(
    dataset: Dataset, release: KnowledgeRelease, nodes: dict[str, Node], counts: Counter[str]
) -> None:
    by_key = {n.pk: n.key for n in nodes.values()}
    existing: dict[tuple[str, str, str], Edge] = {}
    for chunk in _chunks(nodes.values()):
        for found in Edge.objects.filter(source__in=chunk):
            source_key = by_key.get(found.source_id)
            target_key = by_key.get(found.target_id)
            if source_key and target_key:
                existing[_edge_key(found.type, source_key, target_key)] = found
    create: list[Edge] = []
    update: list[Edge] = []
    keep: set[int] = set()
    for item in dataset.edges:
        key = _edge_key(item["type"], item["source"], item["target"])
        values = _edge_values(item)
        edge = existing.get(key)
        if edge is None:
            edge = Edge(
                type=key[0],
                source=nodes[key[1]],
                target=nodes[key[2]],
                origin=dataset.origin,
                release=release,
                **values,
            )
            create.append(edge)
            existing[key] = edge
            counts["edges_created"] += 1
            continue
        keep.add(edge.pk)
        if edge.origin != dataset.origin:
            counts["edges_of_other_datasets"] += 1
            continue
        if any(getattr(edge, n) != v for n, v in values.items()):
            for name, value in values.items():
                setattr(edge, name, value)
            edge.origin, edge.release = dataset.origin, release
            update.append(edge)
            counts["edges_updated"] += 1
    Edge.objects.bulk_create(create, batch_size=1000)
    Edge.objects.bulk_update(update, [*EDGE_COPY, "origin", "release"], batch_size=1000)
    if dataset.replace:
        keep.update(e.pk for e in create)
        stale = set(Edge.objects.filter(origin=dataset.origin).values_list("pk", flat=True)) - keep
        for chunk in _chunks(sorted(stale)):
            deleted, _per_model = Edge.objects.filter(pk__in=chunk).delete()
            counts["edges_removed"] += deleted


def _apply_red_flags(dataset: Dataset, release: KnowledgeRelease, counts: Counter[str]) -> None:
    keys = []
    others = set(RedFlag.objects.exclude(origin=dataset.origin).values_list("key", flat=True))
    linked = _nodes_by_key({k for item in dataset.red_flags for k in item.get("conditions", [])})
    for item in dataset.red_flags:
        keys.append(item["id"])
        if item["id"] in others:
            counts["red_flags_of_other_datasets"] += 1
            _note(dataset, "kept_other_datasets", item["id"])
            continue
        flag, created = RedFlag.objects.update_or_create(
            key=item["id"],
            defaults={
                "name_zh": item["name_zh"],
                "name_en": item["name_en"],
                "all_of": list(item.get("all_of", [])),
                "any_of": list(item.get("any_of", [])),
                "max_age_months": item.get("max_age_months"),
                "min_age": item.get("min_age"),
                "pregnant": bool(item.get("pregnant", False)),
                "action": item["action"],
                "reason_zh": item["reason_zh"],
                "reason_en": item["reason_en"],
                "provenance": str(item.get("provenance", ""))[:400],
                "origin": dataset.origin,
                "release": release,
                "is_active": True,
            },
        )
        flag.conditions.set([linked[k] for k in item.get("conditions", [])])
        counts["red_flag_links"] += len(item.get("conditions", []))
        counts["red_flags_created" if created else "red_flags_written"] += 1
    if dataset.replace:
        gone = RedFlag.objects.filter(origin=dataset.origin, is_active=True).exclude(key__in=keys)
        counts["red_flags_retired"] += gone.update(is_active=False)


def _apply_questions(
    dataset: Dataset, release: KnowledgeRelease, nodes: dict[str, Node], counts: Counter[str]
) -> None:
    keys = []
    others = set(FollowUpQuestion.objects.exclude(origin=dataset.origin).values_list("key", flat=True))
    for item in dataset.questions:
        keys.append(item["id"])
        if item["id"] in others:
            counts["questions_of_other_datasets"] += 1
            _note(dataset, "kept_other_datasets", item["id"])
            continue
        _, created = FollowUpQuestion.objects.update_or_create(
            key=item["id"],
            defaults={
                "question_zh": item["question_zh"],
                "question_en": item["question_en"],
                "symptom": nodes[item["symptom"]],
                "context": list(item.get("context", [])),
                "origin": dataset.origin,
                "release": release,
                "is_active": True,
            },
        )
        counts["questions_created" if created else "questions_written"] += 1
    if dataset.replace:
        gone = FollowUpQuestion.objects.filter(origin=dataset.origin, is_active=True).exclude(key__in=keys)
        counts["questions_retired"] += gone.update(is_active=False)


def summary(release: KnowledgeRelease) -> str:
    return json.dumps({"origin": release.origin, "version": release.version, **release.counts})


def read_file(path: Path) -> bytes:
    return path.read_bytes()
