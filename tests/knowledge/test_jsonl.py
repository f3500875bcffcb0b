"""The JSON-lines importer (QASystemOnMedicalKG's medical.json format) on a small sample."""

from __future__ import annotations

import json

import pytest
from django.utils import translation

from smartcare.knowledge.choices import EdgeType, ReleaseFormat
from smartcare.knowledge.errors import KnowledgeFileInvalid
from smartcare.knowledge.jsonl import DepartmentMapper, normalise_department, read_jsonl, stable_key
from smartcare.knowledge.models import Edge, KnowledgeRelease, Node
from smartcare.knowledge.services import detect_format, import_jsonl_file, import_knowledge_file
from tests.knowledge.helpers import table_state

pytestmark = pytest.mark.django_db
ORIGIN = "qamedkg"


def _edge(kind: str, source: str, target: str) -> Edge:
    return Edge.objects.get(type=kind, source__key=source, target__key=target)


def _new(name: str, node_type: str = "disease") -> Node:
    return Node.objects.get(key=stable_key(node_type, name))


@pytest.fixture()
def imported(sample: bytes) -> KnowledgeRelease:
    release, changed = import_jsonl_file(sample, origin=ORIGIN, version="2026.1", file_name="medical.jsonl")
    assert changed
    return release


def test_the_sample_becomes_one_release_with_new_nodes_and_edges(imported: KnowledgeRelease) -> None:
    assert (imported.origin, imported.version, imported.format) == (ORIGIN, "2026.1", ReleaseFormat.JSONL)
    report = imported.report
    assert report["lines"] == 7
    assert report["diseases"] == {"created": 5, "matched": 2}
    assert imported.counts["nodes_created"] == sum(report["nodes_created"].values())
    assert imported.counts["edges_created"] == report["edges"]
    disease = _new("肺泡蛋白质沉积症")
    assert (disease.name_zh, disease.name_en, disease.icd10, disease.origin) == (
        "肺泡蛋白质沉积症",
        "肺泡蛋白质沉积症",
        "",
        ORIGIN,
    )
    assert disease.key.startswith("disease:ext_") and len(disease.key) == len("disease:ext_") + 12
    assert disease.description_zh.startswith("肺泡蛋白质沉积症是")
    assert report["icd10_missing"] == 5
    # The fields the importer does not take are named, not silently lost.
    assert {"cause", "prevent", "drug_detail", "_id"} <= set(report["ignored_fields"])


def test_names_reuse_seed_nodes_by_name_or_synonym(imported: KnowledgeRelease) -> None:
    # 高血压 is a synonym of disease:hypertension; 拉肚子 of symptom:diarrhea; 发绀 names sign:cyanosis.
    assert not Node.objects.filter(name_zh="高血压", origin=ORIGIN).exists()
    diarrhoea = _edge(EdgeType.HAS_SYMPTOM, stable_key("disease", "小儿秋季腹泻"), "symptom:diarrhea")
    _edge(EdgeType.HAS_SYMPTOM, stable_key("disease", "小儿秋季腹泻"), "sign:watery_diarrhea")  # 蛋花汤样大便
    assert diarrhoea.frequency == 0.5
    assert diarrhoea.provenance == "qamedkg (imported, frequency not given)"
    _edge(EdgeType.HAS_SYMPTOM, stable_key("disease", "肺泡蛋白质沉积症"), "sign:cyanosis")
    _edge(EdgeType.FIRST_LINE_DRUG, stable_key("disease", "肺泡蛋白质沉积症"), "drug:azithromycin")
    _edge(EdgeType.RECOMMENDED_EXAM, stable_key("disease", "肺泡蛋白质沉积症"), "exam:chest_ct")
    # New symptom gets a new node; names the graph does not know become new nodes of the right type.
    assert _new("颈项板紧", "symptom").type == "symptom"
    assert _new("肺活检", "exam").type == "exam"
    assert _new("蒙脱石散", "drug").type == "drug"
    assert imported.report["nodes_matched"]["disease"] == 2


def test_edges_other_datasets_have_are_not_rewritten(imported: KnowledgeRelease) -> None:
    headache = _edge(EdgeType.HAS_SYMPTOM, "disease:hypertension", "symptom:headache")
    assert (headache.origin, headache.frequency) == ("smartcare-seed", 0.2)
    assert imported.report["edges_already_known"] >= 4
    # New facts about a seed disease are added after the seed's own ranks (cardiology 1 .. geriatrics 3).
    internal = _edge(EdgeType.TREATED_IN, "disease:hypertension", "department:internal_medicine")
    assert (internal.origin, internal.rank) == (ORIGIN, 4)
    assert (
        _edge(EdgeType.HAS_SYMPTOM, "disease:hypertension", stable_key("symptom", "颈项板紧")).origin
        == ORIGIN
    )


