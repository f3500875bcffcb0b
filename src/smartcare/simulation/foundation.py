"""The demo hospital's foundation: organization, staff, patients and care relationships.

Deterministic for a seed and a date: the same command on the same day builds the same hospital.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.contrib.auth.hashers import make_password

from smartcare.accounts.choices import BreakGlassStatus, CareRelationshipKind, Role
from smartcare.accounts.models import BreakGlassGrant, CareRelationship, User
from smartcare.core import clock, crypto
from smartcare.notifications.services import notify
from smartcare.organization.catalog import load_department_catalog
from smartcare.organization.choices import BedStatus, RoomKind, Sex, Title
from smartcare.organization.models import Bed, Campus, Department, Hospital, Practitioner, Room, Skill
from smartcare.patients.choices import InsuranceType
from smartcare.patients.models import Patient
from smartcare.patients.resident_id import make_resident_id
from smartcare.simulation import names
from smartcare.simulation.registry import DemoContext, register_generator

DEMO_PASSWORD = "smartcare-demo"
HOSPITAL_CODE = "DEMO"

# (national code, location, doctors, nurses, beds, min_age, max_age, sex, clinical)
DEPARTMENTS: list[tuple[str, str, int, int, int, int | None, int | None, str, bool]] = [
    ("02", "门诊楼 1F", 5, 2, 0, None, None, "", True),
    ("03.01", "门诊楼 3F", 6, 6, 40, None, None, "", True),
    ("03.02", "门诊楼 3F", 6, 6, 36, None, None, "", True),
    ("03.03", "门诊楼 4F", 6, 6, 36, None, None, "", True),
    ("03.04", "门诊楼 3F", 8, 8, 48, None, None, "", True),
    ("03.06", "门诊楼 4F", 4, 4, 24, None, None, "", True),
    ("03.07", "门诊楼 4F", 5, 4, 24, None, None, "", True),
    ("03.10", "门诊楼 5F", 4, 5, 30, 60, None, "", True),
    ("04.01", "外科楼 2F", 7, 7, 48, None, None, "", True),
    ("04.02", "外科楼 3F", 4, 5, 24, None, None, "", True),
    ("04.03", "外科楼 3F", 6, 6, 40, None, None, "", True),
    ("04.04", "外科楼 4F", 4, 4, 24, None, None, "", True),
    ("04.05", "外科楼 4F", 3, 4, 20, None, None, "", True),
    ("05.01", "妇儿楼 2F", 5, 5, 24, 12, None, Sex.FEMALE, True),
    ("05.02", "妇儿楼 3F", 5, 7, 36, 14, 55, Sex.FEMALE, True),
    ("07", "妇儿楼 1F", 7, 7, 36, 0, 14, "", True),
    ("10", "门诊楼 6F", 4, 2, 12, None, None, "", True),
    ("11", "门诊楼 6F", 4, 2, 12, None, None, "", True),
    ("12", "门诊楼 7F", 5, 3, 0, None, None, "", True),
    ("13", "门诊楼 7F", 4, 2, 0, None, None, "", True),
    ("15", "康复楼 3F", 3, 3, 20, None, None, "", True),
    ("16", "感染楼 1F", 3, 4, 20, None, None, "", True),
    ("19", "肿瘤楼 2F", 5, 6, 40, None, None, "", True),
    ("20", "急诊楼 1F", 7, 9, 20, None, None, "", True),
    ("21", "康复楼 1F", 3, 4, 24, None, None, "", True),
    ("26", "外科楼 5F", 5, 3, 0, None, None, "", True),
    ("28", "外科楼 6F", 4, 10, 16, None, None, "", True),
    ("30", "医技楼 1F", 3, 2, 0, None, None, "", False),
    ("32.02", "医技楼 2F", 3, 2, 0, None, None, "", False),
    ("32.05", "医技楼 2F", 4, 2, 0, None, None, "", False),
    ("32.06", "医技楼 2F", 2, 2, 0, None, None, "", False),
    ("50", "门诊楼 8F", 4, 2, 0, None, None, "", True),
]

SKILLS = [
    ("ultrasound", "超声检查", "Ultrasound"),
    ("endoscopy", "内镜", "Endoscopy"),
    ("icu", "重症监护", "Intensive care"),
    ("pediatric_nursing", "儿科护理", "Paediatric nursing"),
    ("triage", "分诊", "Triage"),
    ("ecg", "心电图", "ECG"),
    ("ct_reading", "CT 阅片", "CT reading"),
    ("mri_reading", "MRI 阅片", "MRI reading"),
    ("surgery", "手术", "Surgery"),
    ("anesthesia", "麻醉", "Anaesthesia"),
    ("teleconsultation", "远程会诊", "Teleconsultation"),
    ("wound_care", "伤口护理", "Wound care"),
    ("dialysis", "血液透析", "Dialysis"),
    ("chemotherapy", "化疗", "Chemotherapy"),
    ("midwifery", "助产", "Midwifery"),
    ("rehabilitation", "康复治疗", "Rehabilitation"),
]
SKILLS_BY_DEPARTMENT = {
    "03.02": ["endoscopy"],
    "03.04": ["ecg", "teleconsultation"],
    "03.06": ["dialysis"],
    "04.01": ["surgery", "wound_care"],
    "04.02": ["surgery"],
    "04.03": ["surgery"],
    "04.04": ["surgery"],
    "04.05": ["surgery"],
    "05.02": ["midwifery"],
    "07": ["pediatric_nursing"],
    "19": ["chemotherapy"],
    "20": ["triage", "icu"],
    "21": ["rehabilitation"],
    "26": ["anesthesia"],
    "28": ["icu"],
    "32.02": ["ct_reading"],
    "32.05": ["ultrasound"],
    "32.06": ["ecg"],
}
DOCTOR_TITLES = [
    (Title.CHIEF_PHYSICIAN, 1),
    (Title.ASSOCIATE_CHIEF_PHYSICIAN, 2),
    (Title.ATTENDING_PHYSICIAN, 4),
    (Title.RESIDENT, 3),
]
NURSE_TITLES = [
    (Title.CHIEF_NURSE, 1),
    (Title.SUPERVISOR_NURSE, 2),
    (Title.NURSE_PRACTITIONER, 4),
    (Title.NURSE, 6),
]

# One named login per role, printed by `make demo`.
DEMO_LOGINS: list[tuple[str, str, str, str | None]] = [
    ("patient", Role.PATIENT, "张秀英", None),
    ("doctor", Role.DOCTOR, "李明 医生", "03.04"),
    ("nurse", Role.NURSE, "王静 护士", "03.04"),
    ("head", Role.DEPARTMENT_HEAD, "陈国华 主任", "03.04"),
    ("frontdesk", Role.FRONT_DESK, "刘佳 前台", None),
    ("manager", Role.OPERATIONS_MANAGER, "周建 运营", None),
    ("researcher", Role.RESEARCHER, "吴思 研究员", None),
    ("steward", Role.DATA_STEWARD, "郑文 数据管理", None),
    ("itadmin", Role.IT_ADMIN, "孙海 信息科", None),
    ("auditor", Role.AUDITOR, "赵敏 审计", None),
]


def _choice_weighted(rng: Any, items: list[tuple[Any, int]]) -> Any:
    return rng.choices([i for i, _w in items], weights=[w for _i, w in items], k=1)[0]


def person_name(rng: Any, sex: str) -> str:
    surname = rng.choices(names.SURNAMES, weights=names.SURNAME_WEIGHTS, k=1)[0]
    pool = names.MALE_CHARS if sex == Sex.MALE else names.FEMALE_CHARS
    given = rng.choice(pool)
    if rng.random() < 0.7:
        given += rng.choice(pool + names.NEUTRAL_CHARS)
    return surname + given


def _phone(rng: Any) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _suits(department: Department, age: int, sex: str) -> bool:
    if department.min_age is not None and age < department.min_age:
        return False
    if department.max_age is not None and age > department.max_age:
        return False
    return not (department.serves_sex and department.serves_sex != sex)


def build_foundation(ctx: DemoContext) -> None:
    rng = ctx.rng
    today = clock.today()
    now = clock.now()
    load_department_catalog()
    hospital = Hospital.objects.create(
        code=HOSPITAL_CODE,
        name_zh="智慧示范医院",
        name_en="smartcare Demonstration Hospital",
        level="3A",
        address="上海市徐汇区漕溪路 100 号",
        phone="021-64000000",
    )
    main = Campus.objects.create(
        hospital=hospital, code="MAIN", name_zh="总院", name_en="Main campus", address=hospital.address
    )
    east = Campus.objects.create(
        hospital=hospital,
        code="EAST",
        name_zh="东院",
        name_en="East campus",
        address="上海市浦东新区张杨路 500 号",
    )
    skills = {code: Skill.objects.create(code=code, name_zh=zh, name_en=en) for code, zh, en in SKILLS}

    departments: dict[str, Department] = {}
    for code, location, *_rest, min_age, max_age, sex, clinical in DEPARTMENTS:
        from smartcare.organization.models import NationalDepartmentCode

        entry = NationalDepartmentCode.objects.get(code=code)
        departments[code] = Department.objects.create(
            hospital=hospital,
            campus=east if code in ("16", "21", "15") else main,
            national_code=entry,
            name_zh=entry.name_zh.removesuffix("专业"),
            name_en=entry.name_en,
            location=location,
            is_clinical=clinical,
            min_age=min_age,
            max_age=max_age,
            serves_sex=sex,
        )

    # Rooms and beds.
    rooms, beds = [], []
    for code, _location, doctors, _nurses, bed_count, *_ in DEPARTMENTS:
        department = departments[code]
        campus = department.campus
        assert campus is not None
        kind = (
            RoomKind.IMAGING
            if code.startswith("32")
            else RoomKind.LAB
            if code == "30"
            else RoomKind.CONSULTATION
        )
        for n in range(1, max(2, doctors // 2) + 1):
            rooms.append(
                Room(
                    campus=campus,
                    department=department,
                    code=f"{code}-C{n:02d}",
                    kind=kind,
                    floor=department.location.split()[-1],
                )
            )
        for w in range((bed_count + 3) // 4):
            rooms.append(
                Room(
                    campus=campus,
                    department=department,
                    code=f"{code}-W{w + 1:02d}",
                    kind=RoomKind.WARD,
                    floor=department.location.split()[-1],
                )
            )
    Room.objects.bulk_create(rooms)
    for room in Room.objects.filter(kind=RoomKind.WARD):
        for b in range(1, 5):
            status = _choice_weighted(
                rng, [(BedStatus.OCCUPIED, 80), (BedStatus.FREE, 15), (BedStatus.CLEANING, 5)]
            )
            beds.append(Bed(room=room, code=str(b), status=status))
    Bed.objects.bulk_create(beds)

    # Staff: one password hash for every demo account (hashing thousands with Argon2 would take minutes).
    password_hash = make_password(DEMO_PASSWORD)
    ctx.state["password"] = DEMO_PASSWORD
    users: list[User] = []
    staff_plan: list[tuple[User, str, str, bool]] = []
    counter = 0
    for code, _location, doctors, nurses, *_ in DEPARTMENTS:
        for role, count, titles in (
            (Role.DOCTOR, doctors, DOCTOR_TITLES),
            (Role.NURSE, nurses, NURSE_TITLES),
        ):
            for i in range(count):
                counter += 1
                sex = (
                    rng.choice([Sex.MALE, Sex.FEMALE])
                    if role == Role.DOCTOR
                    else (Sex.FEMALE if rng.random() < 0.92 else Sex.MALE)
                )
                title = titles[0][0] if i == 0 else _choice_weighted(rng, titles)
                staff_role = Role.DEPARTMENT_HEAD if (role == Role.DOCTOR and i == 0) else role
                user = User(
                    username=f"{'d' if role == Role.DOCTOR else 'n'}{counter:04d}",
                    role=staff_role,
                    display_name=person_name(rng, sex),
                    password=password_hash,
                )
                users.append(user)
                staff_plan.append(
                    (
                        user,
                        code,
                        title,
                        role == Role.DOCTOR
                        and title in (Title.CHIEF_PHYSICIAN, Title.ASSOCIATE_CHIEF_PHYSICIAN),
                    )
                )
    for username, login_role, display, department_code in DEMO_LOGINS:
        user = User(
            username=username,
            role=login_role,
            display_name=display,
            password=password_hash,
            is_staff=login_role == Role.IT_ADMIN,
            is_superuser=login_role == Role.IT_ADMIN,
        )
        users.append(user)
        if department_code:
            title = {
                Role.DOCTOR: Title.ATTENDING_PHYSICIAN,
                Role.NURSE: Title.SUPERVISOR_NURSE,
                Role.DEPARTMENT_HEAD: Title.CHIEF_PHYSICIAN,
            }[Role(login_role)]
            staff_plan.append((user, department_code, title, login_role == Role.DEPARTMENT_HEAD))
    for _other, extra_role, display in (
        (None, Role.FRONT_DESK, "前台"),
        (None, Role.FRONT_DESK, "前台"),
        (None, Role.OPERATIONS_MANAGER, "运营"),
        (None, Role.AUDITOR, "审计"),
    ):
        counter += 1
        users.append(
            User(
                username=f"s{counter:04d}",
                role=extra_role,
                display_name=person_name(rng, rng.choice([Sex.MALE, Sex.FEMALE])) + " " + display,
                password=password_hash,
            )
        )
    machine_users = [
        User(username="device-gateway", role=Role.DEVICE, display_name="Home device gateway", password="!"),
        User(
            username="channel-miniprogram",
            role=Role.CHANNEL,
            display_name="WeChat mini-program",
            password="!",
        ),
        User(username="channel-app", role=Role.CHANNEL, display_name="Hospital app", password="!"),
    ]
    User.objects.bulk_create(users + machine_users)
    saved = {u.username: u for u in User.objects.all()}
    practitioners = []
    for n, (user, code, title, expert) in enumerate(staff_plan, start=1):
        practitioners.append(
            Practitioner(
                user=saved[user.username],
                department=departments[code],
                title=title,
                licence_number=f"{110000000000000 + n * 7919:015d}",
                is_expert=expert,
                introduction="",
            )
        )
    Practitioner.objects.bulk_create(practitioners)
    through = Practitioner.skills.through
    links = []
    for practitioner in Practitioner.objects.select_related("department"):
        for skill_code in SKILLS_BY_DEPARTMENT.get(practitioner.department.code, []):
            if rng.random() < 0.7:
                links.append(through(practitioner_id=practitioner.pk, skill_id=skills[skill_code].pk))
    through.objects.bulk_create(links)

    # Patients.
    patients: list[Patient] = []
    region_weights = [w for _c, _n, w in names.REGIONS]
    seen_ids: set[str] = set()
    for n in range(1, ctx.patients + 1):
        sex = rng.choice([Sex.MALE, Sex.FEMALE])
        low, high = _choice_weighted(rng, names.AGE_BANDS)
        age = rng.randint(low, high)
        birth = today - dt.timedelta(days=age * 365 + rng.randrange(365))
        region, region_name, _w = rng.choices(names.REGIONS, weights=region_weights, k=1)[0]
        national_id = make_resident_id(region, birth, rng.randrange(1000), sex)
        while national_id in seen_ids:
            national_id = make_resident_id(region, birth, rng.randrange(1000), sex)
        seen_ids.add(national_id)
        if age < 18:
            insurance = InsuranceType.RESIDENT if rng.random() < 0.85 else InsuranceType.SELF_PAY
        elif age >= 60:
            insurance = _choice_weighted(
                rng,
                [
                    (InsuranceType.URBAN_EMPLOYEE, 55),
                    (InsuranceType.RESIDENT, 38),
                    (InsuranceType.SELF_PAY, 5),
                    (InsuranceType.COMMERCIAL, 2),
                ],
            )
        else:
            insurance = _choice_weighted(
                rng,
                [
                    (InsuranceType.URBAN_EMPLOYEE, 58),
                    (InsuranceType.RESIDENT, 22),
                    (InsuranceType.SELF_PAY, 12),
                    (InsuranceType.COMMERCIAL, 8),
                ],
            )
        phone = _phone(rng) if age >= 12 else ""
        contact_sex = rng.choice([Sex.MALE, Sex.FEMALE])
        patient = Patient(
            medical_record_number=f"MRN{n:08d}",
            name=person_name(rng, sex),
            sex=sex,
            birth_date=birth,
            national_id=national_id,
            national_id_hash=crypto.blind_index(national_id),
            phone=phone,
            phone_hash=crypto.blind_index(phone) if phone else "",
            address=f"{region_name}{rng.choice(names.ROADS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}0{rng.randint(1, 4)}室",
            emergency_contact_name=person_name(rng, contact_sex),
            emergency_contact_phone=_phone(rng),
            insurance_type=insurance,
            insurance_number=(
                f"{region}{rng.randrange(10**10):010d}" if insurance != InsuranceType.SELF_PAY else ""
            ),
            one_code="P" + secrets.token_urlsafe(16),
            created_at=now - dt.timedelta(days=rng.randrange(3650)),
        )
        patients.append(patient)
    Patient.objects.bulk_create(patients, batch_size=500)

    # Portal accounts for a share of adult patients, and the demo patient login.
    all_patients = list(Patient.objects.order_by("pk"))
    demo_patient = next(p for p in all_patients if p.sex == Sex.FEMALE and 60 <= p.age <= 75)
    demo_patient.name = "张秀英"
    demo_patient.save(update_fields=["name"])
    patient_user = saved["patient"]
    Patient.objects.filter(pk=demo_patient.pk).update(user=patient_user)
    portal_users = []
    portal_candidates = [p for p in all_patients if p.age >= 16 and p.pk != demo_patient.pk]
    for p in rng.sample(portal_candidates, k=min(300, len(portal_candidates))):
        portal_users.append(
            (
                p,
                User(
                    username=f"p{p.medical_record_number[3:]}",
                    role=Role.PATIENT,
                    display_name=p.name,
                    password=password_hash,
                ),
            )
        )
    User.objects.bulk_create([u for _p, u in portal_users])
    by_name = {u.username: u.pk for u in User.objects.filter(role=Role.PATIENT)}
    for p, u in portal_users:
        Patient.objects.filter(pk=p.pk).update(user_id=by_name[u.username])

    # Care relationships: recent appointments and encounters, matched to who each department serves.
    care_departments = [d for d in departments.values() if d.is_clinical and d.code not in ("26",)]
    relationships = []
    for p in all_patients:
        suitable = [d for d in care_departments if _suits(d, p.age, p.sex)]
        for _ in range(rng.choice([1, 1, 2, 2, 3])):
            department = rng.choice(suitable)
            start = now - dt.timedelta(days=rng.randrange(400))
            kind = _choice_weighted(
                rng,
                [
                    (CareRelationshipKind.APPOINTMENT, 5),
                    (CareRelationshipKind.ENCOUNTER, 4),
                    (CareRelationshipKind.FOLLOW_UP, 1),
                ],
            )
            relationships.append(
                CareRelationship(
                    patient=p,
                    department=department,
                    kind=kind,
                    source=f"demo:{p.pk}:{department.code}:{kind}",
                    valid_from=start,
                    valid_until=start
                    + dt.timedelta(days=180 if kind != CareRelationshipKind.FOLLOW_UP else 365),
                )
            )
    # The demo patient is in cardiology's care and the demo doctor sees a full list.
    cardiology = departments["03.04"]
    relationships.append(
        CareRelationship(
            patient=demo_patient,
            department=cardiology,
            kind=CareRelationshipKind.FOLLOW_UP,
            source="demo:patient",
            valid_from=now - dt.timedelta(days=30),
            valid_until=now + dt.timedelta(days=335),
        )
    )
    unique = {(r.patient.pk, r.department.pk, r.kind, r.source): r for r in relationships}
    CareRelationship.objects.bulk_create(list(unique.values()), batch_size=1000)

    # A few emergency accesses for the review lists.
    cardiologists = list(User.objects.filter(role=Role.DOCTOR, practitioner__department=cardiology))
    head = saved["head"]
    reasons = [
        "急诊胸痛患者，需查看既往心电图与用药史",
        "夜间会诊，患者意识不清需核对过敏史",
        "转入患者病历未同步，需紧急确认抗凝药物",
    ]
    for i, reason in enumerate(reasons):
        grant = BreakGlassGrant.objects.create(
            user=cardiologists[i % len(cardiologists)],
            patient=rng.choice(all_patients),
            department=cardiology,
            reason=reason,
            expires_at=now - dt.timedelta(days=i + 1),
            status=BreakGlassStatus.PENDING_REVIEW if i else BreakGlassStatus.JUSTIFIED,
            reviewed_by=head if i == 0 else None,
            reviewed_at=now - dt.timedelta(hours=12) if i == 0 else None,
        )
        BreakGlassGrant.objects.filter(pk=grant.pk).update(created_at=now - dt.timedelta(days=i + 1, hours=2))

    notify(
        patient_user,
        category="welcome",
        subject="欢迎使用智慧医院患者服务",
        body="您可以在这里查看一码通、预约挂号、接收检查报告和随访提醒。",
        link="/patients/me/",
    )
    notify(
        head,
        category="break_glass",
        subject="有紧急访问待审核",
        body="心内科有 2 条紧急访问记录等待您审核。",
        link="/accounts/break-glass/reviews/",
    )
    ctx.state["departments"] = departments
    ctx.state["demo_patient"] = demo_patient
    ctx.log(
        f"foundation: {len(departments)} departments, {len(practitioners)} practitioners, "
        f"{len(all_patients)} patients, {len(unique)} care relationships"
    )


register_generator("foundation", build_foundation, order=0)
