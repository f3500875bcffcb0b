"""Storing DICOM images and reading them back.

``store_instances`` (page upload and STOW-RS) validates every file before anything is written,
links the images to one patient (chosen on the page, or found by the files' patient ID), and
writes the index rows and the files as one unit: on any error no row stays and no file written
by the call is left behind. Storing the same image again is harmless; a different image under the
same UID is refused.

``sync_patient_studies`` indexes a patient's studies found on the PACS over DICOMweb (QIDO-RS,
by the patient's record number as DICOM patient ID); their frames are fetched on first view
(WADO-RS) and cached.

``frame_png`` renders one frame for a user who may see the patient (see ``render``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _
from pydicom.errors import InvalidDicomError

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.errors import InvalidInput, NotFound
from smartcare.core.permissions import require_capability
from smartcare.emr.models import Order
from smartcare.interop.dicom import dicomweb, storage
from smartcare.interop.dicom.errors import (
    InstanceConflict,
    NoFiles,
    PatientMismatch,
    StudyOfAnotherPatient,
    UnknownPatient,
    UploadTooLarge,
)
from smartcare.interop.dicom.reading import MAX_SPACING_MM, DicomObject, pixel_spacing, read, when
from smartcare.interop.dicom.render import Window, render_frame
from smartcare.interop.models import (
    ConnectedSystem,
    ExternalIdentifier,
    ImagingInstance,
    ImagingSeries,
    ImagingStudy,
    InstanceStorage,
    SpacingSource,
    StudySource,
)
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.models import Patient

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
FRAME_AUDIT_SECONDS = 600  # one audit event per user and study in this window, not one per frame


@dataclass
class StoreResult:
    studies: list[ImagingStudy] = field(default_factory=list)
    stored: list[ImagingInstance] = field(default_factory=list)
    already_stored: list[ImagingInstance] = field(default_factory=list)


def _known_ids(patient: Patient) -> set[str]:
    ids = {patient.medical_record_number.upper()}
    ids.update(e.value.strip().upper() for e in ExternalIdentifier.objects.filter(patient=patient))
    return ids


def _patient_by_id(actor: Any, patient_id: str) -> Patient | None:
    """The patient a DICOM patient ID names: smartcare's record number, or an identifier another
    system assigned (the sender's own authority first)."""
    visible = Patient.objects.visible_to(actor)
    found = visible.filter(medical_record_number=patient_id).first()
    if found is not None:
        return found
    system = (
        ConnectedSystem.objects.filter(user=actor, is_active=True).first() if actor.is_authenticated else None
    )
    authorities = [system.assigning_authority] if system and system.assigning_authority else []
    for authority in authorities:
        match = ExternalIdentifier.lookup(authority, patient_id).filter(patient__in=visible).first()
        if match is not None:
            return match.patient
    return None


def _reconciled(obj: DicomObject, patient: Patient) -> DicomObject:
    """The file rewritten with the patient's record number and name (the original patient ID is
    kept in Other Patient IDs), for images confirmed to belong to this patient."""
    ds = pydicom.dcmread(BytesIO(obj.data))
    original = obj.patient_id
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, for the patient's (Chinese) name
    ds.PatientID = patient.medical_record_number
    ds.PatientName = patient.name
    if original:
        ds.OtherPatientIDs = original
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return read(buffer.getvalue(), obj.name)


def _order(patient: Patient, order_id: Any) -> Order | None:
    if order_id in (None, ""):
        return None
    order = Order.objects.filter(pk=order_id, patient=patient).first() if str(order_id).isdigit() else None
    if order is None:
        raise NotFound()
    return order


def _refresh_counts(study: ImagingStudy) -> None:
    series = list(study.series.all())
    for one in series:
        one.number_of_instances = one.instances.count()
        one.save(update_fields=["number_of_instances"])
    study.number_of_series = len(series)
    study.number_of_instances = sum(s.number_of_instances for s in series)
    study.modalities = " ".join(sorted({s.modality for s in series if s.modality}))
    study.updated_at = clock.now()
    study.save(update_fields=["number_of_series", "number_of_instances", "modalities", "updated_at"])


def _resolve_patients(
    actor: Any, objects: list[DicomObject], patient_id: Any, reconcile: bool
) -> tuple[list[DicomObject], dict[str, Patient]]:
    """Each object's patient (by SOP UID); objects rewritten when reconciled on the page."""
    by_sop: dict[str, Patient] = {}
    if patient_id not in (None, ""):
        patient = access_patient(actor, patient_id, AccessAction.UPDATE, audit=False)
        known = _known_ids(patient)
        result = []
        for obj in objects:
            if obj.patient_id.upper() not in known:
                if not reconcile:
                    raise PatientMismatch(
                        name=obj.name,
                        found=obj.patient_id or "-",
                        mrn=patient.medical_record_number,
                        field="files",
                    )
                obj = _reconciled(obj, patient)
            by_sop[obj.sop_uid] = patient
            result.append(obj)
        return result, by_sop
    cache_ids: dict[str, Patient] = {}
    for obj in objects:
        patient = cache_ids.get(obj.patient_id)
        if patient is None:
            patient = _patient_by_id(actor, obj.patient_id) if obj.patient_id else None
            if patient is None:
                raise UnknownPatient(name=obj.name, found=obj.patient_id or "-")
            access_patient(actor, patient, AccessAction.UPDATE, audit=False)
            cache_ids[obj.patient_id] = patient
        by_sop[obj.sop_uid] = patient
    return objects, by_sop


def _spacing_fields(spacing: tuple[float, float] | None, source: str) -> dict[str, Any]:
    if spacing is None:
        return {"row_spacing": None, "column_spacing": None, "spacing_source": SpacingSource.NONE}
    return {"row_spacing": spacing[0], "column_spacing": spacing[1], "spacing_source": source}


def _store_one(
    actor: Any,
    obj: DicomObject,
    patient: Patient,
    source: str,
    order: Order | None,
    written: list[Path],
    result: StoreResult,
) -> ImagingStudy:
    study = ImagingStudy.objects.select_for_update().filter(study_uid=obj.study_uid).first()
    if study is None:
        study = ImagingStudy.objects.create(
            study_uid=obj.study_uid,
            patient=patient,
            order=order,
            accession_number=obj.accession_number,
            description=obj.study_description,
            started_at=obj.study_at or obj.series_at,
            referring_physician=obj.referring_physician,
            source=source,
            created_by=actor,
        )
    elif study.patient_id != patient.pk:
        raise StudyOfAnotherPatient(uid=obj.study_uid)
    series = ImagingSeries.objects.filter(series_uid=obj.series_uid).first()
    if series is None:
        series = ImagingSeries.objects.create(
            study=study,
            series_uid=obj.series_uid,
            number=obj.series_number,
            modality=obj.modality,
            description=obj.series_description,
            body_part=obj.body_part,
            started_at=obj.series_at or obj.study_at,
        )
    elif series.study_id != study.pk:
        raise StudyOfAnotherPatient(uid=obj.series_uid)
    existing = ImagingInstance.objects.filter(sop_instance_uid=obj.sop_uid).first()
    if existing is not None:
        if existing.series_id != series.pk or (existing.sha256 and existing.sha256 != obj.sha256):
            raise InstanceConflict(uid=obj.sop_uid)
        if existing.storage == InstanceStorage.LOCAL:
            result.already_stored.append(existing)
            return study
    relative = storage.relative_path(obj.study_uid, obj.series_uid, obj.sop_uid)
    path = storage.absolute(relative)
    if not path.exists():
        storage.write_atomically(path, obj.data)
        written.append(path)
    fields = {
        "series": series,
        "sop_class_uid": obj.sop_class_uid,
        "instance_number": obj.instance_number,
        "number_of_frames": obj.frames,
        "rows": obj.rows,
        "columns": obj.columns,
        "transfer_syntax_uid": obj.transfer_syntax,
        "photometric": obj.photometric,
        "window_center": obj.window_center,
        "window_width": obj.window_width,
        "slice_position": obj.slice_position,
        **_spacing_fields(obj.spacing, obj.spacing_source),
        "storage": InstanceStorage.LOCAL,
        "file_path": relative,
        "file_size": len(obj.data),
        "sha256": obj.sha256,
    }
    if existing is not None:  # a PACS image now stored here too
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
        result.stored.append(existing)
    else:
        result.stored.append(ImagingInstance.objects.create(sop_instance_uid=obj.sop_uid, **fields))
    return study


def store_instances(
    actor: Any,
    files: list[tuple[str, bytes]],
    *,
    patient_id: Any = None,
    reconcile: bool = False,
    source: str = StudySource.UPLOAD,
    order_id: Any = None,
) -> StoreResult:
    """Store DICOM files (see the module docstring). ``patient_id``: the patient chosen on the page
    (files must carry their record number unless ``reconcile``); without it each file's patient
    ID must name a patient the caller may see."""
    require_capability(actor, "interop.imaging.upload")
    if not files:
        raise NoFiles(field="files")
    if sum(len(data) for _name, data in files) > MAX_UPLOAD_BYTES:
        raise UploadTooLarge(limit=MAX_UPLOAD_BYTES // (1024 * 1024))
    objects = [read(data, name) for name, data in files]  # every file checked before any write
    written: list[Path] = []
    result = StoreResult()
    try:
        with transaction.atomic():
            objects, patients = _resolve_patients(actor, objects, patient_id, reconcile)
            order = _order(patients[objects[0].sop_uid], order_id) if order_id not in (None, "") else None
            touched: dict[int, ImagingStudy] = {}
            for obj in objects:
                study = _store_one(actor, obj, patients[obj.sop_uid], source, order, written, result)
                touched[study.pk] = study
            for study in touched.values():
                _refresh_counts(study)
                stored_here = [i for i in result.stored if i.series.study_id == study.pk]
                record(
                    actor,
                    AuditAction.CREATE,
                    patient=study.patient_id,
                    obj=study,
                    detail={"instances": len(stored_here), "source": source},
                )
            result.studies = list(touched.values())
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return result


# --- Reading -------------------------------------------------------------------------------------


def open_study(actor: Any, study_id: Any, *, audit: bool = True) -> ImagingStudy:
    require_capability(actor, "interop.imaging.view")
    try:
        pk = int(study_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    study = ImagingStudy.objects.select_related("patient").filter(pk=pk).first()
    if study is None:
        raise NotFound()
    access_patient(actor, study.patient_id, AccessAction.CLINICAL, obj=study, audit=audit)
    return study


def instance_file(instance: ImagingInstance) -> Path:
    """The file of an instance: in the store, or fetched from the PACS into the cache."""
    if instance.storage == InstanceStorage.LOCAL:
        return storage.absolute(instance.file_path)
    path = storage.cache_path(instance.sop_instance_uid)
    if not path.exists():
        series = instance.series
        with dicomweb.client() as pacs:
            data = pacs.retrieve_instance(
                series.study.study_uid, series.series_uid, instance.sop_instance_uid
            )
        obj = read(data, instance.sop_instance_uid)
        if obj.sop_uid != instance.sop_instance_uid:
            raise InstanceConflict(uid=instance.sop_instance_uid)
        storage.write_atomically(path, data)
        ImagingInstance.objects.filter(pk=instance.pk).update(
            transfer_syntax_uid=obj.transfer_syntax,
            photometric=obj.photometric,
            window_center=obj.window_center,
            window_width=obj.window_width,
            rows=obj.rows,
            columns=obj.columns,
            number_of_frames=obj.frames,
            slice_position=obj.slice_position if obj.slice_position is not None else instance.slice_position,
            sha256=obj.sha256,
            file_size=len(data),
            **_spacing_fields(obj.spacing, obj.spacing_source),
        )
    return path


def known_pixel_spacing(instances: list[ImagingInstance]) -> None:
    """Fill in the pixel spacing of instances indexed before it was stored, from their files when
    the file is at hand (stored here, or already cached from the PACS): header only, never the
    pixels, and never a PACS request. Instances without a file stay unknown (spacing_source "")."""
    for instance in instances:
        if instance.spacing_source:
            continue
        if instance.storage == InstanceStorage.LOCAL and instance.file_path:
            try:
                path = storage.absolute(instance.file_path)
            except ValueError:
                continue
        else:
            try:
                path = storage.cache_path(instance.sop_instance_uid)
            except ValueError:
                continue
        if not path.exists():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, KeyError):
            logger.warning("cannot read the header of %s for its pixel spacing", instance.sop_instance_uid)
            continue
        fields = _spacing_fields(*pixel_spacing(ds))
        ImagingInstance.objects.filter(pk=instance.pk, spacing_source="").update(**fields)
        for name, value in fields.items():
            setattr(instance, name, value)


def frame_png(actor: Any, instance_id: Any, frame: int, window: Window | None) -> tuple[bytes, Window | None]:
    """One frame as PNG for a user who may see the patient. Opening frames is audited once per user
    and study every few minutes (a viewer fetches hundreds of frames)."""
    require_capability(actor, "interop.imaging.view")
    instance = (
        ImagingInstance.objects.select_related("series__study").filter(pk=instance_id).first()
        if str(instance_id).isdigit()
        else None
    )
    if instance is None:
        raise NotFound()
    study = instance.series.study
    key = f"interop:frames-audited:{actor.pk}:{study.pk}"
    audit = cache.add(key, 1, FRAME_AUDIT_SECONDS)
    access_patient(actor, study.patient_id, AccessAction.CLINICAL, obj=study, audit=audit)
    return render_frame(instance_file(instance), frame, window)


def instance_by_uids(study_uid: str, series_uid: str, sop_uid: str) -> ImagingInstance:
    instance = (
        ImagingInstance.objects.select_related("series__study")
        .filter(sop_instance_uid=sop_uid, series__series_uid=series_uid, series__study__study_uid=study_uid)
        .first()
    )
    if instance is None:
        raise NotFound()
    return instance


# --- The PACS (DICOMweb) ---------------------------------------------------------------------------

INSTANCE_FIELDS = [
    "00280008",
    "00281050",
    "00281051",
    "00200032",
    "00201041",
    "00280004",
    "00280010",
    "00280011",
    "00280030",
    "00181164",
]


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _pacs_spacing(entry: Any) -> tuple[tuple[float, float] | None, str]:
    for tag, source in (("00280030", SpacingSource.PIXEL_SPACING), ("00181164", SpacingSource.IMAGER)):
        values = [_number(v) for v in dicomweb.attributes(entry, tag)]
        if len(values) == 2 and all(v is not None and 0 < v <= MAX_SPACING_MM for v in values):
            return (float(values[0] or 0), float(values[1] or 0)), str(source)
    return None, ""


@transaction.atomic
def sync_patient_studies(actor: Any, patient_id: Any) -> dict[str, int]:
    """Index the patient's studies on the PACS (QIDO-RS by record number). Studies already stored
    for another patient are skipped and counted."""
    require_capability(actor, "interop.imaging.search")
    patient = access_patient(actor, patient_id, AccessAction.CLINICAL)
    counts = {"studies": 0, "series": 0, "instances": 0, "skipped": 0}
    with dicomweb.client() as pacs:
        for found in pacs.search_studies(PatientID=patient.medical_record_number):
            study_uid = str(dicomweb.attribute(found, "0020000D", ""))
            if (
                not storage.valid_uid(study_uid)
                or dicomweb.attribute(found, "00100020", "") != patient.medical_record_number
            ):
                counts["skipped"] += 1
                continue
            study = ImagingStudy.objects.filter(study_uid=study_uid).first()
            if study is not None and study.patient_id != patient.pk:
                counts["skipped"] += 1
                continue
            if study is None:
                study = ImagingStudy.objects.create(
                    study_uid=study_uid,
                    patient=patient,
                    accession_number=str(dicomweb.attribute(found, "00080050", "") or "")[:64],
                    description=str(dicomweb.attribute(found, "00081030", "") or "")[:200],
                    started_at=when(
                        dicomweb.attribute(found, "00080020"), dicomweb.attribute(found, "00080030")
                    ),
                    referring_physician=str(dicomweb.attribute(found, "00080090", "") or "")[:200],
                    source=StudySource.DICOMWEB,
                    created_by=actor,
                )
                counts["studies"] += 1
            for item in pacs.search_series(study_uid):
                series_uid = str(dicomweb.attribute(item, "0020000E", ""))
                if not storage.valid_uid(series_uid):
                    continue
                series, created = ImagingSeries.objects.get_or_create(
                    series_uid=series_uid,
                    defaults={
                        "study": study,
                        "number": int(_number(dicomweb.attribute(item, "00200011")) or 0) or None,
                        "modality": str(dicomweb.attribute(item, "00080060", "OT"))[:16],
                        "description": str(dicomweb.attribute(item, "0008103E", "") or "")[:200],
                        "body_part": str(dicomweb.attribute(item, "00180015", "") or "")[:64],
                        "started_at": study.started_at,
                    },
                )
                if series.study_id != study.pk:
                    counts["skipped"] += 1
                    continue
                counts["series"] += int(created)
                for entry in pacs.search_instances(
                    study_uid, series_uid, includefield=",".join(INSTANCE_FIELDS)
                ):
                    sop_uid = str(dicomweb.attribute(entry, "00080018", ""))
                    if (
                        not storage.valid_uid(sop_uid)
                        or ImagingInstance.objects.filter(sop_instance_uid=sop_uid).exists()
                    ):
                        continue
                    position = dicomweb.attributes(entry, "00200032")
                    spacing, spacing_source = _pacs_spacing(entry)
                    ImagingInstance.objects.create(
                        series=series,
                        sop_instance_uid=sop_uid,
                        sop_class_uid=str(dicomweb.attribute(entry, "00080016", ""))[:64],
                        instance_number=int(_number(dicomweb.attribute(entry, "00200013")) or 0) or None,
                        number_of_frames=max(int(_number(dicomweb.attribute(entry, "00280008")) or 1), 1),
                        rows=int(_number(dicomweb.attribute(entry, "00280010")) or 0) or None,
                        columns=int(_number(dicomweb.attribute(entry, "00280011")) or 0) or None,
                        photometric=str(dicomweb.attribute(entry, "00280004", "") or "")[:16],
                        window_center=_number(dicomweb.attribute(entry, "00281050")),
                        window_width=_number(dicomweb.attribute(entry, "00281051")),
                        slice_position=_number(position[2])
                        if len(position) == 3
                        else _number(dicomweb.attribute(entry, "00201041")),
                        # Not in the PACS's answer: left unknown until the file is fetched.
                        **(_spacing_fields(spacing, spacing_source) if spacing else {}),
                        storage=InstanceStorage.REMOTE,
                    )
                    counts["instances"] += 1
            _refresh_counts(study)
    if counts["studies"] or counts["instances"]:
        record(
            actor, AuditAction.CREATE, patient=patient, obj=patient, detail={"event": "pacs_sync", **counts}
        )
    return counts


def parse_date_filter(text: str, field: str) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(_("Enter a date as YYYY-MM-DD."), field=field) from None