def test_departments_are_mapped_most_specific_first(imported: KnowledgeRelease) -> None:
    disease = stable_key("disease", "肺泡蛋白质沉积症")
    ranks = {e.target.key: e.rank for e in Edge.objects.filter(type=EdgeType.TREATED_IN, source__key=disease)}
    assert ranks == {"department:respiratory_medicine": 1, "department:internal_medicine": 2}
    child = stable_key("disease", "小儿秋季腹泻")
    assert [e.target.key for e in Edge.objects.filter(type=EdgeType.TREATED_IN, source__key=child)] == [
        "department:pediatrics"
    ]
    assert (
        _edge(EdgeType.TREATED_IN, stable_key("disease", "高血压性心脏病"), "department:cardiology").rank == 1
    )
    # No cure_department: the category says 外科 / 普外科.
    hernia = stable_key("disease", "腹壁切口疝")
    assert _edge(EdgeType.TREATED_IN, hernia, "department:general_surgery").rank == 1
    assert _edge(EdgeType.TREATED_IN, hernia, "department:surgery").rank == 2
    assert imported.report["departments_from_category"] == 1
    mapped = {(m["name"], m["code"]) for m in imported.report["mapped_departments"]}
    assert {("呼吸内科", "03.01"), ("小儿内科", "07"), ("心内科", "03.04"), ("皮肤性病科", "13")} <= mapped


def test_unmapped_departments_are_reported_and_their_diseases_still_imported(
    imported: KnowledgeRelease,
) -> None:
    assert imported.report["unmapped_departments"] == [
        {"name": "中医综合", "count": 1, "examples": ["肝郁气滞证"]},
        {"name": "其他科室", "count": 1, "examples": ["接触性皮炎"]},
    ]
    assert imported.report["diseases_without_department"] == ["肝郁气滞证"]
    assert imported.report["diseases_without_department_count"] == 1
    tcm = _new("肝郁气滞证")
    assert tcm.is_active
    assert not Edge.objects.filter(type=EdgeType.TREATED_IN, source=tcm).exists()
    _edge(EdgeType.HAS_SYMPTOM, tcm.key, "symptom:insomnia")
    # 接触性皮炎 (the seed's disease:contact_dermatitis) was already in dermatology: nothing to add.
    assert not Edge.objects.filter(
        source__key="disease:contact_dermatitis", origin=ORIGIN, type="treated_in"
    ).exists()


def test_accompanying_diseases_become_complications_only_when_known(imported: KnowledgeRelease) -> None:
    hhd = stable_key("disease", "高血压性心脏病")
    # Accompanying disease (source) -> the line's disease (target), as the file lists it.
    _edge(EdgeType.COMPLICATION_OF, hhd, "disease:hypertension")
    _edge(EdgeType.COMPLICATION_OF, "disease:heart_failure", hhd)
    _edge(EdgeType.COMPLICATION_OF, "disease:eczema", "disease:contact_dermatitis")
    assert imported.report["complications_skipped"] == ["多重肺部感染"]
    assert not Node.objects.filter(name_zh="多重肺部感染").exists()


def test_importing_the_same_file_again_writes_nothing(sample: bytes, imported: KnowledgeRelease) -> None:
    before = table_state()
    release, changed = import_jsonl_file(sample, origin=ORIGIN, version="2026.2")
    assert (release.pk, changed) == (imported.pk, False)
    assert table_state() == before


def test_a_new_release_retires_what_the_file_no_longer_has(sample: bytes, imported: KnowledgeRelease) -> None:
    lines = sample.decode().splitlines()
    shorter = "\n".join(line for line in lines if "小儿秋季腹泻" not in line).encode()
    release, changed = import_jsonl_file(shorter, origin=ORIGIN, version="2026.2")
    assert changed
    # The disease, 便常规 and 轮状病毒抗原检测 (exams) and 蒙脱石散 (drug); 蛋花汤样大便 was the seed's
    # sign:watery_diarrhea all along.
    assert release.counts["nodes_retired"] == 4
    assert not _new("小儿秋季腹泻").is_active
    assert not _new("便常规", "exam").is_active
    assert not _new("蒙脱石散", "drug").is_active
    assert not Edge.objects.filter(source__key=stable_key("disease", "小儿秋季腹泻")).exists()
    assert _new("肺泡蛋白质沉积症").is_active
    # Seed nodes the old release pointed at stay as they were.
    assert Node.objects.get(key="symptom:diarrhea").is_active


