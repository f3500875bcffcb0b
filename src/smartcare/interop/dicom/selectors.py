"""Reading the imaging index, restricted to the patients the user may see."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.interop.models import ImagingInstance, ImagingSeries, ImagingStudy
from smartcare.patients.models import Patient

MODALITIES = ("CT", "MR", "CR", "DX", "US", "NM", "PT", "MG", "XA", "RF", "OT")


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=clock.local_now().tzinfo)


def search_studies(
    user: Any,
    *,
    patient: str = "",
    modality: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = 100,
) -> list[ImagingStudy]:
    """Studies of patients the user may see, by patient (record number, one code or name),
    modality and study date. The search is audited (it lists patients)."""
    require_capability(user, "interop.imaging.search")
    rows: QuerySet[ImagingStudy] = ImagingStudy.objects.filter(patient__in=Patient.objects.visible_to(user))
    patient = (patient or "").strip()
    if patient:
        rows = rows.filter(
            Q(patient__medical_record_number=patient)
            | Q(patient__one_code=patient)
            | Q(patient__name__icontains=patient)
        )
    modality = (modality or "").strip().upper()
    if modality:
        rows = rows.filter(series__modality=modality)
    if date_from:
        rows = rows.filter(started_at__gte=_day_start(date_from))
    if date_to:
        rows = rows.filter(started_at__lt=_day_start(date_to + dt.timedelta(days=1)))
    found = list(rows.select_related("patient").distinct().order_by("-started_at", "-pk")[:limit])
    record(
        user,
        AuditAction.SEARCH,
        obj=("interop.ImagingStudy", ""),
        detail={
            "patient": bool(patient),
            "modality": modality,
            "from": str(date_from or ""),
            "to": str(date_to or ""),
            "results": len(found),
        },
    )
    return found


def patient_studies(patient: Any) -> list[ImagingStudy]:
    """A patient's studies; the caller has opened the patient with access_patient."""
    return list(ImagingStudy.objects.filter(patient=patient).order_by("-started_at", "-pk"))


def series_frames(series: ImagingSeries) -> list[dict[str, Any]]:
    """The images of a series in scrolling order: each frame of each instance, with the pixel
    spacing (``[row, column]`` mm, or None when unknown) and where it came from ("pixel": Pixel
    Spacing, "imager": Imager Pixel Spacing at the detector, "none"/"": unknown) for measuring."""
    from smartcare.interop.dicom.services import known_pixel_spacing

    frames: list[dict[str, Any]] = []
    instances = list(series.instances.order_by("slice_position", "instance_number", "pk"))
    known_pixel_spacing(instances)
    for instance in instances:
        spacing = (
            [instance.row_spacing, instance.column_spacing]
            if instance.row_spacing and instance.column_spacing
            else None
        )
        for frame in range(1, instance.number_of_frames + 1):
            frames.append(
                {
                    "instance": instance.pk,
                    "frame": frame,
                    "center": instance.window_center,
                    "width": instance.window_width,
                    "spacing": spacing,
                    "spacing_source": instance.spacing_source if spacing else "",
                }
            )
    return frames


def instance_count(study: ImagingStudy) -> int:
    return ImagingInstance.objects.filter(series__study=study).count()
