"""A year of triage in the demo hospital: patients describing complaints on the portal, the
kiosk, the front desk and the mini-program, the engine's answers, and the departments they
went on to book. Complaints are generated from the knowledge graph (a different seed from the
classifier's training texts) and answered by the real engine."""

from __future__ import annotations

import datetime as dt

from smartcare.core import clock
from smartcare.knowledge.seed import ensure_seed
from smartcare.patients.models import Patient
from smartcare.simulation.registry import DemoContext, register_generator
from smartcare.triage.choices import TriageChannel
from smartcare.triage.engine import get_engine
from smartcare.triage.model import generate
from smartcare.triage.models import TriageRecord
from smartcare.triage.types import TriageRequest

RECORDS = 900
DAYS = 365
CHANNELS = [
    (TriageChannel.PORTAL, 0.5),
    (TriageChannel.KIOSK, 0.25),
    (TriageChannel.DESK, 0.1),
    (TriageChannel.API, 0.15),
]
CHOSE_A_DEPARTMENT = 0.7  # share of answered triages followed by a booking link


def build_triage(ctx: DemoContext) -> None:
    rng = ctx.rng
    ensure_seed()
    engine = get_engine()
    complaints = generate(engine.graph, per_disease=2, seed=ctx.seed + 17)
    rng.shuffle(complaints)
    everyone = list(Patient.objects.order_by("pk").values_list("pk", "birth_date", "sex"))
    patients = rng.sample(everyone, min(len(everyone), 3000))
    today = clock.today()
    now = clock.now()
    records = []
    for complaint in complaints[:RECORDS]:
        patient_id, birth_date, sex = rng.choice(patients)
        age = max(0, (today - birth_date).days // 365)
        channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        result = engine.triage(TriageRequest(text=complaint.text, age=age, sex=sex))
        created = now - dt.timedelta(days=rng.randrange(DAYS), minutes=rng.randrange(8 * 60, 20 * 60))
        codes = [d.code for d in result.departments]
        chosen = (
            codes[0] if codes and result.status != "emergency" and rng.random() < CHOSE_A_DEPARTMENT else ""
        )
        records.append(
            TriageRecord(
                created_at=created,
                channel=channel,
                patient_id=patient_id if channel == TriageChannel.PORTAL else None,
                language="en" if complaint.text.isascii() else "zh-hans",
                age=age,
                sex=sex,
                text=complaint.text,
                status=result.status,
                findings=[f.key for f in result.findings],
                negated=[f.key for f in result.negated],
                red_flags=[f.key for f in result.red_flags],
                action=result.action,
                suggested_departments=codes,
                question=result.question.key if result.question else "",
                chosen_department=chosen,
                chosen_at=created + dt.timedelta(minutes=rng.randrange(1, 10)) if chosen else None,
                model_version=result.model_version,
                elapsed_ms=round(result.elapsed_ms, 2),
            )
        )
    TriageRecord.objects.bulk_create(records, batch_size=500)
    ctx.log(f"triage: {len(records)} triage conversations over {DAYS} days")


register_generator("triage", build_triage, order=30)
