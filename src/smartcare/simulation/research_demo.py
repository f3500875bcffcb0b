"""Demo analytics lake and cohorts (order 90, after every clinical module): the lake is built from the
demo year, and the researcher has a few saved cohorts (one with two versions) that were counted."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.contrib.auth import get_user_model

from smartcare.accounts.choices import Role
from smartcare.core.errors import CodedError
from smartcare.research import cohort_services, lake
from smartcare.simulation.registry import DemoContext, register_generator

log = logging.getLogger(__name__)

# name, description, criteria versions (the last is the current one)
COHORTS: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("2型糖尿病", "诊断 E11 及其亚目的全部患者。", [{"type": "diagnosis", "codes": ["E11"]}]),
    (
        "60岁及以上、2023年起胰岛素治疗的糖尿病患者",
        "课题“2型糖尿病胰岛素治疗患者的肾功能变化”的入组条件。",
        [
            {
                "and": [
                    {"type": "diagnosis", "codes": ["E11"]},
                    {"type": "age", "min": 60},
                    {"type": "medication", "atc": ["A10A"], "window": {"from": "2023-01-01"}},
                ]
            }
        ],
    ),
    (
        "未用降压药的高血压患者",
        "原发性或继发性高血压（I10–I15），从未开具降压药。",
        [
            {
                "and": [
                    {"type": "diagnosis", "codes": ["I10-I15"]},
                    {"not": {"type": "medication", "atc": ["C02", "C03", "C07", "C08", "C09"]}},
                ]
            },
            {
                "and": [
                    {"type": "diagnosis", "codes": ["I10-I15"]},
                    {"type": "age", "min": 40},
                    {"not": {"type": "medication", "atc": ["C02", "C03", "C07", "C08", "C09"]}},
                ]
            },
        ],
    ),
    (
        "糖化血红蛋白控制不佳",
        "最近一年最后一次 HbA1c ≥ 8 %。",
        [
            {
                "type": "lab",
                "code": "4548-4",
                "op": ">=",
                "value": 8,
                "which": "latest",
                "window": {"days_before": 365},
            }
        ],
    ),
    (
        "近90天急诊或住院",
        "近90天有急诊就诊或住院的患者。",
        [{"type": "encounter", "kinds": ["emergency", "inpatient"], "window": {"days_before": 90}}],
    ),
]


def build_research(ctx: DemoContext) -> None:
    started = time.monotonic()
    result = lake.build(full=True)
    built_s = time.monotonic() - started
    researcher = get_user_model().objects.filter(username="researcher", role=Role.RESEARCHER).first()
    if researcher is None:
        ctx.log(f"research: lake built in {built_s:.1f} s; no researcher, no demo cohorts")
        return
    versions = []
    for name, description, definitions in COHORTS:
        cohort = None
        for number, criteria in enumerate(definitions, start=1):
            version = cohort_services.save_cohort(
                researcher,
                definition={"criteria": criteria},
                name=name,
                description=description,
                cohort=cohort,
                comment="" if number == 1 else "增加年龄下限 40 岁",
            )
            cohort = version.cohort
        versions.append(version)
    counted = 0
    for version in versions[:3]:  # a few noisy counts, as a researcher exploring would have made
        try:
            cohort_services.count_cohort(researcher, version=version)
            counted += 1
        except CodedError as exc:  # the demo must not fail for a spent budget
            log.warning("demo cohort count skipped: %s", exc)
    rows = sum(t["rows"] for t in result.tables.values())
    ctx.log(
        f"research: lake of {rows} rows in {len(result.tables)} tables built in {built_s:.1f} s, "
        f"{len(versions)} saved cohorts, {counted} counts"
    )


register_generator("research", build_research, order=90)
