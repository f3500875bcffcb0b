"""Demo data of the operations cockpit: the operations manager's targets, score weights and
baseline year (with their history), the daily facts of the demo year, a few management actions
and the evaluation report of the last finished quarter.

The other generators record outpatient activity only; so that the stay and bed indicators
(length of stay, bed occupancy and turnover) show real figures, a year of finished inpatient stays
is added to the wards of the departments with beds (occupancy about 80 percent, stays shortening
slowly from about 9.5 to 8 days), unless the EMR already has inpatient stays."""

from __future__ import annotations

import datetime as dt
import time

from django.contrib.auth import get_user_model

from smartcare.accounts.choices import Role
from smartcare.core import clock
from smartcare.emr.choices import EncounterKind, EncounterStatus
from smartcare.emr.models import Encounter
from smartcare.kpi import facts
from smartcare.kpi.indicators import day_bounds
from smartcare.kpi.models import ActionStatus, IndicatorSetting, ManagementAction, SettingChange
from smartcare.kpi.periods import period_containing
from smartcare.kpi.report import generate_report
from smartcare.organization.models import Bed, Department
from smartcare.patients.models import Patient
from smartcare.simulation.registry import DemoContext, register_generator

HISTORY_DAYS = 365

# (indicator, field, value, reason, days ago)
SETTINGS = [
    ("tele_volume", "target", 40.0, "运营计划：远程会诊量每月 40 例", 200),
    ("tele_volume", "target", 45.0, "第三季度上调远程会诊目标", 90),
    ("followup_completion", "target", 0.85, "随访完成率先定 85%，下季度再评估", 150),
    ("booking_lead_days", "target", 5.0, "预约至就诊不超过 5 天", 120),
]

ACTIONS = [
    # (indicator, title, owner role, due in days from today, status, outcome)
    (
        "cdss_usage",
        "门诊医生临床辅助决策培训（每科室两场）",
        Role.OPERATIONS_MANAGER,
        -40,
        ActionStatus.DONE,
        "已完成 12 场培训，使用率上升",
    ),
    ("arrival_wait", "上午 9-10 点高峰增开一个诊室", Role.DEPARTMENT_HEAD, 20, ActionStatus.OPEN, ""),
    (
        "booking_success",
        "电话预约渠道增加短信提醒，降低爽约",
        Role.OPERATIONS_MANAGER,
        45,
        ActionStatus.OPEN,
        "",
    ),
    ("equipment_utilization", "CT 预约开放至晚间时段", Role.OPERATIONS_MANAGER, -10, ActionStatus.OPEN, ""),
]


def build_stays(ctx: DemoContext) -> int:
    """A year of finished inpatient stays in the departments that have beds."""
    if Encounter.objects.filter(kind=EncounterKind.INPATIENT).exists():
        return 0
    rng = ctx.rng
    beds: dict[int, int] = {}
    for department_id in Bed.objects.values_list("room__department_id", flat=True):
        if department_id is not None:
            beds[department_id] = beds.get(department_id, 0) + 1
    patients = list(Patient.objects.order_by("pk").values_list("pk", flat=True)[:5000])
    if not beds or not patients:
        return 0
    today = clock.today()
    first = today - dt.timedelta(days=HISTORY_DAYS + 30)
    now = clock.now()
    rows = []
    for department_id, count in sorted(beds.items()):
        for offset in range(HISTORY_DAYS + 30):
            day = first + dt.timedelta(days=offset)
            progress = offset / (HISTORY_DAYS + 30)
            mean_stay = 9.5 - 1.5 * progress
            admissions = count * 0.8 / mean_stay
            for _ in range(int(admissions) + (rng.random() < admissions % 1)):
                start, _end = day_bounds(day, day)
                admitted = start + dt.timedelta(hours=rng.uniform(8, 20))
                discharged = admitted + dt.timedelta(days=max(1.0, rng.gammavariate(4.0, mean_stay / 4.0)))
                if discharged >= now:
                    continue
                rows.append(
                    Encounter(
                        patient_id=rng.choice(patients),
                        kind=EncounterKind.INPATIENT,
                        department_id=department_id,
                        status=EncounterStatus.FINISHED,
                        started_at=admitted,
                        ended_at=discharged,
                        admitted_at=admitted,
                        discharged_at=discharged,
                        reason="住院",
                    )
                )
    Encounter.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def build_kpi(ctx: DemoContext) -> None:
    started = time.monotonic()
    users = get_user_model().objects
    manager = users.filter(role=Role.OPERATIONS_MANAGER, is_active=True).order_by("pk").first()
    head = users.filter(role=Role.DEPARTMENT_HEAD, is_active=True).order_by("pk").first()
    now = clock.now()
    today = clock.today()
    baseline_year = (today - dt.timedelta(days=HISTORY_DAYS)).year
    for code in ("length_of_stay", "bed_occupancy", "bed_turnover", "cost_per_case"):
        IndicatorSetting.objects.update_or_create(
            code=code, defaults={"baseline_year": baseline_year, "updated_by": manager}
        )
        SettingChange.objects.create(
            code=code,
            field="baseline_year",
            old_value="",
            new_value=str(baseline_year),
            reason="以上线首年为基线",
            changed_by=manager,
            changed_at=now - dt.timedelta(days=HISTORY_DAYS - 5),
        )
    for code, field_name, value, reason, days_ago in SETTINGS:
        setting, _created = IndicatorSetting.objects.get_or_create(code=code)
        old = getattr(setting, field_name)
        setattr(setting, field_name, value)
        setting.updated_by = manager
        setting.save()
        SettingChange.objects.create(
            code=code,
            field=field_name,
            old_value="" if old is None else f"{old:g}",
            new_value=f"{value:g}",
            reason=reason,
            changed_by=manager,
            changed_at=now - dt.timedelta(days=days_ago),
        )
    stays = build_stays(ctx)
    rows = facts.build_facts(today - dt.timedelta(days=HISTORY_DAYS), today)
    department = Department.objects.filter(
        pk=getattr(getattr(head, "practitioner", None), "department_id", None) or 0
    ).first()
    actions = []
    for code, title, role, due_in, status, outcome in ACTIONS:
        owner = head if role == Role.DEPARTMENT_HEAD and head else manager
        if owner is None or manager is None:
            continue
        actions.append(
            ManagementAction.objects.create(
                code=code,
                title=title,
                owner=owner,
                department=department if owner == head else None,
                due_on=today + dt.timedelta(days=due_in),
                status=status,
                outcome=outcome,
                closed_at=now if status != ActionStatus.OPEN else None,
                created_by=manager,
                created_at=now - dt.timedelta(days=60),
            )
        )
    quarter = period_containing("quarter", today).previous()
    report = generate_report(None, quarter.label)
    ctx.log(
        f"kpi: {stays} inpatient stays, {rows} daily facts over {HISTORY_DAYS} days, "
        f"{len(SETTINGS) + 4} setting changes, "
        f"{len(actions)} management actions, report {report.period} "
        f"({len(report.pdf or b'') // 1024} KiB PDF) ({time.monotonic() - started:.1f}s)"
    )


register_generator("kpi", build_kpi, order=95)
