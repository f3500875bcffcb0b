"""A hand-made lake of 24 identifiable patients for the export tests and the research journey:
two encounters each 17 days apart, and a note whose free text names the patient, the emergency
contact, the phone and the resident ID."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from smartcare.organization.choices import Sex
from smartcare.patients.resident_id import make_resident_id
from smartcare.research import lake
from tests.factories import PatientFactory

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张"


def build_export_lake(root: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """Create the patients and write their lake under ``root``; returns (patients, encounters)."""
    patients: list[Any] = []
    for i in range(24):
        female = i % 2 == 0
        birth = dt.date(1960 + i % 3, 1 + i % 12, 5) if i != 23 else dt.date(1930, 2, 2)
        sex = Sex.FEMALE if female else Sex.MALE
        patients.append(
            PatientFactory(
                name=SURNAMES[i] + "秀英" if female else SURNAMES[i] + "建国",
                sex=sex,
                birth_date=birth,
                national_id=make_resident_id("310104" if i % 4 else "310105", birth, 100 + i * 2, sex),
                phone=f"1391234{i:04d}",
                address=f"上海市徐汇区测试路{i + 1}号",
                emergency_contact_name=SURNAMES[i] + "小红",
                emergency_contact_phone=f"1375555{i:04d}",
                insurance_number=f"INS31010400{i:04d}",
            )
        )
    persons, encounters, notes = [], [], []
    for i, p in enumerate(patients):
        key = lake.person_key(p.pk)
        persons.append(
            {
                "person_key": key,
                "birth_date": p.birth_date,
                "birth_year": p.birth_date.year,
                "sex": p.sex,
                "region_code": p.national_id[:6],
                "insurance_type": p.insurance_type,
                "is_deceased": False,
                "updated_at": dt.datetime(2025, 1, 1),
            }
        )
        first = dt.datetime(2025, 3, 1 + i % 20, 9, 0)
        for n, start in enumerate((first, first + dt.timedelta(days=17, hours=2))):
            encounters.append(
                {
                    "row_key": f"{p.pk * 10 + n}",
                    "person_key": key,
                    "kind": "outpatient",
                    "status": "finished",
                    "department_code": "03.04",
                    "started_at": start,
                    "ended_at": start + dt.timedelta(minutes=30),
                    "admitted_at": None,
                    "discharged_at": None,
                }
            )
        notes.append(
            {
                "row_key": f"n{p.pk}",
                "person_key": key,
                "encounter_key": f"{p.pk * 10}",
                "kind": "progress",
                "chief_complaint": f"{p.name}诉胸闷三天，由{p.emergency_contact_name}陪同",
                "assessment": f"联系电话{p.phone}，身份证{p.national_id}，病历号{p.medical_record_number}，考虑冠心病",
                "signed_at": first,
            }
        )
    for table, rows in (("persons", persons), ("encounters", encounters), ("notes", notes)):
        lake.write_table(root, table, lake.to_arrow(table, rows))
    lake.write_metadata(root, {"built_at": "test"})
    return patients, encounters
