"""Reading the JSON-lines disease format of open Chinese medical knowledge graphs.

QASystemOnMedicalKG's ``medical.json`` and the files derived from it hold one disease per line::

    {"name": "肺炎", "desc": "...", "symptom": ["发热", "咳嗽"], "acompany": ["脓胸"],
     "cure_department": ["内科", "呼吸内科"], "check": ["胸部X线片"],
     "common_drug": ["阿莫西林"], "recommand_drug": [], "category": ["疾病百科", "内科"], ...}

``read_jsonl`` turns such a file into a ``Dataset`` (``services.import_jsonl_file`` applies it):

- names are matched to existing nodes of other datasets by any surface form (names and synonyms,
  case-insensitive) before new nodes are made; new nodes get the stable id
  ``<type>:ext_<first 12 hex digits of sha1(name)>``, with the Chinese name as English name too;
- imported diseases carry no ICD-10 code (the file has none), which only this reader allows;
- ``cure_department`` (or, when it gives nothing, ``category``) is mapped to national catalog
  codes; what cannot be mapped is listed in the report, never silently dropped;
- the file's other fields (``cause``, ``prevent``, ``cure_way``, ``do_eat``...) are not imported.

A line that is not a JSON object or has no name rejects the whole file, with every bad line listed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from smartcare.knowledge.choices import EdgeType, NodeType, ReleaseFormat
from smartcare.knowledge.dataset import Dataset, Problems
from smartcare.knowledge.errors import KnowledgeFileInvalid
from smartcare.knowledge.models import Edge, Node
from smartcare.organization.models import NationalDepartmentCode

FORMAT = ReleaseFormat.JSONL.value
LIST_FIELDS = ("symptom", "acompany", "cure_department", "check", "common_drug", "recommand_drug", "category")
# Fields of medical.json that are read but deliberately not imported.
IGNORED_FIELDS = {
    "_id", "cause", "prevent", "cure_way", "get_prob", "easy_get", "cure_lasttime", "cured_prob",
    "do_eat", "not_eat", "recommand_eat", "drug_detail", "yibao_status", "get_way", "cost_money",
}  # fmt: skip
NAME_MAX = 200  # Node.name_zh
EXAMPLES = 5  # example diseases per unmapped department
LISTED_MAX = 500  # diseases listed by name in one report entry
CATEGORY_NOISE = {"疾病百科"}  # the root of medical.json's category tree, not a department

# What each list names, and which node types a name may match (in order).
MATCH_TYPES = {
    "disease": (NodeType.DISEASE,),
    "symptom": (NodeType.SYMPTOM, NodeType.SIGN),
    "exam": (NodeType.EXAM,),
    "drug": (NodeType.DRUG, NodeType.DRUG_CLASS),
}
CREATE_TYPE = {
    "disease": NodeType.DISEASE,
    "symptom": NodeType.SYMPTOM,
    "exam": NodeType.EXAM,
    "drug": NodeType.DRUG,
}


def stable_key(node_type: str, name: str) -> str:
    return f"{node_type}:ext_{hashlib.sha1(name.encode()).hexdigest()[:12]}"  # noqa: S324 - an id, not a secret


def _form(text: str) -> str:
    return text.strip().casefold()


# --- Department names -> national catalog codes ------------------------------------------------

_SUFFIXES = ("专业", "门诊", "中心", "科室", "科")


def normalise_department(text: str) -> str:
    """ "呼吸内科专业", "呼吸内科" and "呼吸内科门诊" all become "呼吸内"."""
    value = re.sub(r"\s+", "", text).casefold().replace("（", "(").replace("）", ")")
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if value.endswith(suffix) and len(value) > len(suffix):
                value, changed = value[: -len(suffix)], True
    return value


def _without_side(value: str) -> str:
    """ "呼吸内" -> "呼吸", "骨外" -> "骨": only used when the result names one department."""
    return value[:-1] if len(value) > 1 and value[-1] in "内外" else value


class DepartmentMapper:
    """Maps department names as hospitals write them to national catalog codes.

    In order: the exact catalog name; a name or synonym of a department node (the seed holds the
    common hospital names: 心内科, 普外科, 五官科...); the text without 专业/科/门诊/中心; that text
    without a trailing 内/外. The last two only count when they point at one code. "小儿..." is
    also tried as "儿...".
    """

    def __init__(self) -> None:
        self.exact: dict[str, str] = {}
        self.normalised: dict[str, set[str]] = defaultdict(set)
        self.sided: dict[str, set[str]] = defaultdict(set)
        self.depth: dict[str, int] = {}
        names: list[tuple[str, str]] = []
        for code, name_zh, name_en in NationalDepartmentCode.objects.values_list(
            "code", "name_zh", "name_en"
        ):
            self.depth[code] = code.count(".")
            for name in (name_zh, name_en):
                self.exact[_form(name)] = code
                names.append((name, code))
        self.node_forms: dict[str, str] = {}
        for node in Node.objects.filter(type=NodeType.DEPARTMENT, is_active=True, department__isnull=False):
            for name in node.surface_forms:
                if name:
                    self.node_forms.setdefault(_form(name), str(node.department_id))
                    names.append((name, str(node.department_id)))
        for name, code in names:
            value = normalise_department(name)
            self.normalised[value].add(code)
            self.sided[_without_side(value)].add(code)

    def code_for(self, text: str) -> str | None:
        candidates = [text]
        if text.startswith("小儿") and len(text) > 2:
            candidates.append("儿" + text[2:])
        for candidate in candidates:
            code = self._lookup(candidate)
            if code:
                return code
        return None

    def _lookup(self, text: str) -> str | None:
        form = _form(text)
        if form in self.exact:
            return self.exact[form]
        if form in self.node_forms:
            return self.node_forms[form]
        value = normalise_department(text)
        for index, key in ((self.normalised, value), (self.sided, _without_side(value))):
            codes = index.get(key, set())
            if len(codes) == 1:
                return next(iter(codes))
            if codes:
                return None  # ambiguous (神经科: neurology or neurosurgery?): leave it to people
        return None

    def rank(self, codes: list[str]) -> list[str]:
        """Most specific first (呼吸内科专业 03.01 before 内科 03), otherwise in file order."""
        unique = list(dict.fromkeys(codes))
        return sorted(unique, key=lambda code: (-self.depth.get(code, 0), unique.index(code)))


# --- Existing nodes ----------------------------------------------------------------------------


class SurfaceIndex:
    """Active nodes of other datasets by lower-case surface form, per node type.

    A node's own names win over another node's synonym. Nodes of the dataset being imported are
    left out: they are written again from the file (or retired when the file no longer has them).
    """

    def __init__(self, origin: str) -> None:
        self.forms: dict[str, dict[str, str]] = defaultdict(dict)
        rows = list(
            Node.objects.filter(is_active=True)
            .exclude(origin=origin)
            .order_by("key")
            .values_list("key", "type", "name_zh", "name_en", "synonyms_zh", "synonyms_en")
        )
        for key, node_type, name_zh, name_en, _syn_zh, _syn_en in rows:
            for name in (name_zh, name_en):
                if name:
                    self.forms[node_type].setdefault(_form(name), key)
        for key, node_type, _name_zh, _name_en, syn_zh, syn_en in rows:
            for name in [*(syn_zh or []), *(syn_en or [])]:
                if isinstance(name, str) and name.strip():
                    self.forms[node_type].setdefault(_form(name), key)
        self.department_by_code: dict[str, str] = {}
        for key, code in (
            Node.objects.filter(type=NodeType.DEPARTMENT, is_active=True, department__isnull=False)
            .order_by("key")
            .values_list("key", "department_id")
        ):
            self.department_by_code.setdefault(str(code), key)

    def find(self, types: tuple[str, ...], name: str) -> str | None:
        form = _form(name)
        for node_type in types:
            key = self.forms[node_type].get(form)
            if key:
                return key
        return None


# --- Reading ----------------------------------------------------------------------------------


@dataclass
class DiseaseLine:
    number: int
    name: str
    desc: str = ""
    lists: dict[str, list[str]] = field(default_factory=dict)


def _clean_list(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeFileInvalid(
            errors={"file": [_("The file is not UTF-8 text: %s") % exc]}, count=1
        ) from exc


def parse_lines(raw: bytes | str) -> tuple[list[DiseaseLine], dict[str, Any]]:
    """The disease lines of a file, duplicates merged; raises with every bad line."""
    problems = Problems()
    text = _decode(raw)
    by_name: dict[str, DiseaseLine] = {}
    duplicates: list[str] = []
    ignored: set[str] = set()
    # Split on newlines only: JSON strings may hold U+2028, which str.splitlines() splits on.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        where = f"line {number}"
        try:
            item = json.loads(line)
        except ValueError as exc:
            problems.add(where, _("Not valid JSON: %s") % exc)
            continue
        if not isinstance(item, dict):
            problems.add(where, _("Each line must hold one JSON object (one disease)."))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.add(where, _("The disease has no name (field name)."))
            continue
        name = name.strip()
        if len(name) > NAME_MAX:
            problems.add(where, _("The name is longer than %(max)s characters.") % {"max": NAME_MAX})
            continue
        desc = item.get("desc") or ""
        if not isinstance(desc, str):
            problems.add(where, _("desc must be a text."))
            continue
        lists: dict[str, list[str]] = {}
        for name_of_list in LIST_FIELDS:
            values = _clean_list(item.get(name_of_list))
            if values is None:
                problems.add(where, _("%s must be a list of texts.") % name_of_list)
                continue
            too_long = [v for v in values if len(v) > NAME_MAX]
            if too_long:
                problems.add(
                    where,
                    _("%(field)s holds a name longer than %(max)s characters.")
                    % {"field": name_of_list, "max": NAME_MAX},
                )
            lists[name_of_list] = values
        ignored.update(set(item) - set(LIST_FIELDS) - {"name", "desc"})
        record = by_name.get(_form(name))
        if record is None:
            by_name[_form(name)] = DiseaseLine(number, name, desc.strip(), lists)
        else:
            # The same disease twice: keep the first description, join the lists.
            duplicates.append(name)
            for key, values in lists.items():
                record.lists[key] = list(dict.fromkeys([*record.lists.get(key, []), *values]))
            record.desc = record.desc or desc.strip()
    if not by_name and not problems.count:
        problems.add("file", _("The file holds no disease line."))
    problems.raise_if_any()
    meta = {"duplicate_names": sorted(set(duplicates))[:LISTED_MAX], "ignored_fields": sorted(ignored)}
    return list(by_name.values()), meta


def read_jsonl(raw: bytes | str, *, origin: str, version: str, source: str = "") -> Dataset:
    """Check a JSON-lines disease file and map it onto the graph as a Dataset (nothing written)."""
    lines, meta = parse_lines(raw)
    return _Builder(origin).build(lines, meta, version=version, source=source or origin)


class _Builder:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.index = SurfaceIndex(origin)
        self.departments = DepartmentMapper()
        self.nodes: dict[str, dict[str, Any]] = {}  # created nodes by id
        self.created_forms: dict[str, dict[str, str]] = defaultdict(dict)  # type -> form -> id
        self.matched: dict[str, set[str]] = defaultdict(set)  # type -> existing ids reused
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.provenance = f"{origin} (imported)"

    # Nodes

    def node_for(self, kind: str, name: str, **extra: Any) -> str:
        """The id of the node ``name`` names: an existing node, one made earlier, or a new one."""
        key = self.index.find(MATCH_TYPES[kind], name)
        if key is not None:
            self.matched[key.split(":", 1)[0]].add(key)
            return key
        node_type = CREATE_TYPE[kind]
        key = self.created_forms[node_type].get(_form(name))
        if key is None:
            key = stable_key(node_type, name)
            self.nodes[key] = {
                "id": key,
                "type": node_type,
                "name_zh": name,
                "name_en": name,  # the files have no English names
                "synonyms_zh": [],
                "synonyms_en": [],
                **extra,
            }
            self.created_forms[node_type][_form(name)] = key
        return key

    def known_disease(self, name: str) -> str | None:
        return self.index.find(MATCH_TYPES["disease"], name) or self.created_forms[NodeType.DISEASE].get(
            _form(name)
        )

    def department_node(self, code: str) -> str:
        key = self.index.department_by_code.get(code)
        if key is None:
            # The seed has every catalog department; this only happens on a graph without it.
            entry = NationalDepartmentCode.objects.get(code=code)
            key = stable_key(NodeType.DEPARTMENT, entry.name_zh)
            self.nodes.setdefault(
                key,
                {
                    "id": key,
                    "type": NodeType.DEPARTMENT,
                    "name_zh": entry.name_zh,
                    "name_en": entry.name_en,
                    "synonyms_zh": [],
                    "synonyms_en": [],
                    "department_code": code,
                },
            )
            self.index.department_by_code[code] = key
        else:
            self.matched[NodeType.DEPARTMENT].add(key)
        return key

    # Edges

    def add_edge(self, kind: str, source: str, target: str, **values: Any) -> None:
        if source == target:
            return
        self.edges.setdefault(
            (kind, source, target),
            {"type": kind, "source": source, "target": target, "provenance": self.provenance, **values},
        )

    def build(self, lines: list[DiseaseLine], meta: dict[str, Any], *, version: str, source: str) -> Dataset:
        diseases: dict[str, str] = {}
        for line in lines:
            diseases[line.name] = self.node_for("disease", line.name, description_zh=line.desc)
        # Stays beside the rank numbers other datasets already gave a matched disease.
        known_edges, top_rank = self._existing_edges(set(diseases.values()))

        unmapped: dict[str, dict[str, Any]] = {}
        mapped: Counter[tuple[str, str]] = Counter()
        without_department: list[str] = []
        from_category = 0
        skipped_complications: Counter[str] = Counter()
        for line in lines:
            disease = diseases[line.name]
            for name in line.lists["symptom"]:
                self.add_edge(
                    EdgeType.HAS_SYMPTOM,
                    disease,
                    self.node_for("symptom", name),
                    frequency=0.5,
                    provenance=f"{self.origin} (imported, frequency not given)",
                )
            for name in line.lists["check"]:
                self.add_edge(EdgeType.RECOMMENDED_EXAM, disease, self.node_for("exam", name))
            for name in [*line.lists["common_drug"], *line.lists["recommand_drug"]]:
                self.add_edge(EdgeType.FIRST_LINE_DRUG, disease, self.node_for("drug", name))

            codes = []
            for name in line.lists["cure_department"]:
                code = self.departments.code_for(name)
                if code:
                    codes.append(code)
                    mapped[(name, code)] += 1
                else:
                    entry = unmapped.setdefault(name, {"name": name, "count": 0, "examples": []})
                    entry["count"] += 1
                    if len(entry["examples"]) < EXAMPLES:
                        entry["examples"].append(line.name)
            if not codes and not line.lists["cure_department"]:
                categories = [c for c in line.lists["category"] if c not in CATEGORY_NOISE]
                codes = [code for code in map(self.departments.code_for, categories) if code]
                from_category += bool(codes)
            if not codes:
                without_department.append(line.name)
            offset = top_rank.get(disease, 0)
            rank = 0
            for code in self.departments.rank(codes):
                target = self.department_node(code)
                if (EdgeType.TREATED_IN, disease, target) in known_edges:
                    continue
                rank += 1
                self.add_edge(EdgeType.TREATED_IN, disease, target, rank=offset + rank)

        for line in lines:
            for name in line.lists["acompany"]:
                other = self.known_disease(name)
                if other is None:
                    skipped_complications[name] += 1
                    continue
                # The accompanying disease is recorded as a complication of the line's disease.
                self.add_edge(EdgeType.COMPLICATION_OF, other, diseases[line.name])

        edges = [e for key, e in self.edges.items() if key not in known_edges]
        report = {
            "lines": len(lines),
            "diseases": {
                "created": sum(1 for n in self.nodes.values() if n["type"] == NodeType.DISEASE),
                "matched": len(self.matched[NodeType.DISEASE]),
            },
            "nodes_created": dict(sorted(Counter(n["type"] for n in self.nodes.values()).items())),
            "nodes_matched": {k: len(v) for k, v in sorted(self.matched.items())},
            "edges": len(edges),
            "edges_already_known": len(self.edges) - len(edges),
            "icd10_missing": sum(1 for n in self.nodes.values() if n["type"] == NodeType.DISEASE),
            "mapped_departments": [
                {"name": name, "code": code, "count": count}
                for (name, code), count in sorted(mapped.items(), key=lambda i: (-i[1], i[0]))
            ],
            "unmapped_departments": sorted(unmapped.values(), key=lambda e: (-e["count"], e["name"])),
            "departments_from_category": from_category,
            "diseases_without_department_count": len(without_department),
            "diseases_without_department": without_department[:LISTED_MAX],
            "complications_skipped_count": sum(skipped_complications.values()),
            "complications_skipped": [n for n, _c in skipped_complications.most_common(LISTED_MAX)],
            **meta,
        }
        return Dataset(
            origin=self.origin,
            version=version,
            format=FORMAT,
            source=source,
            nodes=list(self.nodes.values()),
            edges=edges,
            report=report,
        )

    def _existing_edges(self, diseases: set[str]) -> tuple[set[tuple[str, str, str]], dict[str, int]]:
        """Edges other datasets already have from these diseases, and their highest treated_in rank.

        The import does not rewrite them: another dataset's edge keeps its frequency and provenance.
        """
        known: set[tuple[str, str, str]] = set()
        top_rank: dict[str, int] = {}
        keys = sorted(diseases)
        for start in range(0, len(keys), 500):
            rows = (
                Edge.objects.filter(source__key__in=keys[start : start + 500])
                .exclude(origin=self.origin)
                .values_list("type", "source__key", "target__key", "rank")
            )
            for kind, source, target, rank in rows:
                known.add((kind, source, target))
                if kind == EdgeType.TREATED_IN and rank:
                    top_rank[source] = max(top_rank.get(source, 0), rank)
        # complication_of edges point at the line's disease from another disease.
        for start in range(0, len(keys), 500):
            rows = (
                Edge.objects.filter(type=EdgeType.COMPLICATION_OF, target__key__in=keys[start : start + 500])
                .exclude(origin=self.origin)
                .values_list("type", "source__key", "target__key", "rank")
            )
            for kind, source, target, _rank in rows:
                known.add((kind, source, target))
        return known, top_rank
