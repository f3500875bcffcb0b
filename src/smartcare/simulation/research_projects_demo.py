"""Demo research projects (order 91, after the lake and cohorts of ``research_demo``): a dozen
projects registered over the demo year in every state (ten approved within the last twelve months,
one rejected with a reason, one expired, one waiting for review), a few patients who withdrew
research consent, some exploration spent from the privacy budgets, and one de-identified export
of a saved cohort."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from smartcare.accounts.choices import Role
from smartcare.core import clock
from smartcare.core.errors import CodedError
from smartcare.patients.models import Patient
from smartcare.research import consent, exports, privacy
from smartcare.research import projects as services
from smartcare.research.models import ResearchProject
from smartcare.simulation.registry import DemoContext, register_generator

log = logging.getLogger(__name__)

# title, aims, days ago registered, days to decision (None: waiting), approved?, ethics months
PROJECTS: list[tuple[str, str, int, int | None, bool, int]] = [
    (
        "2型糖尿病胰岛素治疗患者的肾功能变化",
        "描述胰岛素治疗的2型糖尿病患者 eGFR 的年下降速度及其影响因素。",
        350,
        6,
        True,
        24,
    ),
    ("高血压患者随访依从性与血压控制", "评估电话随访和家庭血压监测对血压达标率的影响。", 320, 9, True, 18),
    ("急性心梗后30天再入院风险", "建立心肌梗死出院后30天再入院的风险模型并做外部验证。", 290, 4, True, 24),
    ("社区获得性肺炎抗菌药物使用", "描述门急诊社区获得性肺炎的抗菌药物选择与疗程。", 260, 12, True, 12),
    ("慢性心衰患者的家庭监测", "分析家庭体重与血压读数对心衰加重的预警价值。", 230, 7, True, 24),
    ("老年患者多重用药与跌倒", "65岁及以上患者多重用药与跌倒相关就诊的关系。", 200, 5, True, 18),
    ("脑卒中后康复随访结局", "脑卒中出院后康复随访完成率与功能结局。", 170, 10, True, 24),
    ("妊娠期糖尿病产后随访", "妊娠期糖尿病患者产后血糖筛查的完成率。", 140, 8, True, 12),
    ("慢阻肺急性加重与季节", "慢阻肺急性加重就诊的季节分布与气象因素。", 110, 6, True, 24),
    ("门诊候诊时间与满意度", "候诊时间与门诊满意度问卷得分的关系。", 80, 3, True, 12),
    ("全院患者基因检测数据共享", "申请导出全院患者身份信息用于外部基因检测公司合作。", 60, 5, False, 12),
    ("甲状腺结节超声随访", "甲状腺结节超声随访间隔与恶性检出。", 12, None, True, 24),
]
# An older project whose ethics approval has expired (approved before the demo year).
EXPIRED = ("儿童哮喘急诊就诊趋势", "2019–2024 年儿童哮喘急诊就诊的趋势分析。", 420, 10, 12)
REJECTION = "伦理批件未覆盖对外共享可识别数据，且研究目的与数据最小化原则不符。"
WITHDRAWALS = 6


def _user(username: str, role: str, display: str, password: str | None) -> Any:
    users = get_user_model().objects
    user = users.filter(username=username).first()
    if user is None:
        user = users.create_user(
            username=username, password=password or None, role=role, display_name=display
        )
    return user


def _backdate(project: ResearchProject, created: dt.datetime, decided: dt.datetime | None) -> None:
    ResearchProject.objects.filter(pk=project.pk).update(created_at=created, decided_at=decided)


def _register(
    researcher: Any, co: Any, title: str, aims: str, registered: dt.date, months: int, number: int
) -> ResearchProject:
    return services.register_project(
        researcher,
        services.ProjectInput(
            title=title,
            aims=aims,
            ethics_number=f"KY-{registered.year}-{number:03d}",
            ethics_valid_from=registered,
            ethics_valid_until=registered + dt.timedelta(days=30 * months),
            investigators=[co.get_username()] if co is not None else [],
        ),
    )


def _export_one(researcher: Any, project: ResearchProject, ctx: DemoContext) -> None:
    """One export of a saved cohort, when the lake and a cohort exist (``research_demo``)."""
    from smartcare.research import lake
    from smartcare.research.models import CohortVersion

    if not lake.is_built():
        ctx.log("research projects: no lake built, demo export skipped")
        return
    from smartcare.research import cohorts

    # The researcher's saved cohort with the most people (the lake's demo saved a few).
    candidates = list(
        CohortVersion.objects.filter(cohort__owner=researcher, cohort__is_archived=False).order_by(
            "-created_at"
        )[:10]
    )
    sized = [(cohorts.run(v, with_keys=False).count, v) for v in candidates]
    version = max(sized, key=lambda pair: pair[0])[1] if sized and max(n for n, _v in sized) > 0 else None
    if version is None:
        from smartcare.research.cohort_services import save_cohort

        version = save_cohort(
            researcher,
            name="高血压患者",
            definition={"criteria": {"type": "diagnosis", "codes": ["I10-I15"]}},
        )
    try:
        export = exports.create_export(
            researcher,
            project,
            exports.ExportRequest(file_format="csv", cohort_version_id=version.pk),
        )
    except CodedError as exc:  # the demo must not fail for the lake's state
        ctx.log(f"research projects: demo export refused ({exc.code})")
        return
    exports.open_download(researcher, export)
    ctx.log(f"research projects: export {export.pk} with {export.rows} rows, {export.suppressed} suppressed")


def build_research_projects(ctx: DemoContext) -> None:
    started = time.monotonic()
    rng = ctx.rng
    password = ctx.state.get("password")
    researcher = _user("researcher", Role.RESEARCHER, "吴思 研究员", password)
    steward = _user("steward", Role.DATA_STEWARD, "郑文 数据管理", password)
    co = _user("researcher2", Role.RESEARCHER, "钱程 研究员", password)
    desk = get_user_model().objects.filter(role=Role.FRONT_DESK, is_active=True).order_by("pk").first()
    now = clock.now()
    today = clock.today()
    approved: list[ResearchProject] = []

    old_title, old_aims, old_ago, old_decision, old_months = EXPIRED
    registered = today - dt.timedelta(days=old_ago)
    old = _register(researcher, None, old_title, old_aims, registered, old_months, 1)
    services.approve_project(steward, old, reason="伦理批件核对无误")
    _backdate(old, now - dt.timedelta(days=old_ago), now - dt.timedelta(days=old_ago - old_decision))

    for number, (title, aims, ago, decide_after, ok, months) in enumerate(PROJECTS, start=2):
        registered = today - dt.timedelta(days=ago)
        lead, other = (researcher, co) if number % 3 else (co, researcher)
        project = _register(lead, other, title, aims, registered, months, number)
        decided = None
        if decide_after is not None:
            if ok:
                project = services.approve_project(steward, project, reason="伦理批件与研究方案核对无误")
                approved.append(project)
            else:
                services.reject_project(steward, project, reason=REJECTION)
            decided = now - dt.timedelta(days=ago - decide_after, hours=rng.randint(0, 6))
        _backdate(project, now - dt.timedelta(days=ago), decided)

    # Patients who withdrew research consent (one changed their mind again).
    withdrawn = 0
    if desk is not None:
        candidates = list(
            Patient.objects.filter(~Q(pk=getattr(ctx.state.get("demo_patient"), "pk", 0))).order_by("pk")[
                :400
            ]
        )
        for patient in rng.sample(candidates, min(WITHDRAWALS + 1, len(candidates))):
            consent.record_research_consent(desk, patient, granted=False, note="患者来电撤回科研使用同意")
            withdrawn += 1
        if withdrawn:
            consent.record_research_consent(desk, patient, granted=True, note="患者再次同意")
            withdrawn -= 1

    # Some exploration: noisy counts and a histogram spent from the personal budget.
    for purpose in ("可行性评估", "样本量估计"):
        privacy.release_count(
            user=researcher, project=None, true_count=rng.randint(200, 900), purpose=purpose
        )

    target = next((p for p in approved if p.principal_investigator_id == researcher.pk), None)
    if target is not None:
        _export_one(researcher, target, ctx)
    ctx.log(
        f"research projects: {len(PROJECTS) + 1} projects ({len(approved)} approved this year), "
        f"{withdrawn} consent withdrawals in {time.monotonic() - started:.1f} s"
    )


register_generator("research_projects", build_research_projects, order=91)
