"""Home monitoring in the demo year: several hundred patients enrolled by cardiology,
endocrinology, respiratory medicine, geriatrics and rehabilitation, their devices, two months of
readings with daily rhythms (blood pressure morning and evening with the morning surge, fasting and
after-dinner glucose, a daily weight, oximetry, a wearable's steps by the hour), a few dangerous
episodes (hypertensive crises, hypoglycaemia, low oxygen, heart-failure weight gain) with their
alerts, most acknowledged, the last ones open and some escalated, duty doctors, and rehab plans
whose rules have suggestions waiting for the therapist.

Written in bulk (like the other demo generators): it is history, not something users did. Flags
and alerts follow the same thresholds (``ThresholdBook``) and rules (``rehab.evaluate_plans``) as
live readings. The demo doctor (``doctor``) has a full board; the demo patient has a BP monitor,
a wearable and a rehab plan, and the log prints her BP monitor's credential to try the bridge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings

from smartcare.accounts.choices import CareRelationshipKind, Role
from smartcare.accounts.models import CareRelationship, User
from smartcare.core import clock
from smartcare.monitoring import rehab
from smartcare.monitoring.choices import (
    DEVICE_MEASUREMENTS,
    UNITS,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    DeviceKind,
    EscalationLevel,
    MeasurementKind,
    RehabTargetKind,
    SuggestionRule,
    SuggestionStatus,
)
from smartcare.monitoring.ingest import Breach, ThresholdBook, flag_of
from smartcare.monitoring.models import (
    Alert,
    Device,
    DutyAssignment,
    Enrollment,
    Reading,
    RehabPlan,
    RehabSuggestion,
    RehabTarget,
    Threshold,
)
from smartcare.notifications.services import notify
from smartcare.organization.models import Department
from smartcare.patients.models import Patient
from smartcare.simulation.registry import DemoContext, register_generator

DAYS = 60
K = MeasurementKind

# condition -> (department code, weight, devices, reason)
CONDITIONS: dict[str, tuple[str, int, tuple[str, ...], str]] = {
    "hypertension": ("03.04", 38, (DeviceKind.BP_MONITOR,), "高血压，家庭血压监测"),
    "heart_failure": ("03.04", 10, (DeviceKind.BP_MONITOR, DeviceKind.SCALE), "慢性心力衰竭，监测体重与血压"),
    "diabetes": ("03.07", 24, (DeviceKind.GLUCOMETER, DeviceKind.BP_MONITOR), "2 型糖尿病，血糖监测"),
    "copd": ("03.01", 9, (DeviceKind.PULSE_OXIMETER,), "慢阻肺，家庭血氧监测"),
    "elderly": ("03.10", 7, (DeviceKind.BP_MONITOR, DeviceKind.PULSE_OXIMETER), "高龄多病，居家监测"),
    "rehab_stroke": ("21", 7, (DeviceKind.WEARABLE, DeviceKind.BP_MONITOR), "脑卒中后康复"),
    "rehab_knee": ("04.03", 5, (DeviceKind.WEARABLE,), "膝关节置换术后康复"),
}
MANUFACTURERS: dict[str, list[tuple[str, str]]] = {
    DeviceKind.BP_MONITOR: [("欧姆龙", "HEM-7136"), ("鱼跃", "YE670A"), ("九安", "KD-5920")],
    DeviceKind.GLUCOMETER: [("三诺", "安稳+"), ("罗氏", "Accu-Chek Active"), ("鱼跃", "580")],
    DeviceKind.PULSE_OXIMETER: [("鱼跃", "YX102"), ("力康", "PC-60F")],
    DeviceKind.SCALE: [("云康宝", "CS20A"), ("华为", "体脂秤 3")],
    DeviceKind.WEARABLE: [("华为", "Watch Fit 3"), ("小米", "手环 9")],
}
# Dangerous episodes per 100 monitored patients (condition, kind of episode).
EPISODES = [
    ("hypertension", "crisis"),
    ("heart_failure", "crisis"),
    ("heart_failure", "fluid"),
    ("diabetes", "hypo"),
    ("diabetes", "hyper"),
    ("copd", "desaturation"),
    ("elderly", "desaturation"),
]


@dataclass
class Person:
    patient: Patient
    condition: str
    department: Department
    doctor: User
    start: dt.datetime
    devices: dict[str, Device] = field(default_factory=dict)
    adherence: float = 0.85
    systolic: float = 135.0
    diastolic: float = 84.0
    pulse: float = 72.0
    glucose: float = 6.5
    weight: float = 68.0
    spo2: float = 96.0
    episode: tuple[str, dt.date] | None = None
    steps_target: int = 0
    minutes_target: int = 0
    rom_target: int = 0
    profile: str = ""  # rehab: "struggling", "progressing", "steady"


class _Builder:
    def __init__(self, ctx: DemoContext) -> None:
        self.ctx = ctx
        self.rng = random.Random(ctx.seed * 55 + 7)
        self.now = clock.now()
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.today = self.now.astimezone(self.tz).date()
        self.readings: list[Reading] = []
        self.people: list[Person] = []
        self.counter = 0

    # --- who is monitored --------------------------------------------------------------------------

    def choose(self) -> None:
        departments: dict[str, Department] = self.ctx.state.get("departments") or {
            d.code: d for d in Department.objects.select_related("national_code")
        }
        doctors: dict[str, list[User]] = {}
        for code in {c[0] for c in CONDITIONS.values()}:
            doctors[code] = list(
                User.objects.filter(role=Role.DOCTOR, practitioner__department=departments[code]).order_by(
                    "username"
                )
            )
        demo_doctor = User.objects.filter(username="doctor").first()
        demo_patient: Patient | None = self.ctx.state.get("demo_patient")
        total = min(450, max(12, self.ctx.patients // 11))
        # Patients already in the care of each department, adults first.
        in_care: dict[str, list[int]] = {}
        for code in doctors:
            ids = CareRelationship.objects.filter(department=departments[code]).values_list(
                "patient_id", flat=True
            )
            in_care[code] = sorted(set(ids))
        adults = {
            p.pk: p for p in Patient.objects.filter(birth_date__lte=self.today - dt.timedelta(days=35 * 365))
        }
        taken: set[int] = set()
        weights = [w for _c, (_d, w, _dev, _r) in CONDITIONS.items()]
        names = list(CONDITIONS)
        if demo_patient is not None:
            taken.add(demo_patient.pk)
            self.people.append(
                self._person(
                    demo_patient, "rehab_stroke", departments["03.04"], demo_doctor or doctors["03.04"][0]
                )
            )
        attempts = 0
        while len(self.people) < total and attempts < total * 20:
            attempts += 1
            condition = self.rng.choices(names, weights=weights, k=1)[0]
            code = CONDITIONS[condition][0]
            pool = [pk for pk in in_care[code] if pk in adults and pk not in taken] or [
                pk for pk in adults if pk not in taken
            ]
            if not pool or not doctors[code]:
                continue
            pk = self.rng.choice(pool)
            taken.add(pk)
            doctor = self.rng.choice(doctors[code])
            if code == "03.04" and demo_doctor is not None and self.rng.random() < 0.4:
                doctor = demo_doctor
            self.people.append(self._person(adults[pk], condition, departments[code], doctor))

    def _person(self, patient: Patient, condition: str, department: Department, doctor: User) -> Person:
        rng = self.rng
        start = self.now - dt.timedelta(days=rng.randint(20, 120), hours=rng.randint(0, 8))
        person = Person(patient, condition, department, doctor, start, adherence=rng.uniform(0.7, 0.97))
        person.systolic = rng.gauss(
            136 if condition in ("hypertension", "heart_failure", "elderly") else 126, 7
        )
        person.diastolic = max(62.0, person.systolic * 0.6 + rng.gauss(0, 4))
        person.pulse = rng.gauss(74, 7)
        person.glucose = rng.uniform(6.0, 8.5) if condition == "diabetes" else rng.uniform(4.8, 5.8)
        person.weight = rng.gauss(66 if patient.sex == "female" else 74, 8)
        person.spo2 = rng.uniform(92.5, 95.5) if condition == "copd" else rng.uniform(95.5, 98)
        if condition.startswith("rehab"):
            person.steps_target = rng.choice([3000, 4000, 5000, 6000])
            person.minutes_target = rng.choice([20, 30, 30, 40])
            person.rom_target = 3 if condition == "rehab_knee" else rng.choice([0, 2])
            person.profile = rng.choices(["steady", "struggling", "progressing"], weights=[6, 2, 2], k=1)[0]
            person.start = self.now - dt.timedelta(days=rng.randint(21, 45))
        return person

    # --- devices, enrolments, care -----------------------------------------------------------------

    def enroll(self) -> None:
        rng = self.rng
        identities: list[User] = []
        plans: list[tuple[Person, str, str, str, str]] = []
        for person in self.people:
            for kind in CONDITIONS[person.condition][2]:
                self.counter += 1
                uid = hashlib.sha256(f"{self.ctx.seed}:{self.counter}".encode()).hexdigest()[:12]
                maker, model = rng.choice(MANUFACTURERS[kind])
                serial = f"{kind[:2].upper()}{self.ctx.seed % 100:02d}{self.counter:06d}"
                identities.append(
                    User(
                        username=f"device-{uid}",
                        role=Role.DEVICE,
                        display_name=f"{DeviceKind(kind).label} {serial}",
                        password="!",
                    )
                )
                plans.append((person, kind, uid, maker, model))
        User.objects.bulk_create(identities, batch_size=1000)
        saved = {u.username: u for u in User.objects.filter(username__in=[u.username for u in identities])}
        devices = []
        self.demo_credential = ""
        demo_patient = self.ctx.state.get("demo_patient")
        for (person, kind, uid, maker, model), identity in zip(plans, identities, strict=True):
            secret = "".join(
                rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(32)
            )
            credential = f"scd_{uid}_{secret}"
            if (
                demo_patient is not None
                and person.patient.pk == demo_patient.pk
                and kind == DeviceKind.BP_MONITOR
            ):
                self.demo_credential = credential
            paired = person.start + dt.timedelta(hours=1)
            device = Device(
                uid=uid,
                kind=kind,
                manufacturer=maker,
                model_name=model,
                serial_number=f"{kind[:2].upper()}-{uid[:8]}",
                identity=saved[identity.username],
                patient=person.patient,
                paired_at=paired,
                paired_by=person.doctor,
                secret_hash=Device.hash_secret(credential),
                credential_issued_at=paired,
                created_at=paired,
            )
            person.devices[kind] = device
            devices.append(device)
        Device.objects.bulk_create(devices, batch_size=1000)
        enrollments = [
            Enrollment(
                patient=p.patient,
                department=p.department,
                responsible=p.doctor,
                reason=CONDITIONS[p.condition][3],
                started_at=p.start,
                created_by=p.doctor,
                created_at=p.start,
            )
            for p in self.people
        ]
        Enrollment.objects.bulk_create(enrollments, batch_size=1000)
        self.enrollments = {e.patient_id: e for e in enrollments}
        CareRelationship.objects.bulk_create(
            [
                CareRelationship(
                    patient_id=e.patient_id,
                    department_id=e.department_id,
                    kind=CareRelationshipKind.FOLLOW_UP,
                    source=f"monitoring.enrollment:{e.pk}",
                    valid_from=e.started_at,
                )
                for e in enrollments
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        # A few doctors tightened a patient's blood pressure thresholds (after a stroke, in diabetes).
        tight = [p for p in self.people if p.condition in ("rehab_stroke", "diabetes")][:12]
        Threshold.objects.bulk_create(
            [
                Threshold(
                    patient=p.patient,
                    kind=K.BLOOD_PRESSURE,
                    metric="systolic",
                    warning_low=100,
                    warning_high=150,
                    critical_high=175,
                    set_by=p.doctor,
                    reason="目标血压 <130/80，收紧预警阈值",
                )
                for p in tight
            ]
        )

    # --- readings ------------------------------------------------------------------------------------

    def _at(self, day: dt.date, hour: float, jitter_minutes: float = 30) -> dt.datetime:
        minutes = hour * 60 + self.rng.gauss(0, jitter_minutes)
        minutes = min(max(minutes, 5), 23 * 60 + 50)
        return dt.datetime.combine(day, dt.time(int(minutes // 60), int(minutes % 60)), tzinfo=self.tz)

    def _add(
        self,
        person: Person,
        kind: str,
        when: dt.datetime,
        value: float,
        value2: float | None = None,
        pulse: float | None = None,
        source: str = "mqtt",
    ) -> None:
        if when > self.now or when < person.start:
            return
        device = None
        for device_kind in person.devices:
            if kind in _reports(device_kind):
                device = person.devices[device_kind]
                break
        self.counter += 1
        self.readings.append(
            Reading(
                patient=person.patient,
                device=device if source != "manual" else None,
                kind=kind,
                value=round(value, 1 if kind in (K.GLUCOSE, K.WEIGHT) else 0),
                value2=round(value2) if value2 is not None else None,
                pulse=round(pulse) if pulse is not None else None,
                unit=UNITS[kind],
                measured_at=when,
                received_at=when + dt.timedelta(seconds=self.rng.randint(1, 40)),
                source=source,
                message_id=f"demo-{self.counter}" if source != "manual" else "",
                recorded_by=person.patient.user if source == "manual" else None,
            )
        )

    def plan_episodes(self) -> None:
        rng = self.rng
        candidates = {name: [p for p in self.people if p.condition == name] for name in CONDITIONS}
        scale = max(1, len(self.people) // 100)
        for condition, kind in EPISODES:
            pool = [p for p in candidates[condition] if p.episode is None]
            for person in rng.sample(pool, min(len(pool), 2 * scale)):
                back = rng.choice([0, 1, 3, 6, 12, 20, 33]) if kind != "fluid" else rng.choice([0, 9, 25])
                person.episode = (kind, self.today - dt.timedelta(days=back))
        # The demo doctor's board always shows something today.
        demo = [
            p
            for p in self.people
            if p.doctor.username == "doctor" and p.condition == "hypertension" and p.episode is None
        ]
        for person in demo[:2]:
            person.episode = ("crisis", self.today)

    def generate(self) -> None:
        for person in self.people:
            first = max(person.start, self.now - dt.timedelta(days=DAYS)).astimezone(self.tz).date()
            day = first
            drift = 0.0
            while day <= self.today:
                episode = (
                    person.episode[0] if person.episode and 0 <= (day - person.episode[1]).days <= 1 else ""
                )
                fluid = (
                    person.episode
                    and person.episode[0] == "fluid"
                    and 0 <= (person.episode[1] - day).days <= 3
                )
                drift = 0.9 * drift + self.rng.gauss(0, 1.2)
                if self.rng.random() < person.adherence or episode:
                    self._day(
                        person,
                        day,
                        drift,
                        episode,
                        (3 - (person.episode[1] - day).days) if fluid and person.episode else -1,
                    )
                if person.condition.startswith("rehab"):
                    self._rehab_day(person, day)
                day += dt.timedelta(days=1)

    def _day(self, p: Person, day: dt.date, drift: float, episode: str, fluid_day: int) -> None:
        rng = self.rng
        kinds = {k for device_kind in p.devices for k in _reports(device_kind)}
        if K.BLOOD_PRESSURE in kinds:
            for hour, surge in ((7.0, 5.0), (20.5, 0.0)):
                systolic = p.systolic + drift + surge + rng.gauss(0, 5)
                diastolic = p.diastolic + drift * 0.5 + surge * 0.4 + rng.gauss(0, 3.5)
                if episode == "crisis":
                    systolic, diastolic = rng.uniform(182, 205), rng.uniform(108, 122)
                self._add(
                    p,
                    K.BLOOD_PRESSURE,
                    self._at(day, hour),
                    systolic,
                    min(diastolic, systolic - 25),
                    p.pulse + rng.gauss(0, 5),
                )
        if K.GLUCOSE in kinds:
            fasting = p.glucose + drift * 0.1 + rng.gauss(0, 0.5)
            after = fasting + rng.uniform(2.0, 4.0)
            if episode == "hypo":
                fasting = rng.uniform(2.4, 2.9)
            if episode == "hyper":
                after = rng.uniform(17.0, 21.0)
            self._add(p, K.GLUCOSE, self._at(day, 6.8, 20), max(fasting, 2.2))
            self._add(p, K.GLUCOSE, self._at(day, 20.5), after)
        if K.WEIGHT in kinds:
            gain = 0.8 * fluid_day if fluid_day >= 0 else 0.0
            self._add(
                p, K.WEIGHT, self._at(day, 7.3, 15), p.weight + drift * 0.05 + gain + rng.gauss(0, 0.25)
            )
        if K.SPO2 in kinds and p.condition != "rehab_stroke":
            for hour in (8.0, 14.0, 21.0):
                spo2 = min(100.0, p.spo2 + rng.gauss(0, 0.9))
                if episode == "desaturation" and hour >= 14:
                    spo2 = rng.uniform(85, 89)
                self._add(p, K.SPO2, self._at(day, hour, 40), spo2, pulse=p.pulse + rng.gauss(4, 6))

    def _rehab_day(self, p: Person, day: dt.date) -> None:
        rng = self.rng
        since = (day - p.start.astimezone(self.tz).date()).days
        recent = (self.today - day).days
        level = min(rng.uniform(0.82, 1.06), 0.55 + since * 0.025)  # recovery over the weeks
        if p.profile == "struggling" and recent <= 3:
            level = rng.uniform(0.25, 0.42)
        elif p.profile == "progressing" and recent <= 8:
            level = rng.uniform(1.08, 1.3)
        steps_today = p.steps_target * level * rng.uniform(0.85, 1.1)
        # A wearable syncs every two hours; most steps on the morning and afternoon walks.
        shape = {8: 0.10, 10: 0.30, 12: 0.12, 14: 0.08, 16: 0.28, 18: 0.08, 20: 0.04}
        for hour, share in shape.items():
            when = self._at(day, hour, 5)
            self._add(p, K.STEPS, when, steps_today * share)
            if share >= 0.28:
                self._add(p, K.EXERCISE_MINUTES, when, p.minutes_target * level * rng.uniform(0.42, 0.55))
                self._add(p, K.HEART_RATE, when, p.pulse + rng.uniform(18, 30))
        if p.rom_target and p.patient.user_id:
            for session in range(round(p.rom_target * min(1.0, level))):
                self._add(p, K.ROM_SESSIONS, self._at(day, 9 + session * 4, 20), 1, source="manual")

    # --- flags and alerts ------------------------------------------------------------------------------

    def alerts(self) -> list[Alert]:
        book = ThresholdBook({p.patient.pk for p in self.people})
        by_patient = {p.patient.pk: p for p in self.people}
        self.readings.sort(key=lambda r: (r.patient_id, r.measured_at))
        open_alerts: dict[tuple[int, str], Alert] = {}
        made: list[Alert] = []
        for reading in self.readings:
            breaches = book.breaches(reading.patient_id, reading)  # type: ignore[arg-type]
            reading.flag = flag_of(breaches)
            worst: dict[str, Breach] = {}
            for breach in breaches:
                if breach.kind not in worst or breach.severity == AlertSeverity.CRITICAL:
                    worst[breach.kind] = breach
            for kind, breach in worst.items():
                key = (reading.patient_id, kind)
                alert = open_alerts.get(key)
                person = by_patient[reading.patient_id]
                if alert is not None and (
                    alert.acknowledged_at is None or alert.acknowledged_at > reading.measured_at
                ):
                    alert.repeat_count += 1
                    alert.last_seen_at = reading.measured_at
                    if breach.severity == AlertSeverity.CRITICAL and alert.severity != AlertSeverity.CRITICAL:
                        alert.severity, alert.critical_since = (
                            AlertSeverity.CRITICAL,
                            reading.measured_at + dt.timedelta(seconds=30),
                        )
                    continue
                raised = reading.received_at
                alert = Alert(
                    patient_id=reading.patient_id,
                    department=person.department,
                    responsible=person.doctor,
                    kind=kind,
                    rule=AlertRule.THRESHOLD,
                    severity=breach.severity,
                    direction=breach.direction,
                    value_text=f"{breach.value:g} /min"
                    if kind == K.HEART_RATE and reading.kind != K.HEART_RATE
                    else reading.display_value,
                    raised_at=raised,
                    critical_since=raised if breach.severity == AlertSeverity.CRITICAL else None,
                    last_seen_at=reading.measured_at,
                    created_at=raised,
                )
                alert._reading = reading  # type: ignore[attr-defined]
                self._settle(alert, person)
                open_alerts[key] = alert
                made.append(alert)
        return made

    def _settle(self, alert: Alert, person: Person) -> None:
        """History: acknowledged after a while; the last day's alerts are still open (some escalated)."""
        age = self.now - alert.raised_at
        minutes = (
            self.rng.uniform(4, 50) if alert.severity == AlertSeverity.CRITICAL else self.rng.uniform(20, 600)
        )
        if age > dt.timedelta(hours=20) or (age > dt.timedelta(minutes=minutes) and self.rng.random() < 0.3):
            alert.status = AlertStatus.ACKNOWLEDGED
            alert.acknowledged_at = alert.raised_at + dt.timedelta(
                minutes=min(minutes, age.total_seconds() / 60)
            )
            alert.acknowledged_by = person.doctor
            if alert.severity == AlertSeverity.CRITICAL and minutes > 15:
                alert.escalation_level = EscalationLevel.DUTY_DOCTOR
                alert.escalated_at = alert.raised_at + dt.timedelta(minutes=15)
            alert.acknowledgement_note = self.rng.choice(
                [
                    "已电话联系患者，嘱复测并按时服药",
                    "已调整用药，三天后复诊",
                    "患者已到急诊就诊",
                    "已告知饮食与用药注意事项",
                ]
            )
        elif alert.severity == AlertSeverity.CRITICAL and age > dt.timedelta(minutes=15):
            escalate = settings.SMARTCARE_MONITORING_ESCALATE_MINUTES
            steps = min(2, int(age.total_seconds() // 60 // escalate))
            alert.escalation_level = steps
            alert.escalated_at = alert.raised_at + dt.timedelta(minutes=escalate * steps) if steps else None

    def trend_alerts(self) -> list[Alert]:
        made = []
        for person in self.people:
            if not person.episode or person.episode[0] != "fluid":
                continue
            day = person.episode[1]
            raised = dt.datetime.combine(day, dt.time(9), tzinfo=self.tz)
            if raised > self.now:
                raised = self.now - dt.timedelta(minutes=30)
            alert = Alert(
                patient=person.patient,
                department=person.department,
                responsible=person.doctor,
                kind=K.WEIGHT,
                rule=AlertRule.TREND,
                severity=AlertSeverity.WARNING,
                direction="rising",
                value_text=f"{person.weight:.1f} → {person.weight + 0.8:.1f} → {person.weight + 1.6:.1f} → {person.weight + 2.4:.1f} kg",
                raised_at=raised,
                last_seen_at=raised,
                created_at=raised,
            )
            self._settle(alert, person)
            made.append(alert)
        return made

    # --- rehab -----------------------------------------------------------------------------------------

    def rehab_plans(self) -> None:
        rehabbers = [p for p in self.people if p.condition.startswith("rehab")]
        plans = []
        for p in rehabbers:
            plans.append(
                RehabPlan(
                    patient=p.patient,
                    department=p.department,
                    therapist=p.doctor,
                    goal="恢复独立步行，每日步行与关节活动训练"
                    if p.condition == "rehab_knee"
                    else "改善步行耐力与平衡",
                    starts_on=p.start.astimezone(self.tz).date(),
                    created_by=p.doctor,
                    created_at=p.start,
                )
            )
        RehabPlan.objects.bulk_create(plans)
        targets, suggestions = [], []
        for p, plan in zip(rehabbers, plans, strict=True):
            # Started lower; a progression accepted two weeks ago set today's targets.
            changed = self.today - dt.timedelta(days=14)
            for kind, value in (
                (RehabTargetKind.STEPS, p.steps_target),
                (RehabTargetKind.EXERCISE_MINUTES, p.minutes_target),
                (RehabTargetKind.ROM_SESSIONS, p.rom_target),
            ):
                if not value:
                    continue
                earlier = rehab.round_up(kind, value / 1.1) if kind != RehabTargetKind.ROM_SESSIONS else value
                if kind == RehabTargetKind.STEPS and changed > plan.starts_on and earlier < value:
                    targets.append(
                        RehabTarget(
                            plan=plan,
                            kind=kind,
                            daily_target=earlier,
                            effective_from=plan.starts_on,
                            set_by=p.doctor,
                            set_at=p.start,
                        )
                    )
                    targets.append(
                        RehabTarget(
                            plan=plan, kind=kind, daily_target=value, effective_from=changed, set_by=p.doctor
                        )
                    )
                    suggestions.append(
                        RehabSuggestion(
                            plan=plan,
                            kind=kind,
                            rule=SuggestionRule.PROGRESSION,
                            current_target=earlier,
                            suggested_target=value,
                            window_start=changed - dt.timedelta(days=7),
                            window_end=changed - dt.timedelta(days=1),
                            daily_values=[round(earlier * self.rng.uniform(1.0, 1.2)) for _ in range(7)],
                            status=SuggestionStatus.ACCEPTED,
                            decided_by=p.doctor,
                            decided_at=dt.datetime.combine(changed, dt.time(10), tzinfo=self.tz),
                            applied_target=value,
                        )
                    )
                else:
                    targets.append(
                        RehabTarget(
                            plan=plan,
                            kind=kind,
                            daily_target=value,
                            effective_from=plan.starts_on,
                            set_by=p.doctor,
                            set_at=p.start,
                        )
                    )
        RehabTarget.objects.bulk_create(targets)
        RehabSuggestion.objects.bulk_create(suggestions)

    def duties(self) -> None:
        rows = []
        for code in ("03.04", "03.07", "03.01", "03.10", "21", "04.03"):
            department = next((p.department for p in self.people if p.department.code == code), None)
            if department is None:
                continue
            doctors = list(
                User.objects.filter(role=Role.DOCTOR, practitioner__department=department).order_by(
                    "username"
                )
            )
            creator = (
                User.objects.filter(role=Role.DEPARTMENT_HEAD, practitioner__department=department).first()
                or doctors[0]
            )
            for offset in range(-7, 8):
                start = dt.datetime.combine(
                    self.today + dt.timedelta(days=offset), dt.time(8), tzinfo=self.tz
                )
                rows.append(
                    DutyAssignment(
                        department=department,
                        doctor=doctors[(offset + 7) % len(doctors)],
                        starts_at=start,
                        ends_at=start + dt.timedelta(days=1),
                        created_by=creator,
                    )
                )
        DutyAssignment.objects.bulk_create(rows)

    def run(self) -> None:
        self.choose()
        self.enroll()
        self.plan_episodes()
        self.generate()
        made = self.alerts() + self.trend_alerts()
        Reading.objects.bulk_create(self.readings, batch_size=2000)
        for alert in made:
            reading = getattr(alert, "_reading", None)
            if reading is not None:
                alert.reading = reading
            alert.enrollment = self.enrollments.get(alert.patient_id)
        Alert.objects.bulk_create(made, batch_size=1000)
        last_seen: dict[int, dt.datetime] = {}
        for reading in self.readings:
            if reading.device_id is not None:
                last_seen[reading.device_id] = max(
                    last_seen.get(reading.device_id, reading.received_at), reading.received_at
                )
        devices = [Device(pk=pk, last_seen_at=at) for pk, at in last_seen.items()]
        Device.objects.bulk_update(devices, ["last_seen_at"], batch_size=1000)
        self.rehab_plans()
        self.duties()
        suggested = rehab.evaluate_plans()
        open_alerts = [a for a in made if a.status == AlertStatus.OPEN]
        for alert in open_alerts:
            person = next(p for p in self.people if p.patient.pk == alert.patient_id)
            notify(
                person.doctor,
                category="monitoring_alert",
                subject=f"{alert.get_severity_display()}：{person.patient.name} {alert.get_kind_display()} {alert.value_text}",
                body="请在居家监测看板查看并确认。",
                link=f"/monitoring/patients/{alert.patient_id}/",
            )
            if person.patient.user_id:
                notify(
                    person.patient.user,
                    category="monitoring_alert",
                    subject=f"健康提醒：{alert.get_kind_display()} {alert.value_text}",
                    body=str(alert.advice),
                    link="/monitoring/me/",
                )
        self.ctx.state["monitoring"] = {"patients": [p.patient.pk for p in self.people]}
        critical = sum(1 for a in made if a.severity == AlertSeverity.CRITICAL)
        self.ctx.log(
            f"monitoring: {len(self.people)} patients, {sum(len(p.devices) for p in self.people)} devices, "
            f"{len(self.readings)} readings, {len(made)} alerts ({critical} critical, {len(open_alerts)} open), "
            f"{len(plans_of(self.people))} rehab plans, {suggested} suggestions waiting"
        )
        if self.demo_credential:
            self.ctx.log(f"monitoring: the demo patient's BP monitor credential is {self.demo_credential}")


def plans_of(people: list[Person]) -> list[Person]:
    return [p for p in people if p.condition.startswith("rehab")]


def _reports(device_kind: str) -> frozenset[str]:
    return DEVICE_MEASUREMENTS[device_kind]


def build_monitoring(ctx: DemoContext) -> None:
    _Builder(ctx).run()


register_generator("monitoring", build_monitoring, order=55)
