"""Demo remote consultations: a year of requests between departments and from an external county
hospital, with realistic answer times (median about six hours, most within 24 hours, urgent ones
faster) and concordance around the 90% target, discordant cases partly reviewed, and the demo
doctor's (cardiology, ``doctor``) live work: requests waiting in the queue, one overdue, one
accepted with an imaging study to open in the room.

Rows are written directly (as the other demo generators do) for speed; the services' rules are
followed: each request has the patient's consent, the expert's care relationship is limited in time.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import CareRelationship, User
from smartcare.core import clock
from smartcare.emr.models import Diagnosis, Icd10Code
from smartcare.patients.choices import ConsentKind
from smartcare.patients.models import Consent
from smartcare.simulation.registry import DemoContext, register_generator
from smartcare.telemedicine.choices import ConsultationStatus, EventKind, Urgency, default_response_window
from smartcare.telemedicine.concordance import compare
from smartcare.telemedicine.models import Consultation, ConsultationEvent, DiscordanceReview, Opinion

EXTERNAL_HOSPITALS = ["清河县人民医院", "东湖社区卫生服务中心", "南山镇卫生院"]
QUESTIONS = [
    "患者症状反复，现有治疗效果不佳，请协助明确诊断并给出下一步治疗建议。",
    "影像学检查提示异常，请专科会诊判断是否需要进一步检查或转诊。",
    "合并多种慢性病，用药方案复杂，请协助调整治疗方案。",
    "检验结果异常，原因不明，请专科意见。",
]
RECOMMENDATIONS = [
    "建议完善相关检查后复诊，按指南调整用药，两周后随访。",
    "建议转专科门诊进一步评估，必要时住院治疗。",
    "同意目前诊断，继续现有治疗，注意监测相关指标。",
]


def _doctors_by_department() -> dict[int, list[int]]:
    result: dict[int, list[int]] = {}
    rows = User.objects.filter(role__in=(Role.DOCTOR, Role.DEPARTMENT_HEAD), practitioner__isnull=False)
    for pk, department_id in rows.values_list("pk", "practitioner__department_id"):
        result.setdefault(department_id, []).append(pk)
    return result


def build_telemedicine(ctx: DemoContext) -> None:
    started = time.monotonic()
    rng = ctx.rng
    now = clock.now()
    doctors = _doctors_by_department()
    departments = [d for d in doctors if len(doctors[d]) >= 1]
    if len(departments) < 2:
        ctx.log("telemedicine: skipped (fewer than two departments with doctors)")
        return
    codes = list(Icd10Code.objects.filter(is_active=True).values_list("code", flat=True))
    by_category: dict[str, list[str]] = {}
    for code in codes:
        by_category.setdefault(code[:3], []).append(code)
    # Patients with a diagnosis in a department: the requester's working diagnosis.
    diagnosed = list(
        Diagnosis.objects.filter(is_primary=True)
        .order_by("-encounter__started_at")
        .values_list(
            "encounter__patient_id", "encounter__department_id", "icd10_id", "encounter__started_at"
        )[:4000]
    )
    if not diagnosed:
        ctx.log("telemedicine: skipped (no diagnoses)")
        return
    demo_doctor = User.objects.filter(username="doctor").first()
    demo_head = User.objects.filter(username="head").first()
    cardiology_id = getattr(getattr(demo_doctor, "practitioner", None), "department_id", None)
    target = max(60, min(600, ctx.patients // 6))
    requester_of: dict[int, int] = {}
    consents: list[Consent] = []
    plan: list[dict[str, Any]] = []
    for _ in range(target):
        patient_id, department_id, working, seen_at = rng.choice(diagnosed)
        if department_id not in doctors:
            continue
        specialty_id = rng.choice([d for d in departments if d != department_id])
        if cardiology_id is not None and rng.random() < 0.15:
            specialty_id = cardiology_id if department_id != cardiology_id else specialty_id
        requester = requester_of.setdefault(department_id, rng.choice(doctors[department_id]))
        if demo_doctor is not None and department_id == cardiology_id and rng.random() < 0.5:
            requester = demo_doctor.pk
        expert = rng.choice(doctors[specialty_id])
        seen: dt.datetime = seen_at or now - dt.timedelta(days=30)
        requested: dt.datetime = min(
            seen + dt.timedelta(hours=rng.uniform(1, 48)), now - dt.timedelta(hours=30)
        )
        urgency = rng.choices(list(Urgency), weights=[70, 25, 5])[0]
        window = default_response_window(urgency)
        # Log-normal answer times: median under a third of the window, a tail past it.
        hours = math.exp(rng.gauss(math.log(window.total_seconds() / 3600 / 3.5), 1.1))
        roll = rng.random()
        if roll < 0.78:
            expert_code = working
        elif roll < 0.92 and len(by_category.get(working[:3], [])) > 1:
            expert_code = rng.choice([c for c in by_category[working[:3]] if c != working])
        else:
            expert_code = rng.choice(codes)
        plan.append(
            {
                "patient_id": patient_id,
                "requesting_department_id": department_id,
                "specialty_id": specialty_id,
                "requester_id": requester,
                "expert_id": expert,
                "urgency": urgency,
                "requested_at": requested,
                "deadline_at": requested + window,
                "answered_at": requested + dt.timedelta(hours=hours),
                "working": working,
                "expert_code": expert_code,
                "external": rng.choice(EXTERNAL_HOSPITALS) if rng.random() < 0.15 else "",
            }
        )
        consents.append(
            Consent(
                patient_id=patient_id,
                kind=ConsentKind.DATA_SHARING,
                granted=True,
                recorded_by_id=requester,
                note="远程会诊",
            )
        )
    Consent.objects.bulk_create(consents, batch_size=1000)
    rows = []
    for item, consent in zip(plan, consents, strict=True):
        answered_at = item["answered_at"]
        rows.append(
            Consultation(
                patient_id=item["patient_id"],
                requester_id=item["requester_id"],
                requesting_department_id=item["requesting_department_id"],
                external_hospital=item["external"],
                specialty_id=item["specialty_id"],
                expert_id=item["expert_id"],
                urgency=item["urgency"],
                status=ConsultationStatus.ANSWERED,
                question=rng.choice(QUESTIONS),
                working_diagnosis_id=item["working"],
                consent=consent,
                requested_at=item["requested_at"],
                deadline_at=item["deadline_at"],
                escalated_at=item["deadline_at"] - (item["deadline_at"] - item["requested_at"]) / 4
                if answered_at > item["deadline_at"] - (item["deadline_at"] - item["requested_at"]) / 4
                else None,
                overdue_at=item["deadline_at"] if answered_at > item["deadline_at"] else None,
                accepted_at=item["requested_at"] + (answered_at - item["requested_at"]) / 3,
                answered_at=answered_at,
                access_until=answered_at + dt.timedelta(days=3),
                room_generation=2,
            )
        )
    Consultation.objects.bulk_create(rows, batch_size=500)
    opinions, events, relationships, reviews = [], [], [], []
    for consultation, item in zip(rows, plan, strict=True):
        agreement = compare(item["working"], item["expert_code"])
        opinions.append(
            Opinion(
                consultation=consultation,
                expert_id=item["expert_id"],
                diagnosis_id=item["expert_code"],
                findings="",
                recommendations=rng.choice(RECOMMENDATIONS),
                annotations=[],
                concordance=agreement,
                concordance_level=3,
            )
        )
        accepted_at: dt.datetime = consultation.accepted_at or consultation.requested_at
        for kind, at in (
            (EventKind.REQUESTED, consultation.requested_at),
            (EventKind.ACCEPTED, accepted_at),
            (EventKind.ANSWERED, consultation.answered_at or accepted_at),
        ):
            events.append(ConsultationEvent(consultation=consultation, kind=kind, at=at))
        relationships.append(
            CareRelationship(
                patient_id=consultation.patient_id,
                department_id=consultation.specialty_id,
                practitioner_user_id=consultation.expert_id,
                kind=CareRelationshipKind.CONSULTATION,
                source=f"telemedicine.consultation:{consultation.pk}",
                valid_from=accepted_at,
                valid_until=consultation.access_until,
            )
        )
        if agreement == "discordant" and rng.random() < 0.5:
            head = demo_head if demo_head and consultation.requesting_department_id == cardiology_id else None
            reviewer = head.pk if head else item["expert_id"]
            reviews.append(
                DiscordanceReview(
                    consultation=consultation,
                    reviewer_id=reviewer,
                    feedback="已与申请医生讨论，鉴别诊断需补充相关检查。",
                    training_note="纳入科室病例讨论。",
                )
            )
    Opinion.objects.bulk_create(opinions, batch_size=500)
    ConsultationEvent.objects.bulk_create(events, batch_size=1000)
    CareRelationship.objects.bulk_create(relationships, batch_size=1000, ignore_conflicts=True)
    DiscordanceReview.objects.bulk_create(reviews, batch_size=500)
    live = _live_work(ctx, now, doctors, diagnosed, cardiology_id, demo_doctor)
    agreed = sum(1 for o in opinions if o.concordance != "discordant")
    within = sum(
        1 for r in rows if r.answered_at and r.answered_at - r.requested_at <= dt.timedelta(hours=24)
    )
    ctx.log(
        f"telemedicine: {len(rows)} answered consultations ({sum(1 for r in rows if r.external_hospital)} external), "
        f"{within / max(1, len(rows)):.1%} within 24 h, concordance {agreed / max(1, len(opinions)):.1%}, "
        f"{len(reviews)} reviews, {live} open requests ({time.monotonic() - started:.1f}s)"
    )


def _live_work(
    ctx: DemoContext,
    now: dt.datetime,
    doctors: dict[int, list[int]],
    diagnosed: list[tuple[Any, ...]],
    cardiology_id: int | None,
    demo_doctor: User | None,
) -> int:
    """Open requests for the demo doctor's queue (cardiology), one late, and one accepted request with
    an imaging study to open in the room."""
    if demo_doctor is None or cardiology_id is None:
        return 0
    from smartcare.interop.models import ImagingStudy

    rng = ctx.rng
    others = [d for d in doctors if d != cardiology_id]
    count = 0
    for urgency, hours_ago, expert in (
        (Urgency.URGENT, 1, demo_doctor.pk),
        (Urgency.ROUTINE, 5, None),
        (Urgency.ROUTINE, 20, None),  # escalated: due in four hours
        (Urgency.EMERGENCY, 2, demo_doctor.pk),  # late
    ):
        patient_id, _dep, working, _at = rng.choice(diagnosed)
        department_id = rng.choice(others)
        requested = now - dt.timedelta(hours=hours_ago)
        window = default_response_window(urgency)
        consent = Consent.objects.create(
            patient_id=patient_id,
            kind=ConsentKind.DATA_SHARING,
            granted=True,
            recorded_by_id=doctors[department_id][0],
        )
        consultation = Consultation.objects.create(
            patient_id=patient_id,
            requester_id=doctors[department_id][0],
            requesting_department_id=department_id,
            specialty_id=cardiology_id,
            expert_id=expert,
            urgency=urgency,
            question=rng.choice(QUESTIONS),
            working_diagnosis_id=working,
            consent=consent,
            requested_at=requested,
            deadline_at=requested + window,
            escalated_at=now - dt.timedelta(minutes=10) if requested + window * 0.75 <= now else None,
            overdue_at=requested + window if requested + window <= now else None,
        )
        ConsultationEvent.objects.create(consultation=consultation, kind=EventKind.REQUESTED, at=requested)
        count += 1
    # The demo doctor asked neurology (or another department) about a patient with images: accepted.
    study = (
        ImagingStudy.objects.filter(patient__care_relationships__department_id=cardiology_id)
        .order_by("-pk")
        .first()
    )
    if study is not None:
        department_id = rng.choice(others)
        expert_id = doctors[department_id][0]
        code = (
            Diagnosis.objects.filter(encounter__patient=study.patient)
            .values_list("icd10_id", flat=True)
            .first()
            or "I10"
        )
        consent = Consent.objects.create(
            patient=study.patient, kind=ConsentKind.DATA_SHARING, granted=True, recorded_by=demo_doctor
        )
        requested = now - dt.timedelta(hours=3)
        accepted_at = now - dt.timedelta(hours=1)
        consultation = Consultation.objects.create(
            patient=study.patient,
            requester=demo_doctor,
            requesting_department_id=cardiology_id,
            specialty_id=department_id,
            expert_id=expert_id,
            urgency=Urgency.ROUTINE,
            status=ConsultationStatus.ACCEPTED,
            question="影像提示异常，请结合影像协助诊断（可进入视频会诊室共同阅片）。",
            working_diagnosis_id=code,
            consent=consent,
            requested_at=requested,
            deadline_at=requested + default_response_window(Urgency.ROUTINE),
            accepted_at=accepted_at,
            access_until=now + dt.timedelta(days=7),
        )
        consultation.studies.add(study)
        # The room runs on one of the teleconsultation carts (equipment demo), when there is one.
        from smartcare.equipment.models import Asset

        terminal = Asset.objects.filter(kind="video_terminal").order_by("pk").first()
        if terminal is not None:
            Consultation.objects.filter(pk=consultation.pk).update(terminal=terminal)
        CareRelationship.objects.create(
            patient=study.patient,
            department_id=department_id,
            practitioner_user_id=expert_id,
            kind=CareRelationshipKind.CONSULTATION,
            source=f"telemedicine.consultation:{consultation.pk}",
            valid_from=accepted_at,
            valid_until=consultation.access_until,
        )
        for kind, at in ((EventKind.REQUESTED, requested), (EventKind.ACCEPTED, accepted_at)):
            ConsultationEvent.objects.create(consultation=consultation, kind=kind, at=at)
        count += 1
    return count


register_generator("telemedicine", build_telemedicine, order=85)
