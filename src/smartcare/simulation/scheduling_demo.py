"""The demo hospital's booking and visit activity: time-slot booking, check-in and queues.

Builds, deterministically for a seed and a date:

- reference data: bookable exams with their preparation, what to bring to each department,
  when each department releases its slots, and the hospital's booking policy;
- weekly schedule templates for every doctor and every exam room;
- a year of past clinic sessions for a sample of doctors, with bookings over every channel,
  cancellations, no-shows, check-ins and finished queues (waits and consultation times);
- the next two weeks of sessions for every template with bookings at a lower fill;
- the demo patient's bookings and a live queue in the demo doctor's session today.

Rows are bulk-created from plans made here; going through the booking services one row at a
time would take far too long for a year. The invariants the services keep hold here too (and
``tests/simulation/test_scheduling_demo.py`` checks them): ``Slot.booked`` is the number of
non-cancelled bookings of the slot and never above its capacity; a patient has at most one
booking per department, date and period; a session calls one patient at a time.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.color import no_style
from django.db import connections, router
from django.db.models import DateField, DateTimeField, Max, Model

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import CareRelationship, User
from smartcare.core import clock
from smartcare.organization.choices import RoomKind
from smartcare.organization.models import Department, Practitioner, Room
from smartcare.patients.models import Patient
from smartcare.scheduling.choices import AppointmentStatus, Channel, FeeClass, Period, SessionStatus
from smartcare.scheduling.models import (
    Appointment,
    BookingPolicy,
    ClinicSession,
    ExamType,
    PreVisitRule,
    ReleaseRule,
    ScheduleTemplate,
    Slot,
    VisitPreparation,
)
from smartcare.scheduling.services import generate_sessions
from smartcare.simulation.registry import DemoContext, register_generator
from smartcare.visits.choices import EntryState, Priority
from smartcare.visits.models import QueueEntry
from smartcare.visits.services import PRIORITY_AGE

DEMO_DOCTOR = "doctor"
DEMO_PATIENT_USER = "patient"
KIOSK_USERNAME = "kiosk-1"
CARDIOLOGY = "03.04"
PAST_DAYS = 365
UPCOMING_DAYS = 15  # today and the next 14 days
SAMPLE_DOCTORS = 40
FLUSH_EVERY_DAYS = 30
BATCH = 1000

# --- Reference data ------------------------------------------------------------------------------

# (code, department, name zh, name en, LOINC (only where certain), minutes, prep zh, prep en, routine)
EXAM_TYPES: list[tuple[str, str, str, str, str, int, str, str, bool]] = [
    (
        "CT-HEAD",
        "32.02",
        "头颅 CT 平扫",
        "CT head without contrast",
        "30799-1",
        10,
        "检查前请取下发夹、耳环、项链、活动假牙等金属物品；孕妇或可能怀孕者请提前告知医生。",
        "Remove hairpins, earrings, necklaces, removable dentures and other metal objects before the "
        "scan. Tell the staff if you are or may be pregnant.",
        False,
    ),
    (
        "CT-CHEST",
        "32.02",
        "胸部 CT 平扫",
        "CT chest without contrast",
        "29252-4",
        10,
        "请穿着无金属纽扣和拉链的衣物，取下项链、带钢圈的内衣等金属物品；检查时请按语音提示屏气。"
        "孕妇或可能怀孕者请提前告知医生。",
        "Wear clothes without metal buttons or zips and remove necklaces, underwired bras and other metal "
        "objects; hold your breath when the scanner asks. Tell the staff if you are or may be pregnant.",
        False,
    ),
    (
        "CT-ABD",
        "32.02",
        "上腹部 CT",
        "CT abdomen",
        "",
        15,
        "检查前禁食 4 小时；取下腰带、钥匙、手机等金属物品。如需增强扫描，请告知碘对比剂过敏史和肾功能情况，"
        "检查后多饮水。一周内做过钡餐检查者请告知医生。",
        "Do not eat for 4 hours before the scan; remove belts, keys, phones and other metal objects. If "
        "contrast is needed, tell the staff about any allergy to iodine contrast and any kidney disease, "
        "and drink plenty of water afterwards. Tell the staff if you had a barium study in the past week.",
        False,
    ),
    (
        "US-PELVIS",
        "32.05",
        "盆腔超声（经腹）",
        "Pelvic ultrasound (transabdominal)",
        "",
        15,
        "检查需充盈膀胱：检查前 1 小时饮水 500-1000 毫升，有明显尿意后再检查，检查结束前请勿排尿。",
        "The scan needs a full bladder: drink 500-1000 ml of water an hour before and do not pass urine "
        "until the scan is over.",
        False,
    ),
    (
        "US-ABD",
        "32.05",
        "腹部超声（肝胆胰脾）",
        "Abdominal ultrasound (liver, gallbladder, pancreas, spleen)",
        "24558-9",
        15,
        "检查前空腹 8-12 小时：前一晚清淡饮食，晚 10 点后禁食，检查当日早晨请勿进食和饮水。",
        "Fast for 8-12 hours before the scan: a light meal the evening before, nothing after 10 pm, and "
        "nothing to eat or drink on the morning of the scan.",
        False,
    ),
    (
        "US-THYROID",
        "32.05",
        "甲状腺超声",
        "Thyroid ultrasound",
        "",
        15,
        "无需空腹；请穿着低领或开领衣物，检查前取下项链。",
        "No fasting needed; wear a low or open collar and remove necklaces before the scan.",
        False,
    ),
    (
        "ECG",
        "32.06",
        "常规 12 导联心电图",
        "Resting 12-lead ECG",
        "11524-6",
        10,
        "检查前安静休息 5 分钟，避免剧烈运动、吸烟和饮用咖啡；请穿着便于露出胸部、手腕和脚踝的衣物，"
        "取下手表和金属饰物。",
        "Rest quietly for 5 minutes before the test and avoid exercise, smoking and coffee beforehand; wear "
        "clothes that let the chest, wrists and ankles be uncovered, and remove watches and metal jewellery.",
        True,
    ),
    (
        "LAB-GLU",
        "30",
        "空腹血糖",
        "Fasting blood glucose",
        "14771-0",
        5,
        "抽血前空腹 8-12 小时（可少量饮白开水），请于上午 10 点前抽血。糖尿病患者请携带降糖药物，抽血后再服用，"
        "并备少量食物以防低血糖。",
        "Fast for 8-12 hours before the blood draw (small sips of plain water are fine) and come before "
        "10 am. If you have diabetes, bring your medicines to take after the draw and a snack in case "
        "your blood sugar runs low.",
        False,
    ),
    (
        "LAB-CBC",
        "30",
        "血常规",
        "Complete blood count (CBC)",
        "58410-2",
        5,
        "无需空腹；抽血前避免剧烈运动，请穿着袖口宽松的衣物。",
        "No fasting needed; avoid strenuous exercise beforehand and wear loose sleeves.",
        True,
    ),
    (
        "LAB-LFT",
        "30",
        "肝功能",
        "Liver function panel",
        "24325-3",
        5,
        "抽血前空腹 8-12 小时；前一天请勿饮酒，避免高脂饮食。",
        "Fast for 8-12 hours before the blood draw; no alcohol and no fatty food the day before.",
        False,
    ),
    (
        "LAB-HBA1C",
        "30",
        "糖化血红蛋白",
        "Haemoglobin A1c (HbA1c)",
        "4548-4",
        5,
        "无需空腹，可与其他血液检查同时抽血。",
        "No fasting needed; it can be drawn together with other blood tests.",
        False,
    ),
]

# Which exam each room of an exam department runs, per period, every weekday:
# department -> [(room index, period, exam code, start, end, patients per 15-minute slot)].
EXAM_ROOM_PLAN: dict[str, list[tuple[int, str, str, dt.time, dt.time, int]]] = {
    "32.02": [
        (0, Period.MORNING, "CT-HEAD", dt.time(8, 0), dt.time(12, 0), 3),
        (0, Period.AFTERNOON, "CT-CHEST", dt.time(13, 30), dt.time(17, 0), 3),
        (1, Period.MORNING, "CT-CHEST", dt.time(8, 0), dt.time(12, 0), 3),
        (1, Period.AFTERNOON, "CT-ABD", dt.time(13, 30), dt.time(17, 0), 2),
    ],
    "32.05": [
        (0, Period.MORNING, "US-ABD", dt.time(8, 0), dt.time(12, 0), 1),
        (0, Period.AFTERNOON, "US-PELVIS", dt.time(13, 30), dt.time(17, 0), 1),
        (1, Period.MORNING, "US-THYROID", dt.time(8, 0), dt.time(12, 0), 1),
        (1, Period.AFTERNOON, "US-PELVIS", dt.time(13, 30), dt.time(17, 0), 1),
    ],
    "32.06": [
        (0, Period.MORNING, "ECG", dt.time(8, 0), dt.time(12, 0), 2),
        (0, Period.AFTERNOON, "ECG", dt.time(13, 30), dt.time(17, 0), 2),
        (1, Period.MORNING, "ECG", dt.time(8, 0), dt.time(12, 0), 2),
        (1, Period.AFTERNOON, "ECG", dt.time(13, 30), dt.time(17, 0), 2),
    ],
    "30": [
        (0, Period.MORNING, "LAB-GLU", dt.time(7, 30), dt.time(10, 30), 8),
        (1, Period.MORNING, "LAB-LFT", dt.time(7, 30), dt.time(10, 30), 6),
        (0, Period.AFTERNOON, "LAB-CBC", dt.time(13, 30), dt.time(17, 0), 6),
        (1, Period.AFTERNOON, "LAB-HBA1C", dt.time(13, 30), dt.time(17, 0), 4),
    ],
}

PREPARATION_BASE = (
    "请携带身份证、医保卡（或电子医保凭证）、既往病历和检查报告，以及正在服用的药物清单；请提前 15 分钟到达签到。",
    "Bring your ID card, medical insurance card (or electronic insurance code), previous records and test "
    "reports, and a list of the medicines you take; arrive 15 minutes early to check in.",
)
PREPARATION_BY_DEPARTMENT: dict[str, tuple[str, str]] = {
    "02": (
        "慢性病患者请携带近期血压、血糖记录。",
        "If you have a long-term condition, bring your recent blood pressure and blood sugar records.",
    ),
    "03.01": (
        "请全程佩戴口罩；请携带既往胸片或胸部 CT 影像。如需做肺功能检查，检查前 4 小时内请勿吸烟。",
        "Wear a mask throughout; bring previous chest X-ray or CT images. If a lung function test is "
        "likely, do not smoke for 4 hours before.",
    ),
    "03.02": (
        "如可能需要做胃镜或腹部超声，请就诊当日空腹（禁食 8 小时以上）；请携带既往胃肠镜报告。",
        "If an endoscopy or abdominal ultrasound is likely, come fasting (nothing to eat for at least 8 "
        "hours); bring previous endoscopy reports.",
    ),
    "03.03": (
        "如有头晕、肢体无力等症状，请家属陪同；请携带既往头颅 CT 或 MRI 影像。",
        "Come with a relative if you have dizziness or weakness; bring previous head CT or MRI images.",
    ),
    "03.04": (
        "请携带既往心电图、心脏超声报告；高血压患者请带上近一周的家庭血压记录。请照常服药，除非医生另有嘱咐。",
        "Bring previous ECGs and echocardiography reports; if you have high blood pressure, bring a week "
        "of home readings. Take your usual medicines unless your doctor told you otherwise.",
    ),
    "03.06": (
        "请携带近期肾功能、尿常规化验单；如需抽血查肾功能，建议空腹。透析患者请携带透析记录。",
        "Bring recent kidney function and urine test results; come fasting if a kidney blood test is "
        "likely. Dialysis patients, bring your dialysis records.",
    ),
    "03.07": (
        "糖尿病患者请携带血糖记录；如需查空腹血糖，请空腹 8-12 小时，并携带降糖药物在抽血后服用。",
        "If you have diabetes, bring your blood sugar records; for a fasting glucose test, fast for 8-12 "
        "hours and bring your diabetes medicines to take after the blood draw.",
    ),
    "03.10": (
        "建议家属陪同；请携带所有正在服用的药物（包括保健品）。",
        "A relative is welcome to come with you; bring all the medicines you take, supplements included.",
    ),
    "04.01": (
        "如可能需做腹部超声，请空腹；请穿着宽松衣物便于查体。",
        "Come fasting if an abdominal ultrasound is likely; wear loose clothes for the examination.",
    ),
    "04.02": ("请携带头颅或脊柱 CT、MRI 影像资料。", "Bring head or spine CT and MRI images."),
    "04.03": (
        "请携带 X 光片、CT 或 MRI 影像；请穿着便于露出受伤部位的宽松衣物。",
        "Bring X-ray, CT or MRI images; wear loose clothes so the injured area can be examined.",
    ),
    "04.04": (
        "就诊前适量饮水、暂勿排空膀胱，以便留取尿常规或做泌尿系超声。",
        "Drink some water and do not empty your bladder before the visit, for a urine test or bladder scan.",
    ),
    "04.05": ("请携带胸部 CT 影像（胶片或光盘）。", "Bring your chest CT images (films or disc)."),
    "05.01": (
        "请尽量避开月经期；检查前 24 小时内避免性生活和阴道用药。",
        "If possible avoid your period; no intercourse or vaginal medicines for 24 hours before.",
    ),
    "05.02": (
        "请携带母子健康手册及既往产检报告；首次产检可能需要空腹抽血。",
        "Bring your maternal and child health handbook and previous antenatal reports; the first visit "
        "may need a fasting blood test.",
    ),
    "07": (
        "须由监护人陪同；请携带儿童预防接种证。如孩子发热，请先到预检分诊台测体温。",
        "A parent or guardian must come; bring the child's vaccination record. If the child has a fever, "
        "go to the triage desk first.",
    ),
    "10": (
        "就诊当日请勿佩戴隐形眼镜，并携带框架眼镜；如需散瞳，散瞳后数小时内视物模糊，请勿自行驾车。",
        "Do not wear contact lenses on the day of the visit and bring your glasses. If your pupils are "
        "dilated, your sight stays blurred for a few hours: do not drive yourself.",
    ),
    "11": (
        "如需做听力检查，检查前一天请避免长时间处于噪音环境。",
        "If a hearing test is likely, avoid loud noise the day before.",
    ),
    "12": (
        "就诊前请刷牙；如可能拔牙，请勿空腹，服用抗凝药物者请告知医生。",
        "Brush your teeth before the visit; if an extraction is likely, eat beforehand and tell the "
        "dentist if you take blood thinners.",
    ),
    "13": (
        "就诊前请勿在皮损处涂抹药膏或化妆品，以免影响诊断。",
        "Do not put creams or make-up on the affected skin before the visit.",
    ),
    "15": (
        "建议家属陪同；请携带既往用药记录。",
        "A relative is welcome to come; bring your medicine records.",
    ),
    "16": (
        "请佩戴口罩，按指引前往东院感染楼就诊；请携带既往肝功能和病毒学检查报告。",
        "Wear a mask and follow the signs to the infectious diseases building on the east campus; bring "
        "previous liver function and virology reports.",
    ),
    "19": (
        "请携带病理报告、既往影像资料和治疗记录（手术、化疗、放疗）。",
        "Bring pathology reports, previous images and treatment records (surgery, chemotherapy, radiotherapy).",
    ),
    "20": (
        "危急情况请直接前往急诊，无需预约。",
        "In an emergency come straight to the emergency department; no booking needed.",
    ),
    "21": ("请穿着宽松衣物和防滑运动鞋。", "Wear loose clothes and non-slip trainers."),
    "26": (
        "术前麻醉评估：请携带术前检查报告和正在服用的药物清单，特别是抗凝药物。",
        "Pre-operative assessment: bring your pre-operative test reports and a list of your medicines, "
        "especially blood thinners.",
    ),
    "28": (
        "重症医学科门诊为转出患者复诊，请携带出院小结。",
        "The critical care clinic follows up patients after discharge: bring your discharge summary.",
    ),
    "50": (
        "就诊前请勿食用易染舌苔的食物或饮料（如咖啡、橘子），以便观察舌象。",
        "Avoid food and drinks that stain the tongue (coffee, oranges) before the visit.",
    ),
}
# Departments whose (expert) slots are released 14 days ahead instead of 7.
LONG_RELEASE = {"03.04", "04.03", "10", "19"}

# --- Activity patterns ---------------------------------------------------------------------------

CHANNEL_WEIGHTS: list[tuple[str, int]] = [
    (Channel.MINI_PROGRAM, 45),
    (Channel.APP, 20),
    (Channel.PORTAL, 12),
    (Channel.FRONT_DESK, 12),
    (Channel.KIOSK, 8),
    (Channel.PHONE, 3),
]
ONLINE_CHANNEL_WEIGHTS = [(c, w) for c, w in CHANNEL_WEIGHTS if c not in (Channel.FRONT_DESK, Channel.KIOSK)]
WALK_IN = frozenset({Channel.FRONT_DESK, Channel.KIOSK})
CANCEL_REASONS = [
    "行程有变",
    "症状已缓解",
    "已在其他医院就诊",
    "时间冲突，改约其他时间",
    "重复预约",
    "身体不适无法前来",
    "家中有事",
]
STOP_REASONS = ["医生临时外出会诊，停诊", "医生参加学术会议，停诊", "医生病假，停诊"]
# Departments without outpatient sampling (the emergency department does not book by slot).
NOT_SAMPLED = {"20", "26", "28"}
WINTER_PEAK = {"02", "03.01", "07", "11", "16"}
EVENING_CLINICS = {"02", "07", "10", "12", "13"}
PERIOD_TIMES = {
    Period.MORNING: (dt.time(8, 0), dt.time(12, 0)),
    Period.AFTERNOON: (dt.time(13, 30), dt.time(17, 0)),
    Period.EVENING: (dt.time(18, 0), dt.time(21, 0)),
}

# Chinese public holidays: lunar dates by year (the fixed-date ones are computed).
LUNAR_NEW_YEAR = {
    2020: (1, 25),
    2021: (2, 12),
    2022: (2, 1),
    2023: (1, 22),
    2024: (2, 10),
    2025: (1, 29),
    2026: (2, 17),
    2027: (2, 6),
    2028: (1, 26),
    2029: (2, 13),
    2030: (2, 3),
    2031: (1, 23),
    2032: (2, 11),
    2033: (1, 31),
    2034: (2, 19),
    2035: (2, 8),
}
DRAGON_BOAT = {2024: (6, 10), 2025: (5, 31), 2026: (6, 19), 2027: (6, 9)}
MID_AUTUMN = {2024: (9, 17), 2025: (10, 6), 2026: (9, 25), 2027: (9, 15)}


def holidays(year: int) -> set[dt.date]:
    """Public holidays of a year (without the swapped working weekends)."""
    days: set[dt.date] = {dt.date(year, 1, 1)}
    if year in LUNAR_NEW_YEAR:
        new_year = dt.date(year, *LUNAR_NEW_YEAR[year])
        days |= {new_year + dt.timedelta(days=k) for k in range(-1, 7)}  # Spring Festival week
    days |= {dt.date(year, 4, d) for d in (4, 5, 6)}  # Qingming
    days |= {dt.date(year, 5, d) for d in range(1, 6)}  # Labour Day
    for table in (DRAGON_BOAT, MID_AUTUMN):
        if year in table:
            days.add(dt.date(year, *table[year]))
    days |= {dt.date(year, 10, d) for d in range(1, 8)}  # National Day week
    return days


def day_factor(date: dt.date, holiday_days: set[dt.date]) -> float:
    """How much busier than usual a day is: Monday and after-holiday peaks, quieter weekends."""
    factor = {0: 0.08, 1: 0.03, 2: 0.0, 3: 0.0, 4: -0.03, 5: -0.10, 6: -0.15}[date.weekday()]
    if date not in holiday_days and any(date - dt.timedelta(days=k) in holiday_days for k in (1, 2, 3)):
        factor += 0.12
    return factor


PRE_VISIT_RULES = [
    ("03.04", "ECG", 40),
    ("03.07", "LAB-GLU", None),
    ("03.07", "LAB-HBA1C", None),
    ("03.05", "LAB-CBC", None),
]


class Weighted:
    """A weighted choice with its cumulative weights computed once (it is drawn ~300,000 times)."""

    def __init__(self, items: list[tuple[str, int]]) -> None:
        self.values = [value for value, _weight in items]
        self.cumulative = list(itertools.accumulate(weight for _value, weight in items))

    def draw(self, rng: random.Random) -> str:
        return rng.choices(self.values, cum_weights=self.cumulative, k=1)[0]


CHANNELS = Weighted(CHANNEL_WEIGHTS)
ONLINE_CHANNELS = Weighted(ONLINE_CHANNEL_WEIGHTS)
PHONE_CHECK_IN = Weighted([("phone", 55), ("kiosk", 30), ("desk", 15)])


def arrival_offset_minutes(rng: random.Random) -> float:
    """Arrival relative to the booked time: mostly up to 30 minutes early, some up to 20 late."""
    if rng.random() < 0.85:
        return rng.triangular(-30, 5, -12)
    return rng.uniform(0, 20)


def consultation_minutes(rng: random.Random, mode: float) -> float:
    return rng.triangular(5, 15, mode)


@dataclass
class QueuedVisit:
    """A patient who came: enough to replay the session's queue."""

    arrived: dt.datetime
    slot_start: dt.datetime
    priority: int
    booking: Booking | None = None
    late: bool = False
    order_time: dt.datetime | None = None
    called: dt.datetime | None = None
    finished: dt.datetime | None = None
    recalls: int = 0
    number: str = ""