@pytest.mark.parametrize(
    ("content", "where", "text"),
    [
        ('{"name": "甲病"}\nnot json at all\n', "line 2", "Not valid JSON"),
        ('{"name": "甲病"}\n\n{"desc": "没有名字"}\n', "line 3", "no name"),
        ('["一个列表"]\n', "line 1", "one JSON object"),
        ('{"name": "甲病", "symptom": "发热"}\n{"name": "乙病", "symptom": [1, 2]}\n', "line 2", "symptom"),
        ("\n\n", "file", "no disease"),
    ],
    ids=["not-json", "no-name", "not-an-object", "bad-list", "empty"],
)
def test_bad_lines_are_reported_by_number(content: str, where: str, text: str) -> None:
    with pytest.raises(KnowledgeFileInvalid) as caught, translation.override("en"):
        read_jsonl(content.encode(), origin=ORIGIN, version="1")
    assert caught.value.code == "KNOW-001"
    assert any(text in str(m) for m in caught.value.errors.get(where, [])), caught.value.errors


def test_one_bad_line_rejects_the_whole_file(sample: bytes) -> None:
    before = table_state()
    with pytest.raises(KnowledgeFileInvalid) as caught:
        import_jsonl_file(sample + b'{"desc": "no name"}\n', origin=ORIGIN)
    assert list(caught.value.errors) == ["line 8"]
    assert table_state() == before
    assert not KnowledgeRelease.objects.filter(origin=ORIGIN).exists()


def test_every_bad_line_is_listed_at_once() -> None:
    with pytest.raises(KnowledgeFileInvalid) as caught:
        read_jsonl(b'oops\n{"name": ""}\n{"name": "\xe7\x97\x85"}\n[]\n', origin=ORIGIN, version="1")
    assert set(caught.value.errors) == {"line 1", "line 2", "line 4"}
    assert caught.value.params["count"] == 3


def test_a_file_that_is_not_utf8_is_rejected() -> None:
    with pytest.raises(KnowledgeFileInvalid) as caught:
        read_jsonl('{"name": "高血压"}\n'.encode("gb18030"), origin=ORIGIN, version="1")
    assert "file" in caught.value.errors


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("内科", "03"),
        ("呼吸内科", "03.01"),
        ("呼吸内科专业", "03.01"),
        ("呼吸科", "03.01"),
        ("消化内科门诊", "03.02"),
        ("心内科", "03.04"),
        ("血液科", "03.05"),
        ("内分泌科", "03.07"),
        ("普外科", "04.01"),
        ("骨外科", "04.03"),
        ("小儿内科", "07"),
        ("小儿外科", "08"),
        ("五官科", "11"),
        ("皮肤性病科", "13"),
        ("Cardiology", "03.04"),
        ("肿瘤内科", "19"),
        ("神经科", None),  # neurology or neurosurgery: left to people
        ("中医综合", None),
        ("其他科室", None),
        ("营养科", None),
    ],
)
def test_department_names_map_to_catalog_codes(name: str, code: str | None) -> None:
    assert DepartmentMapper().code_for(name) == code


def test_department_text_is_normalised() -> None:
    assert normalise_department("呼吸内科专业") == normalise_department("呼吸内科 门诊") == "呼吸内"


@pytest.mark.parametrize(
    ("content", "file_name", "expected"),
    [
        (b'{"name": "x"}\n{"name": "y"}\n', "medical.json", "jsonl"),
        (b'{"format": "smartcare-knowledge",\n "nodes": []}', "seed.json", "smartcare"),
        (b"{\n", "seed.json", "smartcare"),
        (b"anything", "diseases.jsonl", "jsonl"),
        (b'\xef\xbb\xbf{"name": "x", "desc": ""}', "upload", "jsonl"),
        (b'{"desc": "a disease line without its name"}\n', "medical.json", "jsonl"),
        (b'{"format": "smartcare-knowledge", "nodes": [], "edges": []}', "mini.json", "smartcare"),
    ],
)
def test_the_format_is_recognised(content: bytes, file_name: str, expected: str) -> None:
    assert detect_format(content, file_name) == expected


def test_a_curator_import_names_the_dataset_after_the_file(sample: bytes, hospital: object) -> None:
    from tests.factories import TestHospital

    assert isinstance(hospital, TestHospital)
    release, _changed = import_knowledge_file(hospital.user("steward"), sample, file_name="Medical KG.jsonl")
    assert release.origin == "medical-kg"
    assert release.imported_by == hospital.user("steward")
    assert json.dumps(release.report, ensure_ascii=False).count("中医综合") == 1
