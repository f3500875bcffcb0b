"""Demo data of the operations cockpit: the operations manager's targets, score weights and
baseline year (with their history), the daily facts of the demo year, a few management actions
and the evaluation report of the last finished quarter.

The stay and bed indicators (length of stay, bed occupancy and turnover) read the inpatient stays
of the EMR demo (``emr_demo``, which runs before this generator: a year of admissions to the wards
with their notes, orders, results and discharge summaries); this generator adds no stays of its own."""

from __future__ import annotations

import datetime as dt
import time

from django.contrib.auth import get_user_model

from smartcare.accounts.choices import Role
from smartcare.core import clock
from smartcare.emr.choices import EncounterKind
from smartcare.emr.models import Encounter
from smartcare.kpi import facts
from smartcare.kpi.models import ActionStatus, IndicatorSetting, ManagementAction, SettingChange
from smartcare.kpi.periods import period_containing
from smartcare.kpi.report import generate_report
from smartcare.organization.models import Department
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
    stays = Encounter.objects.filter(kind=EncounterKind.INPATIENT).count()
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
