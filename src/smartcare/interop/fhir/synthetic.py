"""Synthea-like FHIR R4 transaction Bundles, generated (for the import benchmark, tests and demo).

Each Bundle is one synthetic patient's history, shaped like Synthea's output: a Patient with
social-security, driver's licence and record-number identifiers; encounters that name their
practitioner, location and organization by conditional reference (``Practitioner?identifier=...``);
and per encounter the resources Synthea writes: observations (vital signs with their LOINC codes,
labs with units and reference ranges, survey answers), immunizations (CVX), conditions (SNOMED CT,
some also ICD-10), medication requests (RxNorm, some ATC), procedures (SNOMED CT), reports with
their results and a note, a document reference, a claim and an explanation of benefit; a care plan
and allergies now and then; a Provenance at the end. All references between entries are
``urn:uuid``. Deterministic for a seed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import uuid
from pathlib import Path
from typing import Any

SYNTHEA = "https://github.com/synthetichealth/synthea"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

GIVEN = ["Wei", "Fang", "Min", "Jun", "Lei", "Yan", "Jing", "Hao", "Li", "Qiang", "Mei", "Tao", "Ning", "Bo"]
FAMILY = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun"]
CITIES = [("Shanghai", "Shanghai"), ("Hangzhou", "Zhejiang"), ("Suzhou", "Jiangsu"), ("Nanjing", "Jiangsu")]
VACCINES = [
    ("08", "Hep B, adolescent or pediatric"),
    ("140", "Influenza, seasonal, injectable"),
    ("113", "Td (adult)"),
    ("20", "DTaP"),
    ("10", "IPV"),
    ("03", "MMR"),
]
# (SNOMED code, display, ICD-10 code from smartcare's catalog or "")
CONDITIONS = [
    ("38341003", "Hypertension", "I10"),
    ("44054006", "Diabetes mellitus type 2", "E11.9"),
    ("195662009", "Acute viral pharyngitis", ""),
    ("10509002", "Acute bronchitis", "J20.9"),
    ("444814009", "Viral sinusitis", ""),
    ("55822004", "Hyperlipidemia", "E78.5"),
    ("40055000", "Chronic sinusitis", ""),
    ("233604007", "Pneumonia", "J18.9"),
]
MEDICATIONS = [
    ("314076", "lisinopril 10 MG Oral Tablet", "C09AA03"),
    ("860975", "metformin 500 MG Oral Tablet", "A10BA02"),
    ("308136", "amlodipine 2.5 MG Oral Tablet", "C08CA01"),
    ("313782", "Acetaminophen 325 MG Oral Tablet", ""),
    ("308192", "Amoxicillin 500 MG Oral Tablet", "J01CA04"),
]
PROCEDURES = [
    ("430193006", "Medication reconciliation"),
    ("710824005", "Assessment of health and social care needs"),
    ("428191000124101", "Documentation of current medications"),
    ("162673000", "General examination of patient"),
]
LABS = [
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70, 100, 65, 190),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6, 4.5, 9.5),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3, 0.5, 2.2),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 0, 200, 140, 290),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 11, 3.8, 14),
]
SMOKING = [("266919005", "Never smoker"), ("8517006", "Ex-smoker"), ("449868002", "Smokes tobacco daily")]


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"system": system, "code": code, "display": display}


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)], "text": display}


def _ref(full_url: str, display: str = "") -> dict[str, Any]:
    return {"reference": full_url, **({"display": display} if display else {})}


def _when(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


class _Builder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.entries: list[dict[str, Any]] = []

    def add(self, resource: dict[str, Any]) -> str:
        resource_id = _uid(self.rng)
        resource["id"] = resource_id
        full_url = f"urn:uuid:{resource_id}"
        self.entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
        return full_url


def patient_bundle(
    rng: random.Random, *, encounters: int = 30, today: dt.date | None = None
) -> dict[str, Any]:
    """One patient's history as a transaction Bundle (about 8 resources per encounter)."""
    today = today or dt.date(2026, 1, 1)
    b = _Builder(rng)
    sex = rng.choice(["male", "female"])
    given, family = (
        rng.choice(GIVEN) + str(rng.randint(100, 999)),
        rng.choice(FAMILY) + str(rng.randint(10, 99)),
    )
    born = today - dt.timedelta(days=rng.randint(18 * 365, 85 * 365))
    city, state = rng.choice(CITIES)
    patient_id = _uid(rng)
    patient = {
        "resourceType": "Patient",
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                "valueCode": "M" if sex == "male" else "F",
            },
            {
                "url": "http://synthetichealth.github.io/synthea/quality-adjusted-life-years",
                "valueDecimal": round(rng.uniform(10, 70), 2),
            },
        ],
        "identifier": [
            {"system": SYNTHEA, "value": patient_id},
            {
                "type": {
                    "coding": [_coding(V2_0203, "MR", "Medical Record Number")],
                    "text": "Medical Record Number",
                },
                "system": "http://hospital.smarthealthit.org",
                "value": patient_id,
            },
            {
                "type": {
                    "coding": [_coding(V2_0203, "SS", "Social Security Number")],
                    "text": "Social Security Number",
                },
                "system": "http://hl7.org/fhir/sid/us-ssn",
                "value": f"999-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}-{patient_id[:6]}",
            },
            {
                "type": {"coding": [_coding(V2_0203, "DL", "Driver's License")], "text": "Driver's License"},
                "system": "urn:oid:2.16.840.1.113883.4.3.25",
                "value": f"S{rng.randint(10**7, 10**8 - 1)}",
            },
        ],
        "name": [
            {
                "use": "official",
                "family": family,
                "given": [given],
                "prefix": ["Mr." if sex == "male" else "Ms."],
            }
        ],
        "telecom": [
            {
                "system": "phone",
                "value": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                "use": "home",
            }
        ],
        "gender": sex,
        "birthDate": born.isoformat(),
        "address": [
            {"line": [f"{rng.randint(1, 999)} Main Road"], "city": city, "state": state, "country": "CN"}
        ],
        "maritalStatus": _concept("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "M", "Married"),
        "communication": [{"language": _concept("urn:ietf:bcp:47", "zh-CN", "Chinese (China)")}],
    }
    patient["id"] = patient_id
    patient_url = f"urn:uuid:{patient_id}"
    b.entries.append(
        {"fullUrl": patient_url, "resource": patient, "request": {"method": "POST", "url": "Patient"}}
    )
    subject = _ref(patient_url, f"{given} {family}")
    practitioner = f"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|99999{rng.randint(10000, 99999)}"
    organization = f"Organization?identifier={SYNTHEA}|{_uid(rng)}"
    location = f"Location?identifier={SYNTHEA}|{_uid(rng)}"
    chronic = [c for c in CONDITIONS if rng.random() < 0.35]
    start = dt.datetime.combine(born + dt.timedelta(days=18 * 365), dt.time(9), tzinfo=dt.UTC)
    span = (dt.datetime.combine(today, dt.time(9), tzinfo=dt.UTC) - start).days
    times = sorted(
        start + dt.timedelta(days=rng.randint(0, max(1, span)), minutes=rng.randint(0, 600))
        for _ in range(encounters)
    )
    all_refs = [patient_url]
    if rng.random() < 0.3:
        all_refs.append(
            b.add(
                {
                    "resourceType": "AllergyIntolerance",
                    "clinicalStatus": _concept(
                        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "active",
                        "Active",
                    ),
                    "verificationStatus": _concept(
                        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                        "confirmed",
                        "Confirmed",
                    ),
                    "type": "allergy",
                    "category": ["medication"],
                    "criticality": "low",
                    "code": _concept(SNOMED, "91936005", "Allergy to penicillin"),
                    "patient": _ref(patient_url),
                    "recordedDate": _when(times[0]),
                    "reaction": [
                        {"manifestation": [_concept(SNOMED, "247472004", "Wheal")], "severity": "mild"}
                    ],
                }
            )
        )
    for number, moment in enumerate(times):
        end = moment + dt.timedelta(minutes=rng.choice([15, 30, 45]))
        emergency = rng.random() < 0.05
        inpatient = not emergency and rng.random() < 0.05
        if inpatient:
            end = moment + dt.timedelta(days=rng.randint(2, 7))
        kind = "EMER" if emergency else "IMP" if inpatient else "AMB"
        encounter_type = rng.choice(
            ["General examination of patient", "Encounter for check up", "Encounter for symptom"]
        )
        encounter_url = b.add(
            {
                "resourceType": "Encounter",
                "identifier": [{"use": "official", "system": SYNTHEA, "value": ""}],
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": kind},
                "type": [_concept(SNOMED, "162673000", encounter_type)],
                "subject": subject,
                "participant": [
                    {
                        "type": [
                            _concept(
                                "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "PPRF",
                                "primary performer",
                            )
                        ],
                        "period": {"start": _when(moment), "end": _when(end)},
                        "individual": {"reference": practitioner, "display": "Dr. Synthetic"},
                    }
                ],
                "period": {"start": _when(moment), "end": _when(end)},
                "location": [{"location": {"reference": location, "display": "Clinic"}}],
                "serviceProvider": {"reference": organization, "display": "Clinic"},
            }
        )
        b.entries[-1]["resource"]["identifier"][0]["value"] = encounter_url.split(":")[-1]
        all_refs.append(encounter_url)
        encounter = _ref(encounter_url)
        results = []
        # vital signs
        systolic, diastolic = rng.randint(100, 165), rng.randint(60, 100)
        vitals = [
            ("8302-2", "Body Height", rng.uniform(150, 190), "cm"),
            ("29463-7", "Body Weight", rng.uniform(45, 110), "kg"),
            ("8867-4", "Heart rate", rng.uniform(55, 110), "/min"),
            ("9279-1", "Respiratory rate", rng.uniform(12, 20), "/min"),
            ("39156-5", "Body mass index (BMI) [Ratio]", rng.uniform(18, 35), "kg/m2"),
        ]
        for code, display, value, unit in rng.sample(vitals, 3):
            results.append(
                b.add(
                    {
                        "resourceType": "Observation",
                        "status": "final",
                        "category": [
                            _concept(
                                "http://terminology.hl7.org/CodeSystem/observation-category",
                                "vital-signs",
                                "Vital signs",
                            )
                        ],
                        "code": _concept(LOINC, code, display),
                        "subject": _ref(patient_url),
                        "encounter": encounter,
                        "effectiveDateTime": _when(moment),
                        "issued": _when(moment),
                        "valueQuantity": {
                            "value": round(value, 2),
                            "unit": unit,
                            "system": UCUM,
                            "code": unit,
                        },
                    }
                )
            )
        results.append(
            b.add(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [
                        _concept(
                            "http://terminology.hl7.org/CodeSystem/observation-category",
                            "vital-signs",
                            "Vital signs",
                        )
                    ],
                    "code": _concept(LOINC, "85354-9", "Blood pressure panel with all children optional"),
                    "subject": _ref(patient_url),
                    "encounter": encounter,
                    "effectiveDateTime": _when(moment),
                    "issued": _when(moment),
                    "component": [
                        {
                            "code": _concept(LOINC, "8462-4", "Diastolic Blood Pressure"),
                            "valueQuantity": {
                                "value": diastolic,
                                "unit": "mm[Hg]",
                                "system": UCUM,
                                "code": "mm[Hg]",
                            },
                        },
                        {
                            "code": _concept(LOINC, "8480-6", "Systolic Blood Pressure"),
                            "valueQuantity": {
                                "value": systolic,
                                "unit": "mm[Hg]",
                                "system": UCUM,
                                "code": "mm[Hg]",
                            },
                        },
                    ],
                }
            )
        )
        lab_results = []
        if rng.random() < 0.4:
            for code, display, unit, low, high, least, most in rng.sample(LABS, 2):
                value = round(rng.uniform(least, most), 1)
                flag = "H" if value > high else "L" if value < low else "N"
                lab_results.append(
                    b.add(
                        {
                            "resourceType": "Observation",
                            "status": "final",
                            "category": [
                                _concept(
                                    "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "laboratory",
                                    "laboratory",
                                )
                            ],
                            "code": _concept(LOINC, code, display),
                            "subject": _ref(patient_url),
                            "encounter": encounter,
                            "effectiveDateTime": _when(moment),
                            "issued": _when(moment),
                            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
                            "interpretation": [
                                _concept(
                                    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                    flag,
                                    flag,
                                )
                            ],
                            "referenceRange": [
                                {
                                    "low": {"value": low, "unit": unit, "system": UCUM, "code": unit},
                                    "high": {"value": high, "unit": unit, "system": UCUM, "code": unit},
                                }
                            ],
                        }
                    )
                )
        if number % 4 == 0:
            code, display = rng.choice(SMOKING)
            results.append(
                b.add(
                    {
                        "resourceType": "Observation",
                        "status": "final",
                        "category": [
                            _concept(
                                "http://terminology.hl7.org/CodeSystem/observation-category",
                                "survey",
                                "survey",
                            )
                        ],
                        "code": _concept(LOINC, "72166-2", "Tobacco smoking status"),
                        "subject": _ref(patient_url),
                        "encounter": encounter,
                        "effectiveDateTime": _when(moment),
                        "issued": _when(moment),
                        "valueCodeableConcept": _concept(SNOMED, code, display),
                    }
                )
            )
        if rng.random() < 0.25:
            code, display = rng.choice(VACCINES)
            all_refs.append(
                b.add(
                    {
                        "resourceType": "Immunization",
                        "status": "completed",
                        "vaccineCode": _concept(CVX, code, display),
                        "patient": _ref(patient_url),
                        "encounter": encounter,
                        "occurrenceDateTime": _when(moment),
                        "primarySource": True,
                        "location": {"reference": location, "display": "Clinic"},
                    }
                )
            )
        if chronic and (number == 0 or rng.random() < 0.08):
            code, display, icd10 = rng.choice(chronic)
            codings = [_coding(SNOMED, code, display)] + ([_coding(ICD10, icd10, display)] if icd10 else [])
            all_refs.append(
                b.add(
                    {
                        "resourceType": "Condition",
                        "clinicalStatus": _concept(
                            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
                        ),
                        "verificationStatus": _concept(
                            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            "confirmed",
                            "Confirmed",
                        ),
                        "category": [
                            _concept(
                                "http://terminology.hl7.org/CodeSystem/condition-category",
                                "encounter-diagnosis",
                                "Encounter Diagnosis",
                            )
                        ],
                        "code": {"coding": codings, "text": display},
                        "subject": _ref(patient_url),
                        "encounter": encounter,
                        "onsetDateTime": _when(moment),
                        "recordedDate": _when(moment),
                    }
                )
            )
        if chronic and rng.random() < 0.3:
            rxnorm, name, atc = rng.choice(MEDICATIONS)
            codings = [_coding(RXNORM, rxnorm, name)] + ([_coding(ATC, atc, name)] if atc else [])
            all_refs.append(
                b.add(
                    {
                        "resourceType": "MedicationRequest",
                        "status": rng.choice(["active", "stopped", "completed"]),
                        "intent": "order",
                        "medicationCodeableConcept": {"coding": codings, "text": name},
                        "subject": _ref(patient_url),
                        "encounter": encounter,
                        "authoredOn": _when(moment),
                        "requester": {"reference": practitioner, "display": "Dr. Synthetic"},
                        "dosageInstruction": [
                            {
                                "sequence": 1,
                                "text": "Take as directed",
                                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                "asNeededBoolean": False,
                                "route": _concept(SNOMED, "26643006", "Oral route"),
                                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
                            }
                        ],
                    }
                )
            )
        if rng.random() < 0.3:
            code, display = rng.choice(PROCEDURES)
            all_refs.append(
                b.add(
                    {
                        "resourceType": "Procedure",
                        "status": "completed",
                        "code": _concept(SNOMED, code, display),
                        "subject": _ref(patient_url),
                        "encounter": encounter,
                        "performedPeriod": {"start": _when(moment), "end": _when(end)},
                        "location": {"reference": location, "display": "Clinic"},
                    }
                )
            )
        if lab_results:
            all_refs.append(
                b.add(
                    {
                        "resourceType": "DiagnosticReport",
                        "status": "final",
                        "category": [
                            _concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")
                        ],
                        "code": _concept(LOINC, "24323-8", "Comprehensive metabolic panel"),
                        "subject": _ref(patient_url),
                        "encounter": encounter,
                        "effectiveDateTime": _when(moment),
                        "issued": _when(moment),
                        "result": [_ref(url) for url in lab_results],
                    }
                )
            )
        note = base64.b64encode(
            f"{moment:%Y-%m-%d}\n\n# Chief Complaint\nNo complaints.\n\n# Assessment and Plan\n{encounter_type}.\n".encode()
        ).decode()
        report_url = b.add(
            {
                "resourceType": "DiagnosticReport",
                "status": "final",
                "category": [_concept(LOINC, "34117-2", "History and physical note")],
                "code": _concept(LOINC, "34117-2", "History and physical note"),
                "subject": _ref(patient_url),
                "encounter": encounter,
                "effectiveDateTime": _when(moment),
                "issued": _when(moment),
                "performer": [{"reference": practitioner, "display": "Dr. Synthetic"}],
                "presentedForm": [{"contentType": "text/plain; charset=utf-8", "data": note}],
            }
        )
        all_refs.append(report_url)
        all_refs.extend(results + lab_results)
        all_refs.append(
            b.add(
                {
                    "resourceType": "DocumentReference",
                    "identifier": [{"system": "urn:ietf:rfc:3986", "value": report_url}],
                    "status": "current",
                    "type": _concept(LOINC, "34117-2", "History and physical note"),
                    "category": [
                        _concept(
                            "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                            "clinical-note",
                            "Clinical Note",
                        )
                    ],
                    "subject": _ref(patient_url),
                    "date": _when(moment),
                    "author": [{"reference": practitioner, "display": "Dr. Synthetic"}],
                    "custodian": {"reference": organization, "display": "Clinic"},
                    "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": note}}],
                    "context": {
                        "encounter": [encounter],
                        "period": {"start": _when(moment), "end": _when(end)},
                    },
                }
            )
        )
        net = round(rng.uniform(80, 400), 2)
        claim_url = b.add(
            {
                "resourceType": "Claim",
                "status": "active",
                "type": _concept(
                    "http://terminology.hl7.org/CodeSystem/claim-type", "institutional", "Institutional"
                ),
                "use": "claim",
                "patient": _ref(patient_url),
                "billablePeriod": {"start": _when(moment), "end": _when(end)},
                "created": _when(end),
                "provider": {"reference": organization, "display": "Clinic"},
                "priority": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}
                    ]
                },
                "insurance": [
                    {"sequence": 1, "focal": True, "coverage": {"display": "Resident medical insurance"}}
                ],
                "item": [
                    {
                        "sequence": 1,
                        "productOrService": _concept(SNOMED, "162673000", encounter_type),
                        "encounter": [encounter],
                        "net": {"value": net, "currency": "CNY"},
                    }
                ],
                "total": {"value": net, "currency": "CNY"},
            }
        )
        all_refs.append(claim_url)
        all_refs.append(
            b.add(
                {
                    "resourceType": "ExplanationOfBenefit",
                    "identifier": [
                        {
                            "system": "https://bluebutton.cms.gov/resources/identifier/claim-group",
                            "value": "99999999999",
                        }
                    ],
                    "status": "active",
                    "type": _concept(
                        "http://terminology.hl7.org/CodeSystem/claim-type", "institutional", "Institutional"
                    ),
                    "use": "claim",
                    "patient": _ref(patient_url),
                    "billablePeriod": {"start": _when(moment), "end": _when(end)},
                    "created": _when(end),
                    "insurer": {"display": "Resident medical insurance"},
                    "provider": {"reference": practitioner},
                    "claim": _ref(claim_url),
                    "outcome": "complete",
                    "insurance": [{"focal": True, "coverage": {"display": "Resident medical insurance"}}],
                    "item": [
                        {
                            "sequence": 1,
                            "productOrService": _concept(SNOMED, "162673000", encounter_type),
                            "servicedPeriod": {"start": _when(moment), "end": _when(end)},
                            "encounter": [encounter],
                            "net": {"value": net, "currency": "CNY"},
                            "adjudication": [
                                {
                                    "category": {
                                        "coding": [
                                            {
                                                "system": "http://terminology.hl7.org/CodeSystem/adjudication",
                                                "code": "submitted",
                                            }
                                        ]
                                    },
                                    "amount": {"value": net, "currency": "CNY"},
                                }
                            ],
                        }
                    ],
                    "total": [
                        {
                            "category": {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/adjudication",
                                        "code": "submitted",
                                    }
                                ]
                            },
                            "amount": {"value": net, "currency": "CNY"},
                        }
                    ],
                    "payment": {"amount": {"value": round(net * 0.7, 2), "currency": "CNY"}},
                }
            )
        )
    if chronic:
        all_refs.append(
            b.add(
                {
                    "resourceType": "CarePlan",
                    "status": "active",
                    "intent": "order",
                    "category": [_concept(SNOMED, "736285004", "Hyperlipidemia clinical management plan")],
                    "subject": _ref(patient_url),
                    "period": {"start": _when(times[0])},
                    "activity": [
                        {
                            "detail": {
                                "code": _concept(SNOMED, "183063000", "Low salt diet education"),
                                "status": "in-progress",
                            }
                        }
                    ],
                }
            )
        )
    b.add(
        {
            "resourceType": "Provenance",
            "target": [_ref(url) for url in all_refs],
            "recorded": _when(times[-1]),
            "agent": [
                {
                    "type": _concept(
                        "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "author",
                        "Author",
                    ),
                    "who": {"reference": practitioner, "display": "Dr. Synthetic"},
                }
            ],
        }
    )
    return {"resourceType": "Bundle", "type": "transaction", "entry": b.entries}


def write_population(folder: Path, patients: int, *, seed: int = 42, encounters: int = 30) -> list[Path]:
    """Write ``patients`` Bundles as Synthea names its files; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311  (test data, not secrets)
    written = []
    for _number in range(patients):
        bundle = patient_bundle(rng, encounters=max(1, int(rng.gauss(encounters, encounters / 4))))
        resource = bundle["entry"][0]["resource"]
        name = resource["name"][0]
        path = folder / f"{name['given'][0]}_{name['family']}_{resource['id']}.json"
        path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
        written.append(path)
    return written
