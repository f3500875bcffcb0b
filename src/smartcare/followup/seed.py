"""The follow-up content shipped with smartcare (``data/*.json``), loaded after ``migrate``:
questionnaires (two satisfaction surveys and five patient-reported outcome questionnaires), the
health education library (bilingual articles and videos) and care plan templates (post-operative
by procedure type, hypertension, diabetes, heart failure, pregnancy).

Only what is missing is created (matched by key), so a hospital's edits in the pages or the admin
are never overwritten; a row edited here is marked as the hospital's own (``origin = local``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import transaction

DATA = Path(__file__).parent / "data"


def data_file(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return result


def _questionnaires() -> int:
    from smartcare.followup.choices import DataOrigin
    from smartcare.followup.models import Question, Questionnaire

    existing = set(Questionnaire.objects.values_list("key", flat=True))
    created = 0
    for spec in data_file("questionnaires.json")["questionnaires"]:
        if spec["key"] in existing:
            continue
        questions = spec.pop("questions")
        questionnaire = Questionnaire.objects.create(**spec, origin=DataOrigin.SHIPPED)
        Question.objects.bulk_create(
            Question(questionnaire=questionnaire, position=position, **question)
            for position, question in enumerate(questions)
        )
        created += 1
    return created


def _education() -> int:
    from smartcare.followup.choices import DataOrigin
    from smartcare.followup.models import EducationItem

    existing = set(EducationItem.objects.values_list("key", flat=True))
    new = [
        EducationItem(**spec, origin=DataOrigin.SHIPPED)
        for spec in data_file("education.json")["items"]
        if spec["key"] not in existing
    ]
    EducationItem.objects.bulk_create(new)
    return len(new)


def _templates() -> int:
    from smartcare.followup.choices import DataOrigin
    from smartcare.followup.models import CarePlanTemplate, EducationItem, Questionnaire, TemplateTask

    existing = set(CarePlanTemplate.objects.values_list("key", flat=True))
    questionnaires = dict(Questionnaire.objects.values_list("key", "pk"))
    items = dict(EducationItem.objects.values_list("key", "pk"))
    created = 0
    for spec in data_file("care_plans.json")["templates"]:
        if spec["key"] in existing:
            continue
        tasks = spec.pop("tasks")
        template = CarePlanTemplate.objects.create(**spec, origin=DataOrigin.SHIPPED)
        rows = []
        for task in tasks:
            questionnaire = task.pop("questionnaire", None)
            item = task.pop("education_item", None)
            rows.append(
                TemplateTask(
                    template=template,
                    questionnaire_id=questionnaires.get(questionnaire) if questionnaire else None,
                    education_item_id=items.get(item) if item else None,
                    **task,
                )
            )
        TemplateTask.objects.bulk_create(rows)
        created += 1
    return created


def load_followup_content() -> dict[str, int]:
    """Create every shipped questionnaire, education item and template that is missing."""
    with transaction.atomic():
        return {"questionnaires": _questionnaires(), "education": _education(), "templates": _templates()}


def ensure_followup_content() -> None:
    """For tests that flush the database."""
    from smartcare.followup.models import CarePlanTemplate

    if not CarePlanTemplate.objects.exists():
        load_followup_content()


def load_after_migrate(sender: Any, using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    load_followup_content()
