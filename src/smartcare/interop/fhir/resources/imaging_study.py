"""ImagingStudy <-> ``interop.ImagingStudy`` with its series and instances (read-only).

Studies enter smartcare through DICOM upload (STOW-RS or the page) or a PACS; FHIR reads their
index. The study is identified by its Study Instance UID (``urn:dicom:uid``). Imported
ImagingStudy resources (without the images) are kept as FHIR and served beside them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from smartcare.interop.fhir import params as p
from smartcare.interop.fhir.datatypes import fhir_datetime
from smartcare.interop.fhir.registry import Access, Mapping, ParamKind, ParamSpec, Source, register
from smartcare.interop.fhir.resources.common import (
    COMMON_PARAMS,
    PATIENT_PARAMS,
    drop_empty,
    meta,
    patient_filter,
    reference,
    standard_filters,
)
from smartcare.interop.fhir.store import store_source
from smartcare.interop.models import ImagingStudy

DICOM_UID = "urn:dicom:uid"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


def _uid(value: str) -> str:
    return f"urn:oid:{value}"


def to_fhir(row: ImagingStudy) -> dict[str, Any]:
    series = []
    for item in row.series.all():
        series.append(
            drop_empty(
                {
                    "uid": item.series_uid,
                    "number": item.number,
                    "modality": {"system": DCM, "code": item.modality},
                    "description": item.description,
                    "numberOfInstances": item.number_of_instances,
                    "bodySite": {"display": item.body_part} if item.body_part else None,
                    "started": fhir_datetime(item.started_at),
                    "instance": [
                        drop_empty(
                            {
                                "uid": instance.sop_instance_uid,
                                "sopClass": {
                                    "system": "urn:ietf:rfc:3986",
                                    "code": _uid(instance.sop_class_uid),
                                },
                                "number": instance.instance_number,
                            }
                        )
                        for instance in item.instances.all()
                    ],
                }
            )
        )
    return drop_empty(
        {
            "resourceType": "ImagingStudy",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "identifier": [{"system": DICOM_UID, "value": _uid(row.study_uid)}]
            + (
                [{"type": {"text": "accession"}, "value": row.accession_number}]
                if row.accession_number
                else []
            ),
            "status": "available",
            "modality": [{"system": DCM, "code": code} for code in row.modality_list],
            "subject": reference("Patient", row.patient_id),
            "started": fhir_datetime(row.started_at),
            "referrer": {"display": row.referring_physician} if row.referring_physician else None,
            "numberOfSeries": row.number_of_series,
            "numberOfInstances": row.number_of_instances,
            "description": row.description,
            "series": series,
        }
    )


def _identifier(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    conditions = []
    for token in values:
        if token.system in (None, "", DICOM_UID) and token.code:
            conditions.append(Q(study_uid=token.code.removeprefix("urn:oid:")))
        if token.system is None and token.code:
            conditions.append(Q(accession_number=token.code))
    return rows.filter(p.q_any(conditions))


def _modality(rows: QuerySet[Any], values: list[p.Token]) -> QuerySet[Any]:
    codes = [t.code for t in values if t.system in (None, DCM) and t.code]
    return rows.filter(series__modality__in=codes).distinct()


SOURCE = Source(
    model=ImagingStudy,
    to_fhir=to_fhir,
    base=lambda: ImagingStudy.objects.prefetch_related("series__instances"),
    filters={
        "patient": patient_filter(),
        "subject": patient_filter(),
        "identifier": _identifier,
        "started": p.by_date("started_at"),
        "modality": _modality,
    },
    sort={"started": "started_at", "date": "started_at"},
)
standard_filters(SOURCE, "ImagingStudy")
STORE = store_source("ImagingStudy")
STORE.filters["started"] = STORE.filters["date"]
STORE.filters["modality"] = STORE.filters["code"]
STORE.sort["started"] = "date"


class ImagingStudyMapping(Mapping):
    resource_type = "ImagingStudy"
    access = Access.PATIENT_CLINICAL
    sources = [SOURCE, STORE]
    params = [
        *COMMON_PARAMS,
        *PATIENT_PARAMS,
        ParamSpec("started", ParamKind.DATE),
        ParamSpec("modality", ParamKind.TOKEN, "DICOM modality (CT, MR, US...)"),
    ]
    includes = {"ImagingStudy:patient": ("subject",), "ImagingStudy:subject": ("subject",)}
    rank = 7
    description = "interop.ImagingStudy with series and instances (read-only; images arrive over DICOM)"


register(ImagingStudyMapping())
