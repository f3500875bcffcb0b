"""Shared helpers of the follow-up tests: a discharge after a procedure, a small template."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcare.emr import services as emr
from smartcare.followup.choices import PlanCategory, PlanTrigger, ResponsibleRole, TaskKind
from smartcare.followup.models import CarePlanTemplate, EducationItem, Questionnaire, TemplateTask
from smartcare.organization.models import Bed, Room
from tests.factories import TestHospital


def bed(h: TestHospital, code: str = "01") -> Bed:
    room, _ = Room.objects.get_or_create(
        campus=h.hospital.campuses.first(), department=h.cardiology, code="W1", defaults={"kind": "ward"}
    )
    return Bed.objects.create(room=room, code=code)


def admit(h: TestHospital, patient: Any = None) -> Any:
    return emr.admit(
        h.user("nurse"),
        patient_id=(patient or h.patient_in_care).pk,
        department_id=h.cardiology.pk,
        bed_id=bed(h).pk,
    )


def discharge_after(h: TestHospital, procedure: str | None, patient: Any = None) -> Any:
    """Admit, do ``procedure`` (a signed procedure order), discharge; returns the encounter."""
    encounter = admit(h, patient)
    if procedure:
        order = emr.place_order(
            h.user("doctor"), encounter.pk, emr.OrderData(kind="procedure", name=procedure)
        )
        emr.sign_order(h.user("doctor"), order.pk)
    return emr.discharge(h.user("nurse"), encounter.pk)


def small_template(
    key: str = "test-plan", *, trigger: str = PlanTrigger.MANUAL, prefixes: list[str] | None = None
) -> CarePlanTemplate:
    """Day 0 education, day 2 call (reminded that day, missed after 1 day), day 3 questionnaire
    (reminded the day before, missed after 2 days), day 10 doctor's revisit."""
    template = CarePlanTemplate.objects.create(
        key=key,
        name_zh="测试随访",
        name_en="Test follow-up",
        category=PlanCategory.HYPERTENSION,
        trigger=trigger,
        icd10_prefixes=prefixes or [],
        education_tags=["hypertension"],
    )
    TemplateTask.objects.create(
        template=template,
        kind=TaskKind.EDUCATION,
        title_zh="阅读",
        title_en="Read",
        offset_days=0,
        remind_days_before=0,
        education_item=EducationItem.objects.get(key="low-salt-diet"),
    )
    TemplateTask.objects.create(
        template=template,
        kind=TaskKind.PHONE_CALL,
        title_zh="电话",
        title_en="Call",
        offset_days=2,
        remind_days_before=0,
        grace_days=1,
    )
    TemplateTask.objects.create(
        template=template,
        kind=TaskKind.QUESTIONNAIRE,
        title_zh="问卷",
        title_en="Questionnaire",
        offset_days=3,
        remind_days_before=1,
        grace_days=2,
        questionnaire=Questionnaire.objects.get(key="bp_self_care"),
    )
    TemplateTask.objects.create(
        template=template,
        kind=TaskKind.REVISIT,
        title_zh="复诊",
        title_en="Revisit",
        offset_days=10,
        responsible_role=ResponsibleRole.DOCTOR,
    )
    return template


def at(day: dt.date, hour: int = 9) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo("Asia/Shanghai"))
