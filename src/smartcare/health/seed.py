"""The two programmes shipped with smartcare, created after ``migrate`` when missing (matched by
key, so a hospital's edits are kept)."""

from __future__ import annotations

from typing import Any

PROGRAMMES = (
    {
        "key": "cardiovascular-risk",
        "risk_model": "pce",
        "name_zh": "心血管风险管理",
        "name_en": "Cardiovascular risk reduction",
        "description_zh": "针对10年动脉粥样硬化性心血管病风险升高者：血压、血脂、戒烟、饮食与运动干预。",
        "description_en": "For people with a raised 10-year ASCVD risk: blood pressure, lipids, smoking, diet and exercise.",
    },
    {
        "key": "diabetes-prevention",
        "risk_model": "findrisc",
        "name_zh": "糖尿病预防",
        "name_en": "Diabetes prevention",
        "description_zh": "针对糖尿病风险评分升高者：饮食、运动与减重。",
        "description_en": "For people with a raised FINDRISC score: diet, activity and weight.",
    },
)


def ensure_programmes() -> int:
    from smartcare.health.models import Programme

    existing = set(Programme.objects.values_list("key", flat=True))
    created = 0
    for spec in PROGRAMMES:
        if spec["key"] not in existing:
            Programme.objects.create(**spec)
            created += 1
    return created


def load_after_migrate(sender: Any, using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    ensure_programmes()
