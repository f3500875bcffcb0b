"""The fixed wording of drafted notes and generated summaries, in both languages.

A drafted note or a summary is a clinical document in the language the doctor chose for it
(a referral letter in English from a Chinese-speaking workstation, say), not interface text
that follows the reader's language, so its wording is kept here as data for both languages
instead of in the translation catalogs.
"""

from __future__ import annotations

from typing import Any

PHRASES: dict[str, tuple[str, str]] = {  # key -> (zh-hans, en)
    "times_a_day": ("每日%(times)s次", "%(times)s times a day"),
    "for_days": ("共%(days)s天", "for %(days)s days"),
    "triage_reported": ("预检分诊自述：%(findings)s。", "Reported at triage: %(findings)s."),
    "triage_denied": ("否认：%(findings)s。", "Denies: %(findings)s."),
    "active_problems": ("现有问题：%(problems)s。", "Active problems: %(problems)s."),
    "current_medications": ("目前用药：%(list)s。", "Current medications: %(list)s."),
    "allergies": ("过敏史：%(list)s。", "Allergies: %(list)s."),
    "no_allergies": ("无已记录的过敏史。", "No known allergies recorded."),
    "pre_visit": ("诊前检查：%(list)s。", "Pre-visit exams: %(list)s."),
    "recent_results": ("近期检查结果：%(list)s。", "Recent results: %(list)s."),
    "vitals": ("生命体征：%(list)s。", "Vital signs: %(list)s."),
    "last_plan": ("上次就诊（%(date)s）计划：%(plan)s", "Plan at the last visit (%(date)s): %(plan)s"),
    "admitted": ("%(date)s入住%(department)s。", "Admitted on %(date)s to %(department)s."),
    "transferred": ("%(date)s转入%(department)s。", "Transferred on %(date)s to %(department)s."),
    "discharged": ("%(date)s出院。", "Discharged on %(date)s."),
    "seen": ("%(date)s于%(department)s就诊。", "Seen on %(date)s in %(department)s."),
    "results": ("检查结果：%(list)s。", "Results: %(list)s."),
    "diagnoses": ("诊断：%(list)s。", "Diagnoses: %(list)s."),
    "primary": ("主要诊断", "primary"),
    "discharge_medications": ("出院带药：%(list)s。", "Discharge medications: %(list)s."),
    "medications": ("用药：%(list)s。", "Medications: %(list)s."),
    "tests_ordered": ("已开检查及操作：%(list)s。", "Tests and procedures ordered: %(list)s."),
    "referral": (
        "现转诊贵院（科）进一步诊治，谢谢。",
        "Referred for further assessment and treatment. Thank you for seeing this patient.",
    ),
}

# Labels of choices used inside documents.
LABELS: dict[str, tuple[str, str]] = {
    "oral": ("口服", "oral"),
    "iv": ("静脉注射", "IV"),
    "im": ("肌内注射", "IM"),
    "sc": ("皮下注射", "SC"),
    "topical": ("外用", "topical"),
    "inhaled": ("吸入", "inhaled"),
    "sublingual": ("舌下含服", "sublingual"),
    "rectal": ("直肠给药", "rectal"),
    "bp": ("血压", "Blood pressure"),
    "hr": ("心率", "Heart rate"),
    "temp": ("体温", "Temperature"),
    "spo2": ("血氧饱和度", "SpO2"),
    "weight": ("体重", "Weight"),
    "height": ("身高", "Height"),
    "rr": ("呼吸频率", "Respiratory rate"),
}


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language.lower().startswith("en") else pair[0]


def phrase(key: str, language: str, **params: Any) -> str:
    text = _pick(PHRASES[key], language)
    return text % params if params else text


def label(value: str, language: str) -> str:
    pair = LABELS.get(value)
    return _pick(pair, language) if pair else value


def join(items: list[str], language: str) -> str:
    return ("；" if not language.lower().startswith("en") else "; ").join(items)