def replay_queue(
    rng: random.Random,
    visits: list[QueuedVisit],
    *,
    doctor_starts: dt.datetime,
    consult_mode: float,
    late_grace: dt.timedelta,
    prefix: str = "A",
) -> None:
    """One doctor calls one patient at a time, by priority, then order time, then arrival (the
    rules in ``visits.models.QueueEntry``): fills numbers, order times, call and finish times."""
    visits.sort(key=lambda v: v.arrived)
    for n, visit in enumerate(visits, start=1):
        visit.number = f"{prefix}{n:03d}"
        visit.late = visit.arrived > visit.slot_start + late_grace
        visit.order_time = visit.arrived if visit.late else visit.slot_start
    waiting: list[QueuedVisit] = []
    moment = doctor_starts
    index = 0
    while index < len(visits) or waiting:
        while index < len(visits) and visits[index].arrived <= moment:
            waiting.append(visits[index])
            index += 1
        if not waiting:
            moment = visits[index].arrived
            continue
        chosen = min(waiting, key=lambda v: (v.priority, v.order_time, v.arrived))
        waiting.remove(chosen)
        if rng.random() < 0.04:  # not at the door at the first call
            chosen.recalls = 1
            moment += dt.timedelta(minutes=rng.uniform(0.5, 2))
        chosen.called = moment
        chosen.finished = moment + dt.timedelta(minutes=consultation_minutes(rng, consult_mode))
        moment = chosen.finished + dt.timedelta(minutes=rng.uniform(0.3, 1.5))


