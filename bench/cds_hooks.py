#!/usr/bin/env python
"""CDS Hooks order-sign latency: rich patients against every active rule.

    .venv/bin/python bench/cds_hooks.py [--requests 200] [--patients 20] [--observations 200]
        [--medications 20] [--var-dir DIR]

What it does, in a fresh database (a temporary SMARTCARE_VAR_DIR unless --var-dir is given):

1. migrates (the knowledge graph and the shipped rules come with it: over 1,300 active rules, of
   which about 1,160 interaction rules from the ONC list) and creates a device identity with an
   API token, standing for an external EMR.
2. builds ``--patients`` CDS Hooks order-sign requests. Each prefetch holds a Patient, a searchset
   of ``--medications`` active MedicationRequests drawn from common drugs of the graph, ``--observations``
   laboratory Observations over two years (creatinine, HbA1c, potassium, lipids, INR, TSH, blood
   count...), active Conditions (diabetes, hypertension, CKD 3), an allergy and past ServiceRequests;
   the draft orders are two medications (one of them interacting with the active list) and one
   lab test done recently (repeat exam).
3. sends ``--requests`` POST /cds-services/smartcare-order-sign through Django's test client with
   the bearer token (authentication, validation of every FHIR resource with fhir.resources R4B,
   mapping to ClinicalFacts, rules, cards, logging of every card), after 5 warm-up requests.

Progress goes to stderr; the last line of stdout is one JSON object:
``{"requests", "rules", "p50_ms", "p95_ms", "cards_per_request", ...}``. ``cpu_p50_ms`` and
``cpu_p95_ms`` are the CPU time of the benchmark process per request, and ``load_avg`` the machine's
1-minute load during the run: on a machine shared with other work the wall-clock figures grow with
the load, the CPU figures much less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

LABS = [
    ("2160-0", "Creatinine", "umol/L", 60, 160),
    ("4548-4", "HbA1c", "%", 5.5, 9.5),
    ("2823-3", "Potassium", "mmol/L", 3.5, 5.3),
    ("2951-2", "Sodium", "mmol/L", 134, 146),
    ("2345-7", "Glucose", "mmol/L", 4.5, 12),
    ("13457-7", "LDL cholesterol", "mmol/L", 1.5, 4.5),
    ("2093-3", "Total cholesterol", "mmol/L", 3.5, 6.5),
    ("6301-6", "INR", "{INR}", 0.9, 3.2),
    ("3016-3", "TSH", "mIU/L", 0.5, 5),
    ("1742-6", "ALT", "U/L", 10, 60),
    ("718-7", "Hemoglobin", "g/L", 100, 160),
    ("6690-2", "WBC", "10*9/L", 4, 11),
    ("777-3", "Platelets", "10*9/L", 150, 400),
    ("3084-1", "Urate", "umol/L", 200, 500),
    ("9318-7", "Urine albumin/creatinine", "mg/g", 5, 200),
]
COMMON_DRUGS = [
    "drug:amlodipine",
    "drug:metformin",
    "drug:atorvastatin",
    "drug:aspirin",
    "drug:omeprazole",
    "drug:losartan",
    "drug:metoprolol",
    "drug:levothyroxine",
    "drug:furosemide",
    "drug:warfarin",
    "drug:clopidogrel",
    "drug:sertraline",
    "drug:paracetamol",
    "drug:gabapentin",
    "drug:allopurinol",
    "drug:simvastatin",
    "drug:spironolactone",
    "drug:digoxin",
    "drug:cetirizine",
    "drug:insulin_glargine",
    "drug:sitagliptin",
    "drug:rosuvastatin",
    "drug:tamsulosin",
    "drug:prednisone",
    "drug:amiodarone",
]
DRAFTS = [("drug:clarithromycin", 500, 2), ("drug:ibuprofen", 400, 3)]
KNOWLEDGE = "https://smartcare.example/knowledge"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--observations", type=int, default=200)
    parser.add_argument("--medications", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--var-dir", default="")
    return parser.parse_args()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def medication(rid: str, drug: str, dose: float, per_day: int, status: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/ext"},
        "medicationCodeableConcept": {"coding": [{"system": KNOWLEDGE, "code": drug}], "text": drug[5:]},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": "mg"}}],
            }
        ],
    }


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def build_request(
    rng: random.Random, index: int, args: argparse.Namespace, now: dt.datetime
) -> dict[str, Any]:
    drugs = rng.sample(COMMON_DRUGS, k=min(args.medications, len(COMMON_DRUGS)))
    meds = [medication(f"m{index}-{n}", drug, 10, 1, "active") for n, drug in enumerate(drugs)]
    while len(meds) < args.medications:
        meds.append(medication(f"m{index}-{len(meds)}", rng.choice(COMMON_DRUGS), 10, 1, "active"))
    observations = []
    for n in range(args.observations):
        code, name, unit, low, high = LABS[n % len(LABS)]
        when = now - dt.timedelta(days=rng.uniform(0, 730))
        observations.append(
            {
                "resourceType": "Observation",
                "id": f"o{index}-{n}",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "laboratory",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": code, "display": name}],
                    "text": name,
                },
                "subject": {"reference": "Patient/ext"},
                "effectiveDateTime": when.isoformat(),
                "valueQuantity": {"value": round(rng.uniform(low, high), 2), "unit": unit},
            }
        )
    conditions = [
        {
            "resourceType": "Condition",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}], "text": text},
            "subject": {"reference": "Patient/ext"},
        }
        for code, text in (("E11.9", "Type 2 diabetes"), ("I10", "Hypertension"), ("N18.3", "CKD stage 3"))
    ]
    allergy = {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": "Patient/ext"},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": KNOWLEDGE, "code": "drug_class:penicillins"}], "text": "Penicillins"},
    }
    past_orders = [
        {
            "resourceType": "ServiceRequest",
            "status": "completed",
            "intent": "order",
            "subject": {"reference": "Patient/ext"},
            "code": {"coding": [{"system": "http://loinc.org", "code": LABS[n][0]}], "text": LABS[n][1]},
            "authoredOn": (now - dt.timedelta(days=rng.uniform(0, 365))).isoformat(),
        }
        for n in range(10)
    ]
    drafts = [
        medication(f"d{index}-{n}", drug, dose, per_day, "draft")
        for n, (drug, dose, per_day) in enumerate(DRAFTS)
    ]
    drafts.append(
        {
            "resourceType": "ServiceRequest",
            "id": f"s{index}",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/ext"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}], "text": "Potassium"},
        }
    )
    birth = f"{rng.randint(1940, 1975)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/bench",
            "patientId": f"EXT-{index}",
            "encounterId": f"ENC-{index}",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in drafts],
            },
        },
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": f"EXT-{index}",
                "gender": rng.choice(["male", "female"]),
                "birthDate": birth,
            },
            "medications": searchset(meds),
            "observations": searchset(observations),
            "conditions": searchset(conditions),
            "allergies": searchset([allergy]),
            "orders": searchset(past_orders),
        },
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> int:
    args = parse_args()
    var_dir = Path(args.var_dir) if args.var_dir else Path(tempfile.mkdtemp(prefix="cds-bench-"))
    os.environ["SMARTCARE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "smartcare.settings"
    os.environ.setdefault("SMARTCARE_LOG_LEVEL", "WARNING")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    log(f"migrating into {var_dir} ...")
    call_command("migrate", verbosity=0, interactive=False)

    from smartcare.accounts.choices import Role
    from smartcare.accounts.models import User
    from smartcare.accounts.services import create_api_token
    from smartcare.cdss.models import Rule

    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"role": Role.IT_ADMIN})
    device, _ = User.objects.get_or_create(username="bench-emr", defaults={"role": Role.DEVICE})
    token = create_api_token(admin, user=device, name=f"bench-{uuid.uuid4().hex[:6]}")
    rules = Rule.objects.filter(is_active=True, enabled=True).count()
    rng = random.Random(args.seed)
    now = dt.datetime.now(dt.UTC)
    bodies = [json.dumps(build_request(rng, i, args, now)) for i in range(args.patients)]
    client = Client()
    headers = {"Authorization": f"Bearer {token}"}
    url = "/cds-services/smartcare-order-sign"
    for body in bodies[:5]:  # warm-up: caches of rules, knowledge index and FHIR models
        response = client.post(url, body, content_type="application/json", headers=headers)
        if response.status_code != 200:
            log(f"warm-up failed: {response.status_code} {response.content[:300]!r}")
            return 2
    timings: list[float] = []
    cpu_timings: list[float] = []  # CPU time of this process: comparable on a machine shared with others
    load_before = os.getloadavg()[0]
    cards = 0
    log(f"{rules} active rules; sending {args.requests} order-sign requests ...")
    for n in range(args.requests):
        body = bodies[n % len(bodies)]
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.post(url, body, content_type="application/json", headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        cpu_timings.append((time.process_time() - cpu_started) * 1000)
        if response.status_code != 200:
            log(f"request {n} failed: {response.status_code} {response.content[:300]!r}")
            return 2
        cards += len(response.json()["cards"])
    result = {
        "requests": args.requests,
        "rules": rules,
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "cards_per_request": round(cards / args.requests, 2),
        "max_ms": round(max(timings), 1),
        "cpu_p50_ms": round(statistics.median(cpu_timings), 1),
        "cpu_p95_ms": round(percentile(cpu_timings, 0.95), 1),
        "load_avg": round((load_before + os.getloadavg()[0]) / 2, 1),
        "observations": args.observations,
        "medications": args.medications,
        "request_kb": round(sum(len(b) for b in bodies) / len(bodies) / 1024, 1),
        "db": "sqlite",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": now.date().isoformat(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
