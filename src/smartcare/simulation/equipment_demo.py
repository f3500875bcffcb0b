"""The demo hospital's equipment: CT, MRI, X-ray and ultrasound in the imaging departments,
ventilators in intensive care and video terminals for teleconsultation, with a year of telemetry
(hourly for the last 90 days, daily before that, raw samples for the last two days), daily use
(mornings busier than afternoons on the CTs, which a capacity move three weeks ago partly evened
out), tubes and blowers wearing out before failures (some caught early by a predictive work order,
some not), preventive plans with their work orders (most on time), a video terminal that stopped
sending heartbeats, and the failure predictions and anomaly checks run on all of it.

Telemetry and usage are bulk-written; predictions, anomaly alerts and heartbeat loss go through the
real analytics and services.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from smartcare.accounts.models import User
from smartcare.core import clock
from smartcare.equipment import analytics, services
from smartcare.equipment.choices import AssetKind, WorkOrderKind, WorkOrderStatus
from smartcare.equipment.errors import NotEnoughFailureHistory
from smartcare.equipment.ingest import new_credential
from smartcare.equipment.models import (
    Asset,
    CapacityMove,
    MaintenanceContract,
    PreventivePlan,
    TelemetryRollup,
    TelemetrySample,
    UsageSession,
    WorkOrder,
)
from smartcare.organization.models import Department
from smartcare.scheduling.models import ExamType, ScheduleTemplate
from smartcare.simulation.registry import DemoContext, register_generator

HISTORY_DAYS = 365
HOURLY_DAYS = 90
RAW_DAYS = 2
WEAR_DAYS = 40


@dataclass
class Plan:
    kind: str
    name: str
    maker: str
    model: str
    department: str
    location: str
    exams: tuple[str, ...] = ()
    failures: tuple[int, ...] = ()  # days from today (negative: past) of failures not caught
    caught: tuple[int, ...] = ()  # days of failures a predictive work order prevented
    morning: float = 0.6  # busy share of the service hours
    afternoon: float = 0.5
    silent_hours: float = 0.0  # stopped reporting this many hours ago
    price: int = 0
    base: dict[str, float] = field(default_factory=dict)
    wear: dict[str, float] = field(default_factory=dict)


BASE: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    AssetKind.CT: (
        {"temperature": 32, "voltage": 230, "current": 300, "load": 55},
        {"temperature": 10, "current": 130},
    ),
    AssetKind.MRI: (
        {"temperature": 24, "voltage": 230, "current": 200, "load": 50},
        {"temperature": 7, "current": 70},
    ),
    AssetKind.XRAY: (
        {"temperature": 33, "voltage": 229, "current": 250, "load": 40},
        {"temperature": 9, "current": 110},
    ),
    AssetKind.ULTRASOUND: (
        {"temperature": 30, "voltage": 229, "current": 900, "load": 35},
        {"temperature": 5, "current": 300},
    ),
    AssetKind.VENTILATOR: (
        {"temperature": 34, "voltage": 230, "current": 1000, "load": 45},
        {"temperature": 6, "current": 450},
    ),
    AssetKind.VIDEO_TERMINAL: (
        {"temperature": 40, "voltage": 230, "current": 800, "load": 30},
        {"temperature": 8, "current": 300},
    ),
}

PLANS = [
    Plan(
        AssetKind.CT,
        "CT 1 (64-slice)",
        "Siemens",
        "SOMATOM go.Up",
        "32.02",
        "医技楼 2F CT-1",
        ("CT-HEAD", "CT-CHEST"),
        failures=(-300, -170),
        caught=(-80, 1),
        morning=0.85,
        afternoon=0.5,
        price=6_800_000,
    ),
    Plan(
        AssetKind.CT,
        "CT 2 (128-slice)",
        "GE",
        "Revolution EVO",
        "32.02",
        "医技楼 2F CT-2",
        ("CT-CHEST", "CT-ABD"),
        failures=(-250, -120),
        morning=0.8,
        afternoon=0.55,
        price=9_500_000,
    ),
    Plan(
        AssetKind.MRI,
        "MRI 1.5T",
        "United Imaging",
        "uMR 570",
        "32.02",
        "医技楼 B1 MR-1",
        morning=0.75,
        afternoon=0.7,
        price=12_000_000,
    ),
    Plan(
        AssetKind.XRAY,
        "DR X-ray",
        "Philips",
        "DigitalDiagnost C90",
        "32.02",
        "医技楼 1F DR-1",
        failures=(-200, -12),
        morning=0.7,
        afternoon=0.45,
        price=1_600_000,
    ),
    Plan(
        AssetKind.ULTRASOUND,
        "Ultrasound 1",
        "Mindray",
        "Resona R9",
        "32.05",
        "医技楼 2F US-1",
        ("US-ABD", "US-PELVIS"),
        morning=0.8,
        afternoon=0.6,
        price=1_900_000,
    ),
    Plan(
        AssetKind.ULTRASOUND,
        "Ultrasound 2",
        "Mindray",
        "Resona R9",
        "32.05",
        "医技楼 2F US-2",
        ("US-THYROID", "US-PELVIS"),
        morning=0.7,
        afternoon=0.55,
        price=1_900_000,
    ),
    Plan(
        AssetKind.VENTILATOR,
        "Ventilator ICU-1",
        "Dräger",
        "Evita V800",
        "28",
        "外科楼 6F ICU 1",
        failures=(-280, -140),
        morning=0.9,
        afternoon=0.9,
        price=420_000,
    ),
    Plan(
        AssetKind.VENTILATOR,
        "Ventilator ICU-2",
        "Dräger",
        "Evita V800",
        "28",
        "外科楼 6F ICU 2",
        failures=(-220,),
        caught=(-60,),
        morning=0.85,
        afternoon=0.85,
        price=420_000,
    ),
    Plan(
        AssetKind.VENTILATOR,
        "Ventilator ICU-3",
        "Mindray",
        "SV800",
        "28",
        "外科楼 6F ICU 3",
        failures=(-190, -40),
        morning=0.8,
        afternoon=0.8,
        price=380_000,
    ),
    Plan(
        AssetKind.VIDEO_TERMINAL,
        "Teleconsultation terminal A",
        "Huawei",
        "TE30",
        "03.04",
        "门诊楼 3F 远程会诊室",
        morning=0.4,
        afternoon=0.5,
        price=45_000,
    ),
    Plan(
        AssetKind.VIDEO_TERMINAL,
        "Teleconsultation terminal B",
        "Huawei",
        "TE30",
        "03.04",
        "门诊楼 3F 诊室 6",
        morning=0.3,
        afternoon=0.35,
        silent_hours=2.5,
        price=45_000,
    ),
]


class Builder:
    def __init__(self, ctx: DemoContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.today = clock.today()
        self.now = clock.now()
        self.zone = clock.local_now().tzinfo
        self.engineer = User.objects.filter(username="itadmin").first()
        self.departments: dict[str, Department] = {d.code: d for d in Department.objects.all()}
        self.exams = {e.code: e for e in ExamType.objects.all()}
        self.rollups: list[TelemetryRollup] = []
        self.counts = {"rollups": 0, "samples": 0, "usage": 0, "orders": 0}

    def _at(self, day: dt.date, hour: float) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.zone) + dt.timedelta(hours=hour)

    def _department(self, code: str) -> Department:
        return (
            self.departments.get(code) or self.departments.get("20") or next(iter(self.departments.values()))
        )

    def run(self) -> None:
        started = time.monotonic()
        assets = [self._asset(n, plan) for n, plan in enumerate(PLANS)]
        for asset, plan in zip(assets, PLANS, strict=True):
            self._history(asset, plan)
            self._usage(asset, plan)
            self._maintenance(asset, plan)
        self._flush(force=True)
        self._capacity_move(assets[0])
        self._heartbeats(assets, PLANS)
        predicted = 0
        for kind in AssetKind.values:
            with contextlib.suppress(NotEnoughFailureHistory):  # kinds that never failed
                predicted += len(analytics.predict_kind(kind, actor=self.engineer))
            analytics.raise_anomaly_alerts(kind, actor=self.engineer)
        services.check_heartbeats()
        services.open_due_preventive_orders()
        self.ctx.state["equipment"] = {"assets": [a.pk for a in assets]}
        self.ctx.log(
            f"equipment: {len(assets)} assets, {self.counts['rollups']} hourly/daily telemetry rows, "
            f"{self.counts['samples']} raw samples, {self.counts['usage']} usage sessions, "
            f"{WorkOrder.objects.count()} work orders, {predicted} failure predictions "
            f"({time.monotonic() - started:.1f}s)"
        )

    def _asset(self, n: int, plan: Plan) -> Asset:
        uid = f"{self.rng.getrandbits(48):012x}"
        purchased = self.today - dt.timedelta(days=400 + 150 * n)
        asset = Asset.objects.create(
            kind=plan.kind,
            name=plan.name,
            maker=plan.maker,
            model_name=plan.model,
            serial_number=f"{plan.maker[:2].upper()}{2019 + n % 5}{self.rng.randint(10000, 99999)}",
            department=self._department(plan.department),
            location=plan.location,
            purchase_date=purchased,
            purchase_price=Decimal(plan.price),
            warranty_until=purchased + dt.timedelta(days=3 * 365),
            uid=uid,
            credential_hash=Asset.hash_credential(new_credential(uid)),
            heartbeat_seconds=60,
            opens_at=dt.time(0) if plan.kind == AssetKind.VENTILATOR else dt.time(8),
            closes_at=dt.time(23, 59) if plan.kind == AssetKind.VENTILATOR else dt.time(17),
        )
        asset.exam_types.set([self.exams[c] for c in plan.exams if c in self.exams])
        MaintenanceContract.objects.create(
            asset=asset,
            vendor=f"{plan.maker} Service",
            number=f"MC-{2025}-{n + 1:03d}",
            starts_on=self.today - dt.timedelta(days=200),
            ends_on=self.today + dt.timedelta(days=165),
            response_hours=4 if plan.kind in (AssetKind.CT, AssetKind.MRI, AssetKind.VENTILATOR) else 24,
            covers_parts=plan.kind in (AssetKind.CT, AssetKind.MRI),
        )
        return asset

    # --- telemetry --------------------------------------------------------------------------------

    def _wear(self, plan: Plan, day_offset: float) -> float:
        """0 when new, towards 1 just before the next failure (or the caught one)."""
        upcoming = [d for d in (*plan.failures, *plan.caught) if d >= day_offset]
        if not upcoming:
            return 0.0
        left = min(upcoming) - day_offset
        return math.exp(-left / 6) if left <= WEAR_DAYS else 0.0

    def _values(self, asset: Asset, plan: Plan, day_offset: float, busy: float) -> dict[str, float]:
        base, wear_gain = BASE[asset.kind]
        wear = self._wear(plan, day_offset)
        gauss = self.rng.gauss
        load = max(0.0, min(100.0, base["load"] * (0.4 + busy) + gauss(0, 3)))
        return {
            "temperature": round(
                base["temperature"] + 0.04 * load + wear_gain["temperature"] * wear + gauss(0, 0.4), 2
            ),
            "voltage": round(base["voltage"] + gauss(0, 1.5), 1),
            "current": round(
                base["current"] * (0.6 + 0.6 * busy) + wear_gain["current"] * wear + gauss(0, 8), 1
            ),
            "load": round(load, 1),
        }

    def _down(self, plan: Plan, day_offset: int) -> bool:
        return any(f <= day_offset < f + 2 for f in plan.failures)

    def _history(self, asset: Asset, plan: Plan) -> None:
        hours = range(asset.opens_at.hour, asset.closes_at.hour + (1 if asset.closes_at.minute else 0))
        for back in range(HISTORY_DAYS, -1, -1):
            day = self.today - dt.timedelta(days=back)
            if self._down(plan, -back) or (day.weekday() == 6 and asset.kind != AssetKind.VENTILATOR):
                continue
            if back > HOURLY_DAYS:  # older history is kept per day
                values = self._values(asset, plan, -back, (plan.morning + plan.afternoon) / 2)
                self._rollup(asset, self._at(day, 12), values, count=len(hours) * 60)
                continue
            for hour in hours:
                moment = self._at(day, hour)
                if moment > self.now - dt.timedelta(hours=plan.silent_hours + 1):
                    break
                busy = plan.morning if hour < 12 else plan.afternoon
                self._rollup(asset, moment, self._values(asset, plan, -back + hour / 24, busy), count=60)
        self._raw(asset, plan)

    def _rollup(self, asset: Asset, hour: dt.datetime, values: dict[str, float], count: int) -> None:
        utc_hour = hour.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        for metric, value in values.items():
            spread = abs(value) * 0.02 + 0.1
            self.rollups.append(
                TelemetryRollup(
                    asset=asset,
                    metric=metric,
                    hour=utc_hour,
                    count=count,
                    mean=value,
                    minimum=round(value - spread, 2),
                    maximum=round(value + spread, 2),
                )
            )
        self._flush()

    def _flush(self, force: bool = False) -> None:
        if self.rollups and (force or len(self.rollups) >= 5000):
            TelemetryRollup.objects.bulk_create(self.rollups, batch_size=2000)
            self.counts["rollups"] += len(self.rollups)
            self.rollups = []

    def _raw(self, asset: Asset, plan: Plan) -> None:
        """The last two days at one message per ten minutes (what the pruning keeps raw)."""
        samples = []
        end = self.now - dt.timedelta(hours=plan.silent_hours)
        moment = end - dt.timedelta(days=RAW_DAYS)
        n = 0
        while moment < end:
            local = moment.astimezone(self.zone)
            open_now = asset.opens_at <= local.time() <= asset.closes_at
            busy = (plan.morning if local.hour < 12 else plan.afternoon) if open_now else 0.05
            offset = (moment - self.now).total_seconds() / 86400
            samples.append(
                TelemetrySample(
                    asset=asset,
                    measured_at=moment,
                    received_at=moment,
                    source="mqtt",
                    message_id=f"{asset.uid}-{n}",
                    event="" if open_now else "heartbeat",
                    **(self._values(asset, plan, offset, busy) if open_now else {}),
                )
            )
            n += 1
            moment += dt.timedelta(minutes=10)
        TelemetrySample.objects.bulk_create(samples, batch_size=2000)
        self.counts["samples"] += len(samples)
        Asset.objects.filter(pk=asset.pk).update(last_seen_at=end)

    # --- use --------------------------------------------------------------------------------------

    def _usage(self, asset: Asset, plan: Plan) -> None:
        """Exams as usage sessions over the last 90 days: mornings and afternoons as busy as planned
        (the first CT was steered from its mornings to its afternoons three weeks ago)."""
        if asset.kind == AssetKind.VENTILATOR:
            self._ventilation(asset, plan)
            return
        sessions = []
        for back in range(HOURLY_DAYS, 0, -1):
            day = self.today - dt.timedelta(days=back)
            if day.weekday() == 6 or self._down(plan, -back):
                continue
            morning, afternoon = plan.morning, plan.afternoon
            if asset.name == PLANS[0].name and back <= 21:
                morning, afternoon = morning - 0.1, afternoon + 0.12
            for start, end, busy in ((8.0, 12.0, morning), (13.0, 17.0, afternoon)):
                cursor = start
                while cursor < end:
                    length = self.rng.uniform(0.25, 0.6)
                    if self.rng.random() < busy:
                        stop = min(end, cursor + length)
                        sessions.append(
                            UsageSession(
                                asset=asset, started_at=self._at(day, cursor), ended_at=self._at(day, stop)
                            )
                        )
                    cursor += length
        UsageSession.objects.bulk_create(sessions, batch_size=2000)
        self.counts["usage"] += len(sessions)

    def _ventilation(self, asset: Asset, plan: Plan) -> None:
        """Ventilators run around the clock: patients ventilated for one to six days, with gaps."""
        sessions = []
        cursor = self.now - dt.timedelta(days=HOURLY_DAYS)
        while cursor < self.now - dt.timedelta(hours=6):
            end = min(
                cursor + dt.timedelta(hours=self.rng.uniform(24, 144)), self.now - dt.timedelta(hours=1)
            )
            if not self._down(plan, (cursor - self.now).days):
                sessions.append(UsageSession(asset=asset, started_at=cursor, ended_at=end))
            # Gaps short enough for the planned occupancy (85 %: about half a day between patients).
            cursor = end + dt.timedelta(days=self.rng.uniform(0.1, 1.5) * (1 - plan.morning) / 0.15)
        UsageSession.objects.bulk_create(sessions)
        self.counts["usage"] += len(sessions)

    def _capacity_move(self, asset: Asset) -> None:
        templates = list(
            ScheduleTemplate.objects.filter(exam_type__in=asset.exam_types.all(), is_active=True).order_by(
                "weekday", "start_time"
            )
        )
        morning = next((t for t in templates if t.period == "morning" and t.capacity_per_slot > 1), None)
        afternoon = next((t for t in templates if t.period == "afternoon"), None)
        if morning is None or afternoon is None:
            return
        morning.capacity_per_slot -= 1
        afternoon.capacity_per_slot += 1
        morning.save(update_fields=["capacity_per_slot"])
        afternoon.save(update_fields=["capacity_per_slot"])
        CapacityMove.objects.create(
            asset=asset,
            from_template=morning,
            to_template=afternoon,
            places=1,
            moved_by=self.engineer,
            moved_at=self.now - dt.timedelta(days=21),
        )

    # --- maintenance ------------------------------------------------------------------------------

    def _order(self, asset: Asset, **fields: Any) -> WorkOrder:
        self.counts["orders"] += 1
        return WorkOrder.objects.create(asset=asset, assignee=self.engineer, **fields)

    def _maintenance(self, asset: Asset, plan: Plan) -> None:
        for offset in plan.failures:
            if offset > 0:
                continue
            failed = self._at(self.today + dt.timedelta(days=offset), 10.5)
            hours = self.rng.uniform(20, 44)
            self._order(
                asset,
                kind=WorkOrderKind.CORRECTIVE,
                status=WorkOrderStatus.DONE,
                title=f"{asset.name}: failure in service",
                description="Stopped during an exam; error E-500 (tube/blower overheating).",
                due_on=failed.date() + dt.timedelta(days=1),
                opened_at=failed,
                started_at=failed + dt.timedelta(hours=1),
                completed_at=failed + dt.timedelta(hours=hours),
                downtime_started_at=failed,
                downtime_ended_at=failed + dt.timedelta(hours=hours),
                is_failure=True,
                parts=[
                    {
                        "name": "X-ray tube"
                        if asset.kind in (AssetKind.CT, AssetKind.XRAY)
                        else "Blower module",
                        "quantity": 1,
                    }
                ],
                resolution="Replaced the worn part; calibration and quality check passed.",
            )
        for offset in plan.caught:
            if offset > 0:
                continue  # still ahead: the prediction of this demo run opens its work order
            done = self._at(self.today + dt.timedelta(days=offset - 3), 18)
            self._order(
                asset,
                kind=WorkOrderKind.PREDICTIVE,
                status=WorkOrderStatus.DONE,
                title=f"{asset.name}: predicted failure",
                description="Remaining useful life under 3 days predicted; replaced before it failed.",
                due_on=done.date(),
                opened_at=done - dt.timedelta(days=1),
                started_at=done - dt.timedelta(hours=3),
                completed_at=done,
                downtime_started_at=done - dt.timedelta(hours=3),
                downtime_ended_at=done,
                parts=[
                    {"name": "X-ray tube" if asset.kind == AssetKind.CT else "Blower module", "quantity": 1}
                ],
                resolution="Replaced after hours, before it failed.",
            )
        interval = 90 if asset.kind in (AssetKind.CT, AssetKind.MRI, AssetKind.XRAY) else 180
        # The last one was due in the past four weeks; the earlier ones every interval before it.
        last_due = self.today - dt.timedelta(days=self.rng.randint(3, 28))
        dues = []
        due = last_due
        while due > self.today - dt.timedelta(days=HISTORY_DAYS):
            dues.append(due)
            due -= dt.timedelta(days=interval)
        for due in reversed(dues):
            late = self.rng.random() < 0.15
            shift = self.rng.randint(1, 6) if late else -self.rng.randint(0, 3)
            completed = min(self._at(due + dt.timedelta(days=shift), 19), self.now - dt.timedelta(hours=1))
            self._order(
                asset,
                kind=WorkOrderKind.PREVENTIVE,
                status=WorkOrderStatus.DONE,
                title="Preventive maintenance and quality control",
                due_on=due,
                opened_at=self._at(due - dt.timedelta(days=7), 9),
                started_at=completed - dt.timedelta(hours=2),
                completed_at=completed,
                downtime_started_at=completed - dt.timedelta(hours=2),
                downtime_ended_at=completed,
                resolution="Cleaned, calibrated, safety test passed.",
            )
        PreventivePlan.objects.create(
            asset=asset,
            title="Preventive maintenance and quality control",
            interval_days=interval,
            next_due=last_due + dt.timedelta(days=interval),
            assignee=self.engineer,
        )

    def _heartbeats(self, assets: list[Asset], plans: list[Plan]) -> None:
        for asset, plan in zip(assets, plans, strict=True):
            if plan.silent_hours:
                Asset.objects.filter(pk=asset.pk).update(
                    last_seen_at=self.now - dt.timedelta(hours=plan.silent_hours)
                )


def build_equipment(ctx: DemoContext) -> None:
    Builder(ctx).run()


register_generator("equipment", build_equipment, order=75)
