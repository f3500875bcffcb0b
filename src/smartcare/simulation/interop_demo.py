"""The hospital's other systems talking to the demo hospital: the HIS registering patients over
HL7 (ADT), the laboratory sending results (ORU, single and in a batch) that become reports in the
patients' inboxes (with a critical potassium for the demo doctor), a few refused messages for the
interface log, and CT studies from the PACS (synthetic 20-slice series) with imaging reports.

Everything goes through the real paths (``interop.hl7.services.receive`` and
``interop.dicom.services.store_instances``), as the connected systems' machine identities.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.core import clock
from smartcare.emr.choices import EncounterKind, EncounterStatus, OrderKind, OrderStatus
from smartcare.emr.models import Encounter, Order
from smartcare.interop.dicom import services as dicom_services
from smartcare.interop.dicom.phantom import ct_series
from smartcare.interop.hl7 import services as hl7_services
from smartcare.interop.models import ConnectedSystem, StudySource, SystemKind, Transport
from smartcare.interop.reports import services as report_services
from smartcare.organization.choices import Sex
from smartcare.patients.models import Patient
from smartcare.patients.resident_id import make_resident_id
from smartcare.simulation.registry import DemoContext, register_generator

LAB_REPORTS = 36
# panel: (LOINC, name, [(LOINC, name, low, high, unit, critical low, critical high)])
PANELS: dict[str, tuple[str, str, list[tuple[str, str, float, float, str, float, float]]]] = {
    "lipids": (
        "57698-3",
        "血脂四项",
        [
            ("2093-3", "总胆固醇", 2.8, 5.2, "mmol/L", 0.0, 99.0),
            ("2571-8", "甘油三酯", 0.45, 1.7, "mmol/L", 0.0, 11.0),
            ("13457-7", "低密度脂蛋白胆固醇", 1.0, 3.4, "mmol/L", 0.0, 99.0),
            ("2085-9", "高密度脂蛋白胆固醇", 1.0, 1.9, "mmol/L", 0.0, 99.0),
        ],
    ),
    "renal": (
        "24362-6",
        "肾功能",
        [
            ("2160-0", "肌酐", 45.0, 110.0, "umol/L", 0.0, 700.0),
            ("3094-0", "尿素氮", 2.9, 8.2, "mmol/L", 0.0, 35.0),
            ("3084-1", "尿酸", 150.0, 420.0, "umol/L", 0.0, 900.0),
        ],
    ),
    "electrolytes": (
        "24326-1",
        "电解质",
        [
            ("2823-3", "钾", 3.5, 5.3, "mmol/L", 2.8, 6.2),
            ("2951-2", "钠", 137.0, 147.0, "mmol/L", 120.0, 160.0),
        ],
    ),
    "glucose": (
        "4548-4",
        "血糖与糖化血红蛋白",
        [
            ("2345-7", "空腹血糖", 3.9, 6.1, "mmol/L", 2.8, 22.0),
            ("4548-4", "糖化血红蛋白", 4.0, 6.0, "%", 0.0, 99.0),
        ],
    ),
    "cbc": (
        "58410-2",
        "血常规",
        [
            ("718-7", "血红蛋白", 115.0, 150.0, "g/L", 60.0, 200.0),
            ("6690-2", "白细胞", 3.5, 9.5, "10*9/L", 1.0, 30.0),
            ("777-3", "血小板", 125.0, 350.0, "10*9/L", 30.0, 1000.0),
        ],
    ),
}
IMAGING_REPORTS = {
    "chest": (
        "胸部 CT 平扫",
        "双肺纹理清晰，左肺下叶见一约 6 mm 实性小结节，边界清楚；纵隔及心影未见异常。\n结论：左肺下叶小结节，建议 12 个月后复查胸部 CT。",
    ),
    "head": (
        "头颅 CT 平扫",
        "脑实质密度均匀，脑室系统未见扩大，中线结构居中，右侧顶叶见一小片稍高密度影。\n结论：右侧顶叶小片稍高密度影，建议 MRI 进一步检查。",
    ),
}


def _system(
    name: str, kind: str, username: str, application: str, facility: str, authority: str
) -> ConnectedSystem:
    user, _created = User.objects.get_or_create(
        username=username, defaults={"role": Role.CHANNEL, "display_name": name, "password": "!"}
    )
    system, _created = ConnectedSystem.objects.get_or_create(
        user=user,
        defaults={
            "name": name,
            "kind": kind,
            "sending_application": application,
            "sending_facility": facility,
            "assigning_authority": authority,
            "language": "zh-hans",
        },
    )
    return system


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(clock.local_now().tzinfo)


def _ts(moment: dt.datetime) -> str:
    return _local(moment).strftime("%Y%m%d%H%M%S")


def _msh(system: ConnectedSystem, kind: str, control: str, moment: dt.datetime) -> str:
    return (
        f"MSH|^~\\&|{system.sending_application}|{system.sending_facility}|SMARTCARE|HOSPITAL|{_ts(moment)}||"
        f"{kind}|{control}|P|2.5|||AL|NE|CHN|UNICODE UTF-8"
    )


def _pid(patient: Patient) -> str:
    sex = "M" if patient.sex == Sex.MALE else "F"
    return f"PID|1||{patient.medical_record_number}^^^SMARTCARE^MR||{patient.name}||{patient.birth_date:%Y%m%d}|{sex}"


def _value(
    rng: Any, low: float, high: float, critical_low: float, critical_high: float, critical: bool
) -> tuple[float, str]:
    if critical:
        value = critical_high + (high - low) * 0.3 if critical_high < 99 else high * 2
        return round(value, 1), "HH"
    roll = rng.random()
    if roll < 0.7:
        value = rng.uniform(low, high)
    elif roll < 0.9:
        value = rng.uniform(high, high + (high - low) * 0.5)
    else:
        value = rng.uniform(max(low - (high - low) * 0.3, 0.1), low)
    value = round(value, 1 if high < 50 else 0)
    flag = "H" if value > high else "L" if value < low else "N"
    if value >= critical_high:
        flag = "HH"
    elif value <= critical_low:
        flag = "LL"
    return value, flag


def _licence(user: User) -> str:
    practitioner = getattr(user, "practitioner", None)
    return practitioner.licence_number if practitioner is not None else ""


def _oru(
    lis: ConnectedSystem,
    order: Order,
    panel: str,
    control: str,
    moment: dt.datetime,
    rng: Any,
    critical: bool = False,
    raised: frozenset[str] = frozenset(),
) -> str:
    code, name, tests = PANELS[panel]
    segments = [
        _msh(lis, "ORU^R01^ORU_R01", control, moment),
        _pid(order.patient),
        f"ORC|RE|{order.pk}^SMARTCARE|{control}^LIS",
        f"OBR|1|{order.pk}^SMARTCARE|{control}^LIS|{code}^{name}^LN|||{_ts(moment - dt.timedelta(hours=3))}|||||||||"
        f"{_licence(order.ordered_by)}||||||{_ts(moment)}||CH|F",
    ]
    for index, (test_code, test_name, low, high, unit, critical_low, critical_high) in enumerate(
        tests, start=1
    ):
        value, flag = _value(rng, low, high, critical_low, critical_high, critical and index == 1)
        if test_code in raised:
            value, flag = round(high * 1.3, 1), "H"
        segments.append(
            f"OBX|{index}|NM|{test_code}^{test_name}^LN||{value:g}|{unit}|{low:g}-{high:g}|{flag}|||F"
        )
    return "\r".join(segments) + "\r"


def _order(patient: Patient, doctor: User, panel: str, moment: dt.datetime) -> Order:
    encounter = (
        Encounter.objects.filter(patient=patient, department_id=doctor.practitioner.department_id)
        .order_by("-started_at")
        .first()
    )
    if encounter is None:
        encounter = Encounter.objects.create(
            patient=patient,
            kind=EncounterKind.OUTPATIENT,
            department=doctor.practitioner.department,
            attending=doctor.practitioner,
            status=EncounterStatus.FINISHED,
            started_at=moment - dt.timedelta(hours=4),
            ended_at=moment - dt.timedelta(hours=3, minutes=40),
        )
    code, name, _tests = PANELS[panel]
    return Order.objects.create(
        encounter=encounter,
        patient=patient,
        kind=OrderKind.LAB,
        status=OrderStatus.SIGNED,
        name=name,
        code=code,
        ordered_by=doctor,
        ordered_at=moment - dt.timedelta(hours=4),
        signed_at=moment - dt.timedelta(hours=4),
    )


def _lab(ctx: DemoContext, lis: ConnectedSystem) -> int:
    rng = ctx.rng
    now = clock.now()
    demo_patient: Patient = ctx.state["demo_patient"]
    demo_doctor = User.objects.get(username="doctor")
    visits = list(
        Encounter.objects.filter(
            status=EncounterStatus.FINISHED, attending__isnull=False, started_at__lte=now
        )
        .exclude(patient=demo_patient)
        .select_related("attending__user", "patient")
        .order_by("-started_at")[: LAB_REPORTS * 3]
    )
    chosen = rng.sample(visits, min(len(visits), LAB_REPORTS))
    panels = list(PANELS)
    accepted = 0
    messages: list[str] = []
    # The demo patient: a lipid panel last week, and today's potassium, critically high.
    for days, panel, critical, raised in (
        (7, "lipids", False, frozenset({"13457-7", "2093-3"})),  # LDL and cholesterol high
        (0, "electrolytes", True, frozenset()),
    ):
        moment = now - dt.timedelta(days=days, hours=1)
        order = _order(demo_patient, demo_doctor, panel, moment)
        messages.append(_oru(lis, order, panel, f"LIS{order.pk:08d}", moment, rng, critical, raised))
    for index, visit in enumerate(chosen):
        panel = panels[index % len(panels)]
        started = visit.started_at or now
        moment = min(started + dt.timedelta(hours=6), now)
        attending = visit.attending
        if attending is None:
            continue
        order = _order(visit.patient, attending.user, panel, moment)
        messages.append(_oru(lis, order, panel, f"LIS{order.pk:08d}", moment, rng))
    # Most arrive one by one over MLLP; the last few in one overnight batch.
    single, batched = messages[:-4], messages[-4:]
    for text in single:
        accepted += hl7_services.receive(
            text, transport=Transport.MLLP, remote_address="10.10.2.15"
        ).ack_codes.count("AA")
    batch = f"BHS|^~\\&|{lis.sending_application}|{lis.sending_facility}|SMARTCARE|HOSPITAL|{_ts(now)}||||LISB{now:%Y%m%d}\r"
    batch += "".join(batched) + f"BTS|{len(batched)}\r"
    accepted += hl7_services.receive(
        batch, transport=Transport.MLLP, remote_address="10.10.2.15"
    ).ack_codes.count("AA")
    # Refused messages, as an interface log shows them.
    refused = [
        _msh(lis, "ORU^R01", "LIS-UNKNOWN-1", now) + "\rPID|1||MRN99999999^^^SMARTCARE^MR||无名||19700101|M\r"
        "OBR|1||X1^LIS|2345-7^血糖^LN|||"
        + _ts(now)
        + "\rOBX|1|NM|2345-7^血糖^LN||5.1|mmol/L|3.9-6.1|N|||F\r",
        _msh(lis, "ORM^O01", "LIS-ORM-1", now) + "\r" + _pid(demo_patient) + "\r",
    ]
    for text in refused:
        hl7_services.receive(text, transport=Transport.MLLP, remote_address="10.10.2.15")
    return accepted


def _adt(ctx: DemoContext, his: ConnectedSystem) -> int:
    rng = ctx.rng
    now = clock.now()
    departments = ctx.state.get("departments", {})
    clinic = next(iter(departments.values())).code if departments else ""
    names = [("赵", "雨桐", Sex.FEMALE), ("钱", "浩然", Sex.MALE), ("孙", "思远", Sex.MALE)]
    accepted = 0
    for index, (family, given, sex) in enumerate(names):
        birth = dt.date(1950 + rng.randrange(60), rng.randrange(1, 13), rng.randrange(1, 28))
        national_id = make_resident_id("310104", birth, 700 + index * 2 + (1 if sex == Sex.MALE else 0), sex)
        control = f"HIS{now:%Y%m%d}{index:04d}"
        text = (
            "\r".join(
                [
                    _msh(his, "ADT^A04^ADT_A01", control, now),
                    f"EVN|A04|{_ts(now)}",
                    f"PID|1||H{900100 + index}^^^HIS^PI~{national_id}^^^CHN^NNCHN||{family}^{given}||{birth:%Y%m%d}|"
                    f"{'M' if sex == Sex.MALE else 'F'}|||^^徐汇区^上海市||^PRN^CP^^^^^^^^^1391234{5670 + index}",
                    f"PV1|1|O|{clinic}^^^HOSPITAL||||||||||||||||V{900100 + index}",
                ]
            )
            + "\r"
        )
        accepted += hl7_services.receive(
            text, transport=Transport.MLLP, remote_address="10.10.1.8"
        ).ack_codes.count("AA")
    update = (
        "\r".join(
            [
                _msh(his, "ADT^A08^ADT_A01", f"HIS{now:%Y%m%d}0099", now),
                f"EVN|A08|{_ts(now)}",
                "PID|1||H900100^^^HIS^PI||赵^雨桐||||||^^闵行区^上海市",
            ]
        )
        + "\r"
    )
    accepted += hl7_services.receive(
        update, transport=Transport.HTTP, remote_address="10.10.1.8"
    ).ack_codes.count("AA")
    return accepted


def _imaging(ctx: DemoContext, pacs: ConnectedSystem) -> int:
    now = clock.now()
    demo_patient: Patient = ctx.state["demo_patient"]
    doctor = User.objects.get(username="doctor")
    others = list(
        # Patients the doctor may open today (a relationship that is still valid).
        Patient.objects.filter(
            care_relationships__department=doctor.practitioner.department,
            care_relationships__valid_from__lte=now,
            care_relationships__valid_until__gt=now,
            care_relationships__ended_at=None,
        )
        .exclude(pk=demo_patient.pk)
        .distinct()
        .order_by("pk")[:3]
    )
    plan = [(demo_patient, "chest", 3, True)] + [
        (patient, kind, 10 + i * 9, i == 0)
        for i, (patient, kind) in enumerate(zip(others, ["head", "chest", "head"], strict=False))
    ]
    stored = 0
    for index, (patient, kind, days, with_report) in enumerate(plan):
        moment = _local(now - dt.timedelta(days=days))
        files = ct_series(
            patient_id=patient.medical_record_number,
            patient_name=patient.name,
            birth_date=patient.birth_date,
            sex=patient.sex,
            kind=kind,
            slices=20,
            study_at=moment.replace(tzinfo=None),
            accession_number=f"RIS{moment:%Y%m%d}{index:03d}",
            seed=ctx.seed + index,
        )
        result = dicom_services.store_instances(
            pacs.user, [(f"{i}.dcm", data) for i, data in enumerate(files)], source=StudySource.STOW
        )
        stored += len(result.stored)
        if with_report:
            name, text = IMAGING_REPORTS[kind]
            report_services.write_report(
                doctor,
                patient.pk,
                kind="imaging",
                name=name,
                conclusion=text,
                imaging_study_id=result.studies[0].pk,
            )
    return stored


def build_interop(ctx: DemoContext) -> None:
    started = time.monotonic()
    his = _system("医院信息系统 HIS", SystemKind.HIS, "his-interface", "HIS", "MAIN", "HIS")
    lis = _system("检验信息系统 LIS", SystemKind.LIS, "lis-interface", "LIS", "LAB", "LIS")
    pacs = _system("影像归档系统 PACS", SystemKind.RIS, "pacs-interface", "PACS", "RAD", "PACS")
    registered = _adt(ctx, his)
    results = _lab(ctx, lis)
    images = _imaging(ctx, pacs)
    ctx.log(
        f"interop: {registered} ADT and {results} lab messages accepted over HL7, {images} CT images stored "
        f"({time.monotonic() - started:.1f}s)"
    )


register_generator("interop_hl7_dicom", build_interop, order=80)