# --- Writing rows --------------------------------------------------------------------------------


class RowWriter:
    """Inserts plain rows into a model's table with ``executemany``.

    ``bulk_create`` compiles every value of every object field by field; for the ~600,000 rows of a
    year that alone takes minutes. Here values are adapted once per column type, and the model's
    other fields get their defaults (``auto_now`` fields the current time), so a field added to the
    model later still gets a value. Ids are allocated here (from the largest id + 1) when rows refer
    to each other, so nothing else may insert into those tables between ``new_id`` and ``flush``.
    """

    def __init__(self, model: type[Model], columns: list[str], *, with_id: bool = False) -> None:
        self.model = model
        self.connection = connections[router.db_for_write(model)]
        meta = model._meta
        by_attname = {f.attname: f for f in meta.concrete_fields}
        pk_name = meta.pk.attname if meta.pk is not None else "id"
        names = ([pk_name] if with_id else []) + columns
        fields = [by_attname[name] for name in names]
        now = clock.now()
        rest = [f for f in meta.concrete_fields if f.attname not in names and f is not meta.pk]
        self.fixed = tuple(
            f.get_db_prep_save(
                now
                if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
                else f.get_default(),
                self.connection,
            )
            for f in rest
        )
        quote = self.connection.ops.quote_name
        columns_sql = ", ".join(quote(f.column or f.attname) for f in fields + rest)
        placeholders = ", ".join(["%s"] * (len(fields) + len(rest)))
        # Table and column names come from the model, values are parameters.
        self.sql = f"INSERT INTO {quote(meta.db_table)} ({columns_sql}) VALUES ({placeholders})"  # noqa: S608
        self.datetimes = [i for i, f in enumerate(fields) if isinstance(f, DateTimeField)]
        self.dates = [
            i for i, f in enumerate(fields) if isinstance(f, DateField) and not isinstance(f, DateTimeField)
        ]
        self.rows: list[list[Any]] = []
        self.with_id = with_id
        self.written = 0
        self.next_id = 1
        if with_id:
            self.next_id = (model._default_manager.aggregate(top=Max("pk"))["top"] or 0) + 1

    def new_id(self) -> int:
        value = self.next_id
        self.next_id += 1
        return value

    def add(self, row: list[Any]) -> None:
        self.rows.append(row)

    def flush(self) -> None:
        if not self.rows:
            return
        adapt_date = self.connection.ops.adapt_datefield_value
        adapt_datetime = self.connection.ops.adapt_datetimefield_value
        sqlite = self.connection.vendor == "sqlite"
        zone = self.connection.timezone
        for row in self.rows:
            for i in self.datetimes:
                value = row[i]
                if value is None:
                    continue
                # SQLite: what its backend stores (naive, in the connection's zone), minus the checks.
                row[i] = str(value.astimezone(zone).replace(tzinfo=None)) if sqlite else adapt_datetime(value)
            for i in self.dates:
                row[i] = adapt_date(row[i])
            row.extend(self.fixed)
        with self.connection.cursor() as cursor:
            for start in range(0, len(self.rows), 5000):
                cursor.executemany(self.sql, self.rows[start : start + 5000])
            if self.with_id:
                # PostgreSQL's sequence does not see explicit ids: move it past them, so that the
                # ORM's next insert (generate_sessions, a booking) gets a free id. SQLite: nothing.
                for statement in self.connection.ops.sequence_reset_sql(no_style(), [self.model]):
                    cursor.execute(statement)
        self.written += len(self.rows)
        self.rows = []


# --- Plans ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    pk: int
    age: int
    sex: str
    user_id: int | None


NOBODY = Person(-1, 0, "", None)


@dataclass
class Pool:
    """Patients a department may see, ordered by the day they could first visit."""

    keys: list[int] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)

    def available(self, date: dt.date) -> int:
        return bisect.bisect_right(self.keys, date.toordinal())


@dataclass(slots=True)
class SessionInfo:
    pk: int
    template_id: int | None
    department_id: int
    practitioner_id: int | None
    exam_type_id: int | None
    date: dt.date
    period: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    fee_class: str
    releases_at: dt.datetime


@dataclass(slots=True)
class SlotInfo:
    pk: int
    session: SessionInfo
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int = 0


@dataclass(slots=True)
class Booking:
    pk: int
    slot: SlotInfo
    patient_id: int
    channel: str
    booked_by_id: int
    preparation: tuple[str, str]
    created_at: dt.datetime
    status: str = AppointmentStatus.BOOKED
    cancelled_at: dt.datetime | None = None
    cancel_reason: str = ""
    checked_in_at: dt.datetime | None = None
    called_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


@dataclass
class DoctorPlan:
    template: ScheduleTemplate
    department: Department
    base_fill: float
    consult_mode: float
    popular: bool


@dataclass
class Stats:
    sessions: int = 0
    slots: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    waits: list[float] = field(default_factory=list)


APPOINTMENT_COLUMNS = [
    "slot_id",
    "session_id",
    "department_id",
    "date",
    "period",
    "patient_id",
    "status",
    "channel",
    "booked_by_id",
    "fee_class",
    "preparation_zh",
    "preparation_en",
    "cancelled_at",
    "cancel_reason",
    "checked_in_at",
    "called_at",
    "finished_at",
    "created_at",
]
QUEUE_COLUMNS = [
    "appointment_id",
    "session_id",
    "number",
    "priority",
    "order_time",
    "state",
    "is_late",
    "arrived_at",
    "called_at",
    "finished_at",
    "recalls",
    "check_in_channel",
]
SESSION_COLUMNS = [
    "template_id",
    "department_id",
    "practitioner_id",
    "room_id",
    "date",
    "period",
    "starts_at",
    "ends_at",
    "fee_class",
    "status",
    "stop_reason",
    "releases_at",
    "created_at",
]
CARE_COLUMNS = [
    "patient_id",
    "department_id",
    "kind",
    "source",
    "valid_from",
    "valid_until",
    "ended_at",
    "created_at",
]


class Builder:
    def __init__(self, ctx: DemoContext) -> None:
        # A generator of our own, seeded from the shared one, so that how many numbers we draw does
        # not shift the generators that run after us.
        self.rng = random.Random(ctx.rng.getrandbits(64))
        self.ctx = ctx
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.now = clock.now()
        self.today = clock.today()
        self.stats = Stats()
        self.used: dict[tuple[int, dt.date, str], set[int]] = defaultdict(set)
        self.per_day: Counter[tuple[int, dt.date]] = Counter()
        self.sessions = RowWriter(ClinicSession, SESSION_COLUMNS, with_id=True)
        self.slots = RowWriter(
            Slot, ["session_id", "starts_at", "ends_at", "capacity", "booked"], with_id=True
        )
        self.appointments = RowWriter(Appointment, APPOINTMENT_COLUMNS, with_id=True)
        self.queue = RowWriter(QueueEntry, QUEUE_COLUMNS)
        self.care = RowWriter(CareRelationship, CARE_COLUMNS)
        self.pending: list[Booking] = []
        self.demo_today: SessionInfo | None = None
        self.clinic_load: Counter[tuple[int, int, str]] = Counter()

    # -- helpers --

    def at(self, date: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(date, time, tzinfo=self.tz)

    @staticmethod
    def minutes(value: float) -> dt.timedelta:
        return dt.timedelta(minutes=value)

    # -- reference data --

    def reference_data(self) -> None:
        departments = {d.code: d for d in Department.objects.select_related("national_code")}
        self.departments = departments
        ExamType.objects.bulk_create(
            [
                ExamType(
                    code=code,
                    department=departments[dept],
                    name_zh=zh,
                    name_en=en,
                    loinc=loinc,
                    duration_minutes=minutes,
                    preparation_zh=prep_zh,
                    preparation_en=prep_en,
                    is_routine_pre_visit=routine,
                )
                for code, dept, zh, en, loinc, minutes, prep_zh, prep_en, routine in EXAM_TYPES
                if dept in departments
            ]
        )
        self.exams = {e.code: e for e in ExamType.objects.all()}
        self.exams_by_pk = {e.pk: e for e in self.exams.values()}
        preparations = []
        for code, department in departments.items():
            if not department.is_clinical:
                continue
            extra_zh, extra_en = PREPARATION_BY_DEPARTMENT.get(code, ("", ""))
            preparations.append(
                VisitPreparation(
                    department=department,
                    text_zh=f"{PREPARATION_BASE[0]}{extra_zh}",
                    text_en=f"{PREPARATION_BASE[1]} {extra_en}".strip(),
                )
            )
        VisitPreparation.objects.bulk_create(preparations)
        # Routine exams done before the visit: an ECG before cardiology from 40, fasting glucose
        # and HbA1c before endocrinology, blood routine before haematology.
        PreVisitRule.objects.bulk_create(
            [
                PreVisitRule(department=departments[dept], exam_type=self.exams[exam], min_age=min_age)
                for dept, exam, min_age in PRE_VISIT_RULES
                if dept in departments and exam in self.exams
            ]
        )
        self.preparation = {p.department_id: (p.text_zh, p.text_en) for p in preparations}
        self.release_days = {d.pk: (14 if code in LONG_RELEASE else 7) for code, d in departments.items()}
        ReleaseRule.objects.bulk_create(
            [
                ReleaseRule(department=d, days_ahead=self.release_days[d.pk], release_time=dt.time(8, 0))
                for d in departments.values()
            ]
        )
        policy = BookingPolicy.objects.filter(department__isnull=True).first()
        if policy is None:
            policy = BookingPolicy.objects.create(
                department=None,
                max_bookings_per_day=3,
                cancellation_deadline_hours=2,
                no_show_limit=3,
                no_show_window_days=90,
                suspension_days=30,
                check_in_opens_minutes=60,
                late_grace_minutes=15,
                waitlist_offer_minutes=30,
            )
        self.late_grace = dt.timedelta(minutes=policy.late_grace_minutes)
        self.max_per_day = policy.max_bookings_per_day

    def releases_at(self, department_id: int, date: dt.date) -> dt.datetime:
        return self.at(date - dt.timedelta(days=self.release_days.get(department_id, 7)), dt.time(8, 0))

    # -- people --

    def load_people(self) -> None:
        users = User.objects.in_bulk(
            ["channel-app", "channel-miniprogram", DEMO_DOCTOR, DEMO_PATIENT_USER], field_name="username"
        )
        kiosk, _created = User.objects.get_or_create(
            username=KIOSK_USERNAME,
            defaults={"role": Role.DEVICE, "display_name": "门诊大厅自助机 1", "password": "!"},
        )
        front_desk = list(
            User.objects.filter(role=Role.FRONT_DESK).order_by("pk").values_list("pk", flat=True)
        )
        self.front_desk = front_desk or [users[DEMO_DOCTOR].pk]
        self.channel_user: dict[str, int] = {
            Channel.APP: users["channel-app"].pk,
            Channel.MINI_PROGRAM: users["channel-miniprogram"].pk,
            Channel.KIOSK: kiosk.pk,
        }
        self.demo_doctor_user = users[DEMO_DOCTOR]
        self.demo_patient_user = users[DEMO_PATIENT_USER]
        demo = Patient.objects.filter(user=self.demo_patient_user).first()
        assert demo is not None, "the foundation links the demo patient to the `patient` login"
        self.demo_person = Person(demo.pk, demo.age, demo.sex, demo.user_id)

        today = self.today
        everyone: list[tuple[int, Person]] = []
        rows = Patient.objects.filter(is_deceased=False).order_by("pk")
        for pk, birth, sex, user_id, created in rows.values_list(
            "pk", "birth_date", "sex", "user_id", "created_at"
        ):
            if pk == demo.pk:
                continue
            age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
            since = max(birth, created.astimezone(self.tz).date())
            everyone.append((since.toordinal(), Person(pk, age, sex, user_id)))
        everyone.sort(key=lambda item: (item[0], item[1].pk))
        self.ages = {person.pk: person.age for _key, person in everyone}
        self.ages[demo.pk] = demo.age
        self.pools: dict[tuple[int, bool], Pool] = {}
        for department in self.departments.values():
            for portal in (False, True):
                pool = Pool()
                for key, person in everyone:
                    if (not portal or person.user_id is not None) and self.suits(department, person):
                        pool.keys.append(key)
                        pool.people.append(person)
                self.pools[(department.pk, portal)] = pool

    @staticmethod
    def suits(department: Department, person: Person) -> bool:
        if department.min_age is not None and person.age < department.min_age:
            return False
        if department.max_age is not None and person.age > department.max_age:
            return False
        return not (department.serves_sex and department.serves_sex != person.sex)

    def pick(
        self, department_id: int, date: dt.date, period: str, *, portal: bool, active: bool
    ) -> Person | None:
        """A patient not yet booked in this department, date and period (and, for bookings that are
        still active, under the daily limit of the booking policy)."""
        pool = self.pools[(department_id, portal)]
        available = pool.available(date)
        if available == 0:
            return None
        used = self.used[(department_id, date, period)]
        for _attempt in range(15):
            person = pool.people[self.rng.randrange(available)]
            if person.pk in used:
                continue
            if active and self.per_day[(person.pk, date)] >= self.max_per_day:
                continue
            used.add(person.pk)
            if active:
                self.per_day[(person.pk, date)] += 1
            return person
        return None

    def booked_by(self, channel: str, person: Person) -> int:
        if channel == Channel.PORTAL and person.user_id is not None:
            return person.user_id
        if channel in (Channel.FRONT_DESK, Channel.PHONE):
            return self.rng.choice(self.front_desk)
        return self.channel_user.get(channel, self.channel_user[Channel.MINI_PROGRAM])

    def priority(self, patient_id: int) -> int:
        return Priority.PRIORITY if self.ages.get(patient_id, 0) >= PRIORITY_AGE else Priority.NORMAL

    # -- templates --

    def templates(self) -> None:
        rooms: dict[int, list[Room]] = defaultdict(list)
        for room in Room.objects.exclude(kind=RoomKind.WARD).order_by("code"):
            if room.department_id is not None:
                rooms[room.department_id].append(room)
        doctors = list(
            Practitioner.objects.filter(
                user__role__in=[Role.DOCTOR, Role.DEPARTMENT_HEAD], department__is_clinical=True
            )
            .select_related("user", "department__national_code")
            .order_by("pk")
        )
        taken: set[tuple[int, int, str]] = set()
        templates: list[ScheduleTemplate] = []
        for doctor in doctors:
            department = doctor.department
            demo = doctor.user_id == self.demo_doctor_user.pk
            for weekday, period in self.weekly_sessions(department, demo):
                start, end = PERIOD_TIMES[Period(period)]
                if demo:
                    minutes, capacity = 30, 3
                elif self.rng.random() < 0.2:
                    minutes, capacity = 15, 2
                else:
                    minutes = 30
                    capacity = self.rng.choice([2, 3] if doctor.is_expert else [2, 3, 3, 4, 4])
                free = [r for r in rooms.get(department.pk, []) if (r.pk, weekday, period) not in taken]
                doctor_room = free[0] if free else None
                if doctor_room is not None:
                    taken.add((doctor_room.pk, weekday, period))
                templates.append(
                    ScheduleTemplate(
                        department=department,
                        practitioner=doctor,
                        room=doctor_room,
                        weekday=weekday,
                        period=period,
                        start_time=start,
                        end_time=end,
                        slot_minutes=minutes,
                        capacity_per_slot=capacity,
                        fee_class=FeeClass.EXPERT if doctor.is_expert else FeeClass.ORDINARY,
                    )
                )
        for code, plan in EXAM_ROOM_PLAN.items():
            exam_department = self.departments.get(code)
            if exam_department is None:
                continue
            exam_rooms = [
                r
                for r in rooms.get(exam_department.pk, [])
                if r.kind in (RoomKind.IMAGING, RoomKind.EXAM, RoomKind.LAB)
            ]
            for weekday in range(5):
                for room_index, period, exam_code, start, end, capacity in plan:
                    templates.append(
                        ScheduleTemplate(
                            department=exam_department,
                            room=exam_rooms[room_index % len(exam_rooms)] if exam_rooms else None,
                            exam_type=self.exams[exam_code],
                            weekday=weekday,
                            period=period,
                            start_time=start,
                            end_time=end,
                            slot_minutes=15,
                            capacity_per_slot=capacity,
                            fee_class=FeeClass.EXAM,
                        )
                    )
        ScheduleTemplate.objects.bulk_create(templates, batch_size=BATCH)
        self.doctor_templates = [t for t in templates if t.practitioner_id is not None]
        self.exam_templates = [t for t in templates if t.exam_type_id is not None]

    def weekly_sessions(self, department: Department, demo: bool) -> list[tuple[int, str]]:
        """3-5 half days a week, spread so that each department runs clinics every weekday (a few
        more on Monday mornings); the demo doctor always works this weekday and the next, mornings."""
        rng = self.rng
        load = self.clinic_load
        if demo:
            today = self.today.weekday()
            tomorrow = (today + 1) % 7
            chosen = [(today, Period.MORNING.value), (tomorrow, Period.MORNING.value)]
            others = [w for w in range(5) if w not in (today, tomorrow)]
            for weekday in rng.sample(others, rng.randint(1, min(3, len(others)))):
                chosen.append((weekday, rng.choice([Period.MORNING.value, Period.AFTERNOON.value])))
        else:
            options = [(w, p.value) for w in range(5) for p in (Period.MORNING, Period.AFTERNOON)]
            rng.shuffle(options)  # ties are broken at random: the sort below is stable
            options.sort(
                key=lambda o: (
                    load[(department.pk, *o)]
                    - (0.3 if o[0] == 0 else 0.0)
                    + (0.2 if o[1] == Period.AFTERNOON else 0.0)
                )
            )
            chosen = options[: rng.choice([3, 4, 4, 5])]
            if rng.random() < 0.12:
                chosen[-1] = (5, Period.MORNING.value)  # a Saturday morning clinic
            if department.code in EVENING_CLINICS and rng.random() < 0.25:
                evening = (rng.randrange(5), Period.EVENING.value)
                if evening not in chosen:
                    chosen[0] = evening
        for option in chosen:
            load[(department.pk, *option)] += 1
        return sorted(set(chosen))

    # -- the sample and its past year --

    def sample(self) -> list[DoctorPlan]:
        # About 40 doctors for 5,000 patients, fewer for a smaller demo (and the tests).
        target = min(SAMPLE_DOCTORS, max(6, self.ctx.patients // 125))
        by_doctor: dict[int, list[ScheduleTemplate]] = defaultdict(list)
        for template in self.doctor_templates:
            assert template.practitioner_id is not None
            by_doctor[template.practitioner_id].append(template)
        practitioners = {
            p.pk: p
            for p in Practitioner.objects.filter(pk__in=list(by_doctor)).select_related(
                "user", "department__national_code"
            )
        }
        demo = next(pk for pk, p in practitioners.items() if p.user_id == self.demo_doctor_user.pk)
        by_department: dict[str, list[int]] = defaultdict(list)
        for pk in sorted(practitioners):
            code = practitioners[pk].department.code
            if code not in NOT_SAMPLED and pk != demo:
                by_department[code].append(pk)
        chosen = [demo]
        codes = sorted(by_department)
        self.rng.shuffle(codes)
        for code in codes[: max(0, target - 1)]:
            chosen.append(self.rng.choice(by_department[code]))
        rest = [pk for code in sorted(by_department) for pk in by_department[code] if pk not in chosen]
        chosen += self.rng.sample(rest, min(max(0, target - len(chosen)), len(rest)))
        plans = []
        for pk in sorted(chosen):
            doctor = practitioners[pk]
            base = self.rng.uniform(0.8, 0.93) if doctor.is_expert else self.rng.uniform(0.66, 0.86)
            for template in by_doctor[pk]:
                pace = template.slot_minutes / template.capacity_per_slot
                plans.append(
                    DoctorPlan(
                        template=template,
                        department=doctor.department,
                        base_fill=base,
                        consult_mode=min(15.0, max(5.0, 3 * pace - 20 + self.rng.gauss(0, 1))),
                        popular=doctor.is_expert,
                    )
                )
        self.sample_doctors = sorted(chosen)
        self.demo_practitioner_id = demo
        return plans

    def session_fill(self, plan: DoctorPlan, date: dt.date, holiday_days: set[dt.date]) -> float:
        fill = plan.base_fill + day_factor(date, holiday_days)
        fill += {Period.MORNING: 0.0, Period.AFTERNOON: -0.08, Period.EVENING: -0.1}[
            Period(plan.template.period)
        ]
        if date.month in (12, 1, 2):
            fill += 0.12 if plan.department.code in WINTER_PEAK else 0.03
        if date in holiday_days:
            fill += 0.05  # the few clinics open over a holiday are busy
        return min(1.0, max(0.3, fill + self.rng.gauss(0, 0.06)))

    def past_year(self, plans: list[DoctorPlan]) -> None:
        start = self.today - dt.timedelta(days=PAST_DAYS)
        holiday_days: set[dt.date] = set()
        for year in range(start.year, self.today.year + 1):
            holiday_days |= holidays(year)
        by_weekday: dict[int, list[DoctorPlan]] = defaultdict(list)
        for plan in plans:
            by_weekday[plan.template.weekday].append(plan)
        # The demo patient's visit last month, with the demo doctor.
        demo_visit_pending = True
        visit_from = self.today - dt.timedelta(days=35)
        for offset in range(PAST_DAYS, 0, -1):
            date = self.today - dt.timedelta(days=offset)
            for plan in by_weekday[date.weekday()]:
                forced = (
                    demo_visit_pending
                    and date >= visit_from
                    and plan.template.practitioner_id == self.demo_practitioner_id
                )
                if not forced:
                    if date in holiday_days and self.rng.random() > 0.15:
                        continue
                    if self.rng.random() < 0.03:  # leave, training, a conference: no clinic
                        continue
                self.past_session(plan, date, holiday_days, forced=forced)
                demo_visit_pending = demo_visit_pending and not forced
            if offset % FLUSH_EVERY_DAYS == 0 or offset == 1:
                self.flush()

    def past_session(
        self, plan: DoctorPlan, date: dt.date, holiday_days: set[dt.date], *, forced: bool
    ) -> None:
        rng = self.rng
        template = plan.template
        department = plan.department
        stopped = not forced and rng.random() < 0.01
        session = SessionInfo(
            pk=self.sessions.new_id(),
            template_id=template.pk,
            department_id=department.pk,
            practitioner_id=template.practitioner_id,
            exam_type_id=None,
            date=date,
            period=template.period,
            starts_at=self.at(date, template.start_time),
            ends_at=self.at(date, template.end_time),
            fee_class=template.fee_class,
            releases_at=self.releases_at(department.pk, date),
        )
        stop_reason = rng.choice(STOP_REASONS) if stopped else ""
        self.sessions.add(
            [
                session.pk,
                template.pk,
                department.pk,
                template.practitioner_id,
                template.room_id,
                date,
                template.period,
                session.starts_at,
                session.ends_at,
                template.fee_class,
                SessionStatus.STOPPED if stopped else SessionStatus.SCHEDULED,
                stop_reason,
                session.releases_at,
                session.releases_at - dt.timedelta(days=7),
            ]
        )
        self.stats.sessions += 1
        stopped_at = session.starts_at - self.minutes(rng.uniform(60 * 12, 60 * 48)) if stopped else None
        fill = self.session_fill(plan, date, holiday_days)
        preparation = self.preparation.get(department.pk, ("", ""))
        visits: list[QueuedVisit] = []
        step = dt.timedelta(minutes=template.slot_minutes)
        moment = session.starts_at
        slot_index = 0
        while moment + step <= session.ends_at:
            slot = SlotInfo(self.slots.new_id(), session, moment, moment + step, template.capacity_per_slot)
            wanted = sum(rng.random() < fill for _ in range(slot.capacity))
            people: list[tuple[Person, str, bool]] = []  # (patient, channel, cancelled)
            if forced and slot_index == 1:
                people.append((self.demo_person, Channel.PORTAL, False))
                self.used[(department.pk, date, session.period)].add(self.demo_person.pk)
                wanted = max(0, wanted - 1)
            for _ in range(wanted):
                people.append(
                    self.choose(department.pk, date, session.period, cancelled=stopped, stopped=stopped)
                )
                if rng.random() < 0.105:
                    people.append(
                        self.choose(department.pk, date, session.period, cancelled=True, stopped=stopped)
                    )
            for person, channel, cancelled in people:
                if person is NOBODY:
                    continue  # nobody left to book in this department and period
                booking, visit = self.past_booking(
                    slot,
                    person,
                    channel,
                    cancelled=cancelled or stopped,
                    stop=(stopped_at, stop_reason) if stopped else None,
                    popular=plan.popular,
                    preparation=preparation,
                    forced=person is self.demo_person,
                )
                if booking.status != AppointmentStatus.CANCELLED:
                    slot.booked += 1
                if visit is not None:
                    visits.append(visit)
            self.slots.add([slot.pk, session.pk, slot.starts_at, slot.ends_at, slot.capacity, slot.booked])
            self.stats.slots += 1
            moment += step
            slot_index += 1
        if visits:
            replay_queue(
                rng,
                visits,
                doctor_starts=session.starts_at + self.minutes(rng.uniform(-5, 10)),
                consult_mode=plan.consult_mode,
                late_grace=self.late_grace,
            )
            for visit in visits:
                seen = visit.booking
                assert seen is not None and visit.called is not None
                seen.called_at = visit.called
                seen.finished_at = visit.finished
                self.stats.waits.append((visit.called - visit.arrived).total_seconds() / 60)
                self.queue.add(
                    [
                        seen.pk,
                        session.pk,
                        visit.number,
                        visit.priority,
                        visit.order_time,
                        EntryState.FINISHED,
                        visit.late,
                        visit.arrived,
                        visit.called,
                        visit.finished,
                        visit.recalls,
                        self.check_in_channel(seen.channel),
                    ]
                )

    def choose(
        self, department_id: int, date: dt.date, period: str, *, cancelled: bool, stopped: bool
    ) -> tuple[Person, str, bool]:
        # A stopped session's bookings were all made days ahead, so not at the desk or a kiosk.
        channel = (ONLINE_CHANNELS if stopped else CHANNELS).draw(self.rng)
        person = None
        if channel == Channel.PORTAL:
            person = self.pick(department_id, date, period, portal=True, active=False)
            if person is None:  # no portal account among who is left: the family's phone then
                channel = self.rng.choice([Channel.MINI_PROGRAM, Channel.APP])
        if person is None:
            person = self.pick(department_id, date, period, portal=False, active=False)
        return (person or NOBODY, channel, cancelled)

    def check_in_channel(self, channel: str) -> str:
        if channel in WALK_IN:
            return "desk" if channel == Channel.FRONT_DESK else "kiosk"
        return PHONE_CHECK_IN.draw(self.rng)

    def booking_time(
        self, slot_start: dt.datetime, releases: dt.datetime, channel: str, popular: bool
    ) -> dt.datetime:
        """When the booking was made: walk-ins on the day, phone bookings days ahead, online
        bookings mostly in the last few days, some in the rush just after release."""
        rng = self.rng
        if channel in WALK_IN:
            created = slot_start - self.minutes(rng.uniform(15, 120))
            return max(created, self.at(slot_start.astimezone(self.tz).date(), dt.time(6, 30)))
        if popular and rng.random() < 0.3:
            created = releases + self.minutes(rng.uniform(0, 20))
        else:
            lead = rng.randint(1, 7) if channel == Channel.PHONE else min(13, int(rng.expovariate(1 / 2.5)))
            day = slot_start.astimezone(self.tz).date() - dt.timedelta(days=lead)
            created = self.at(day, dt.time(7, 0)) + self.minutes(rng.uniform(0, 16 * 60))
        if created > slot_start - self.minutes(30):
            created = slot_start - self.minutes(rng.uniform(30, 180))
        return max(created, releases, slot_start - dt.timedelta(days=14))

    def past_booking(
        self,
        slot: SlotInfo,
        person: Person,
        channel: str,
        *,
        cancelled: bool,
        stop: tuple[dt.datetime | None, str] | None,
        popular: bool,
        preparation: tuple[str, str],
        forced: bool,
    ) -> tuple[Booking, QueuedVisit | None]:
        rng = self.rng
        session = slot.session
        created = self.booking_time(slot.starts_at, session.releases_at, channel, popular)
        if forced:
            created = max(session.releases_at, slot.starts_at - dt.timedelta(days=5))
        stopped_at = stop[0] if stop else None
        if stopped_at is not None and created >= stopped_at:  # booked before the session was stopped
            created = max(session.releases_at, stopped_at - self.minutes(rng.uniform(60, 3 * 24 * 60)))
        booking = Booking(
            pk=self.appointments.new_id(),
            slot=slot,
            patient_id=person.pk,
            channel=channel,
            booked_by_id=self.booked_by(channel, person),
            preparation=preparation,
            created_at=created,
        )
        self.pending.append(booking)
        visit = None
        if cancelled:
            booking.status = AppointmentStatus.CANCELLED
            latest = slot.starts_at - self.minutes(10)
            at = stopped_at or created + (latest - created) * rng.uniform(0.1, 0.95)
            booking.cancelled_at = max(created, min(at, latest))
            booking.cancel_reason = stop[1] if stop else rng.choice(CANCEL_REASONS)
        else:
            no_show = 0.01 if channel in WALK_IN else 0.045
            if slot.starts_at - created > dt.timedelta(days=4):
                no_show += 0.04
            if not forced and rng.random() < no_show:
                booking.status = AppointmentStatus.NO_SHOW
            else:
                booking.status = AppointmentStatus.COMPLETED
                if channel in WALK_IN:
                    arrived = created + self.minutes(rng.uniform(1, 10))
                else:
                    arrived = max(
                        created + self.minutes(1), slot.starts_at + self.minutes(arrival_offset_minutes(rng))
                    )
                booking.checked_in_at = arrived
                visit = QueuedVisit(
                    arrived=arrived,
                    slot_start=slot.starts_at,
                    priority=self.priority(person.pk),
                    booking=booking,
                )
        return booking, visit

    def flush(self) -> None:
        """Write what was planned since the last flush, parents first."""
        for booking in self.pending:
            self.add_appointment(booking)
        self.sessions.flush()
        self.slots.flush()
        self.appointments.flush()
        self.queue.flush()
        self.care.flush()
        self.pending = []

    def add_appointment(self, booking: Booking) -> None:
        """The appointment row, and its care relationship as ``book_slot`` registers it: valid 30
        days after the session, ended by a cancellation or a no-show."""
        slot, session = booking.slot, booking.slot.session
        self.appointments.add(
            [
                booking.pk,
                slot.pk,
                session.pk,
                session.department_id,
                session.date,
                session.period,
                booking.patient_id,
                booking.status,
                booking.channel,
                booking.booked_by_id,
                session.fee_class,
                booking.preparation[0],
                booking.preparation[1],
                booking.cancelled_at,
                booking.cancel_reason,
                booking.checked_in_at,
                booking.called_at,
                booking.finished_at,
                booking.created_at,
            ]
        )
        ended = None
        if booking.status == AppointmentStatus.CANCELLED:
            ended = booking.cancelled_at
        elif booking.status == AppointmentStatus.NO_SHOW:
            ended = slot.ends_at + self.late_grace
        self.care.add(
            [
                booking.patient_id,
                session.department_id,
                CareRelationshipKind.APPOINTMENT,
                f"scheduling.appointment:{booking.pk}",
                booking.created_at,
                session.ends_at + dt.timedelta(days=30),
                ended,
                booking.created_at,
            ]
        )
        self.stats.statuses[str(booking.status)] += 1

    # -- the next two weeks --

    def upcoming(self, plans: list[DoctorPlan]) -> None:
        generate_sessions(self.today, UPCOMING_DAYS)
        rng = self.rng
        popular = {p.template.pk: p.popular for p in plans}
        demo_practitioner = self.demo_practitioner_id
        sessions = {
            row[0]: SessionInfo(*row)
            for row in ClinicSession.objects.filter(
                date__gte=self.today, date__lt=self.today + dt.timedelta(days=UPCOMING_DAYS)
            )
            .order_by("date", "starts_at", "pk")
            .values_list(
                "pk",
                "template_id",
                "department_id",
                "practitioner_id",
                "exam_type_id",
                "date",
                "period",
                "starts_at",
                "ends_at",
                "fee_class",
                "releases_at",
            )
        }
        slots: dict[int, list[SlotInfo]] = defaultdict(list)
        for pk, session_id, starts, ends, capacity, booked in (
            Slot.objects.filter(session_id__in=list(sessions))
            .order_by("session_id", "starts_at")
            .values_list("pk", "session_id", "starts_at", "ends_at", "capacity", "booked")
        ):
            slots[session_id].append(SlotInfo(pk, sessions[session_id], starts, ends, capacity, booked))
        self.stats.sessions += len(sessions)
        self.stats.slots += sum(len(v) for v in slots.values())

        def demo_session(date: dt.date) -> SessionInfo | None:
            return next(
                (s for s in sessions.values() if s.date == date and s.practitioner_id == demo_practitioner),
                None,
            )

        self.demo_today = demo_today = demo_session(self.today)
        demo_tomorrow = demo_session(self.today + dt.timedelta(days=1))
        bookings: list[Booking] = []
        if demo_tomorrow is not None and slots[demo_tomorrow.pk]:
            slot = slots[demo_tomorrow.pk][min(1, len(slots[demo_tomorrow.pk]) - 1)]
            bookings.append(self.demo_booking(slot, self.now - dt.timedelta(days=2, hours=3)))
        if demo_today is not None and slots[demo_today.pk]:
            slot = slots[demo_today.pk][min(2, len(slots[demo_today.pk]) - 1)]
            bookings.append(self.demo_booking(slot, self.now - dt.timedelta(days=4, hours=5)))
        for session in sessions.values():
            if session.releases_at > self.now:
                continue  # not bookable yet
            days_ahead = (session.date - self.today).days
            fill = max(0.08, 0.72 - 0.085 * days_ahead)
            if session.exam_type_id:
                fill *= 0.5
            elif popular.get(session.template_id or 0) or session.fee_class == FeeClass.EXPERT:
                fill = min(1.0, fill * 1.25)
            live = session is demo_today
            if live:
                fill = 0.85
            preparation = self.session_preparation(session)
            channels = CHANNELS if session.date == self.today else ONLINE_CHANNELS
            for slot in slots[session.pk]:
                if not live and slot.starts_at <= self.now:
                    continue  # the part of today that is over stays empty
                if slot.starts_at - dt.timedelta(days=14) > self.now - self.minutes(30):
                    continue  # released this morning, bookable only 14 days ahead of the slot
                for _ in range(slot.capacity - slot.booked):
                    if rng.random() >= fill:
                        continue
                    person = self.pick(
                        session.department_id, session.date, session.period, portal=False, active=True
                    )
                    if person is None:
                        break
                    channel = channels.draw(rng)
                    if channel == Channel.PORTAL and person.user_id is None:
                        channel = rng.choice([Channel.MINI_PROGRAM, Channel.APP])
                    expert = bool(popular.get(session.template_id or 0))
                    booked_at = self.booking_time(slot.starts_at, session.releases_at, channel, expert)
                    if channel in WALK_IN and booked_at > self.now:  # the desk has not opened yet
                        channel = ONLINE_CHANNELS.draw(rng)
                        booked_at = self.booking_time(slot.starts_at, session.releases_at, channel, expert)
                    booked_at = max(
                        session.releases_at, min(booked_at, self.now - self.minutes(rng.uniform(1, 30)))
                    )
                    booking = Booking(
                        pk=self.appointments.new_id(),
                        slot=slot,
                        patient_id=person.pk,
                        channel=channel,
                        booked_by_id=self.booked_by(channel, person),
                        preparation=preparation,
                        created_at=booked_at,
                    )
                    slot.booked += 1
                    bookings.append(booking)
                    other = None
                    if rng.random() < 0.06:  # someone else had this place and cancelled
                        other = self.pick(
                            session.department_id, session.date, session.period, portal=False, active=False
                        )
                    if other is not None:
                        first = max(session.releases_at, booked_at - self.minutes(rng.uniform(60, 600)))
                        other_channel = ONLINE_CHANNELS.draw(rng)
                        if other_channel == Channel.PORTAL and other.user_id is None:
                            other_channel = Channel.MINI_PROGRAM
                        bookings.append(
                            Booking(
                                pk=self.appointments.new_id(),
                                slot=slot,
                                patient_id=other.pk,
                                channel=other_channel,
                                booked_by_id=self.booked_by(other_channel, other),
                                preparation=preparation,
                                created_at=first,
                                status=AppointmentStatus.CANCELLED,
                                cancelled_at=first + self.minutes(rng.uniform(10, 50)),
                                cancel_reason=rng.choice(CANCEL_REASONS),
                            )
                        )
        if demo_today is not None:
            self.live_queue(demo_today, bookings)
        for booking in bookings:
            self.add_appointment(booking)
        self.appointments.flush()
        self.queue.flush()
        self.care.flush()
        touched = [s for session_slots in slots.values() for s in session_slots if s.booked]
        with connections[router.db_for_write(Slot)].cursor() as cursor:
            table = connections[router.db_for_write(Slot)].ops.quote_name(Slot._meta.db_table)
            cursor.executemany(
                f"UPDATE {table} SET booked = %s WHERE id = %s",  # noqa: S608 (a model's table name)
                [(s.booked, s.pk) for s in touched],
            )

    def session_preparation(self, session: SessionInfo) -> tuple[str, str]:
        if session.exam_type_id:
            exam = self.exams_by_pk[session.exam_type_id]
            return exam.preparation_zh, exam.preparation_en
        return self.preparation.get(session.department_id, ("", ""))

    def demo_booking(self, slot: SlotInfo, booked_at: dt.datetime) -> Booking:
        session = slot.session
        self.used[(session.department_id, session.date, session.period)].add(self.demo_person.pk)
        self.per_day[(self.demo_person.pk, session.date)] += 1
        slot.booked += 1
        return Booking(
            pk=self.appointments.new_id(),
            slot=slot,
            patient_id=self.demo_person.pk,
            channel=Channel.PORTAL,
            booked_by_id=self.demo_patient_user.pk,
            preparation=self.session_preparation(session),
            created_at=max(session.releases_at, booked_at),
        )

    def live_queue(self, session: SessionInfo, bookings: list[Booking]) -> None:
        """The demo doctor's session today: a few patients seen, one in the room, the demo patient
        and 5-10 others waiting. Times count back from now, so nothing lies in the future."""
        rng = self.rng
        mine = sorted(
            (b for b in bookings if b.slot.session is session and b.status == AppointmentStatus.BOOKED),
            key=lambda b: (b.slot.starts_at, b.patient_id == self.demo_person.pk, b.pk),
        )
        demo = next((b for b in mine if b.patient_id == self.demo_person.pk), None)
        others = [b for b in mine if b is not demo]
        seen = rng.randint(2, 3)
        finished, called = others[:seen], others[seen : seen + 1]
        waiting = others[seen + 1 : seen + 1 + rng.randint(5, 10)]
        if demo is not None:
            waiting.insert(min(2, len(waiting)), demo)
        timeline: list[tuple[Booking, str, dt.datetime, dt.datetime | None, dt.datetime | None]] = []
        call = self.now - self.minutes(rng.uniform(1, 6))
        for booking in called:
            timeline.append(
                (booking, EntryState.CALLED, call - self.minutes(rng.uniform(10, 35)), call, None)
            )
        end = call - self.minutes(rng.uniform(0.3, 1.5))
        for booking in reversed(finished):
            start = end - self.minutes(consultation_minutes(rng, 9))
            arrived = start - self.minutes(rng.uniform(10, 35))
            timeline.append((booking, EntryState.FINISHED, arrived, start, end))
            end = start - self.minutes(rng.uniform(0.3, 1.5))
        for booking in waiting:
            timeline.append(
                (booking, EntryState.WAITING, self.now - self.minutes(rng.uniform(2, 40)), None, None)
            )
        timeline.sort(key=lambda row: row[2])
        status = {
            EntryState.WAITING: AppointmentStatus.CHECKED_IN,
            EntryState.CALLED: AppointmentStatus.IN_CONSULTATION,
            EntryState.FINISHED: AppointmentStatus.COMPLETED,
        }
        for number, (booking, state, arrived, called_at, finished_at) in enumerate(timeline, start=1):
            late = arrived > booking.slot.starts_at + self.late_grace
            booking.status = status[EntryState(state)]
            booking.checked_in_at, booking.called_at, booking.finished_at = arrived, called_at, finished_at
            booking.created_at = max(session.releases_at, min(booking.created_at, arrived - self.minutes(5)))
            self.queue.add(
                [
                    booking.pk,
                    session.pk,
                    f"A{number:03d}",
                    self.priority(booking.patient_id),
                    arrived if late else booking.slot.starts_at,
                    state,
                    late,
                    arrived,
                    called_at,
                    finished_at,
                    0,
                    self.check_in_channel(booking.channel),
                ]
            )
            if called_at is not None:
                self.stats.waits.append((called_at - arrived).total_seconds() / 60)

    # -- the whole thing --

    def run(self) -> None:
        started, cpu = time.monotonic(), time.process_time()
        self.reference_data()
        self.load_people()
        self.templates()
        plans = self.sample()
        self.past_year(plans)
        self.upcoming(plans)
        first_visit = (
            Appointment.objects.filter(patient_id=self.demo_person.pk).order_by("created_at").first()
        )
        if first_visit is not None:  # her record existed before her first booking
            Patient.objects.filter(pk=self.demo_person.pk, created_at__gt=first_visit.created_at).update(
                created_at=first_visit.created_at - dt.timedelta(days=200)
            )
        self.ctx.state["scheduling"] = {
            "sample_doctors": self.sample_doctors,
            "demo_session_today": self.demo_today.pk if self.demo_today else None,
        }
        stats = self.stats
        waits = stats.waits
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(stats.statuses.items()))
        self.ctx.log(
            f"scheduling: {len(self.doctor_templates)} doctor and {len(self.exam_templates)} exam templates; "
            f"a year of {len(self.sample_doctors)} doctors and the next {UPCOMING_DAYS - 1} days of all: "
            f"{stats.sessions} sessions, {stats.slots} slots, "
            f"{self.appointments.written} appointments ({statuses}), {self.queue.written} queue entries, "
            f"{self.care.written} care relationships, mean wait {sum(waits) / max(1, len(waits)):.1f} min "
            f"({time.monotonic() - started:.1f}s, {time.process_time() - cpu:.1f}s CPU)"
        )


def build_scheduling(ctx: DemoContext) -> None:
    Builder(ctx).run()


register_generator("scheduling", build_scheduling, order=20)
