"""DICOM over HTTP.

* ``POST /api/interop/dicomweb/studies``: STOW-RS. The body is ``multipart/related;
  type="application/dicom"`` (or one ``application/dicom`` file). Every file is linked to the
  patient its patient ID names (smartcare's record number, or the sender's own patient number),
  or to ``?patient=<id>``. All or nothing: on any refusal nothing is stored and the answer is
  problem+json with the coded reason; on success the STOW response (DICOM JSON) lists the stored
  instances.
* ``GET /api/interop/imaging/studies``: search by patient, modality and study date.
* ``GET /api/interop/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/{frame}/rendered``:
  one frame as PNG; ``?window=centre,width`` (as in WADO-RS rendered) overrides the file's window.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from ninja import Router, Schema

from smartcare.core.permissions import require_capability
from smartcare.interop.dicom import selectors, services
from smartcare.interop.dicom.errors import InvalidWindow, NoFiles, UnsupportedMediaType, UploadTooLarge
from smartcare.interop.dicom.multipart import content_type_parameters, parse_related
from smartcare.interop.dicom.render import Window, parse_window
from smartcare.interop.http_body import read_body
from smartcare.interop.models import StudySource

router = Router(tags=["interop: DICOM"])


class StudyOut(Schema):
    id: int
    study_uid: str
    patient_id: int
    accession_number: str
    description: str
    modalities: list[str]
    started_at: dt.datetime | None
    number_of_series: int
    number_of_instances: int
    viewer: str


def _study(study: Any) -> dict[str, Any]:
    return {
        "id": study.pk,
        "study_uid": study.study_uid,
        "patient_id": study.patient_id,
        "accession_number": study.accession_number,
        "description": study.description,
        "modalities": study.modality_list,
        "started_at": study.started_at,
        "number_of_series": study.number_of_series,
        "number_of_instances": study.number_of_instances,
        "viewer": reverse("interop:study", args=[study.pk]),
    }


def _files(request: HttpRequest) -> list[tuple[str, bytes]]:
    content_type = request.headers.get("Content-Type", "")
    main, params = content_type_parameters(content_type)
    if main not in ("application/dicom", "multipart/related"):
        raise UnsupportedMediaType()
    body = read_body(request, services.MAX_UPLOAD_BYTES)
    if len(body) > services.MAX_UPLOAD_BYTES:
        raise UploadTooLarge(limit=services.MAX_UPLOAD_BYTES // (1024 * 1024))
    if main == "application/dicom":
        return [("part 1", body)] if body else []
    if params.get("type", "application/dicom").lower() != "application/dicom":
        raise UnsupportedMediaType()
    parts = parse_related(body, content_type)
    found = []
    for index, (part_type, data) in enumerate(parts, start=1):
        if part_type != "application/dicom":
            raise UnsupportedMediaType()
        found.append((f"part {index}", data))
    return found


@router.post(
    "/dicomweb/studies",
    summary="Store DICOM instances (STOW-RS); all or nothing",
    response={200: Any},
    openapi_extra={
        "requestBody": {
            "content": {
                'multipart/related; type="application/dicom"': {
                    "schema": {"type": "string", "format": "binary"}
                }
            },
            "required": True,
        }
    },
)
def stow(request: HttpRequest, patient: str = "") -> HttpResponse:
    require_capability(request.user, "interop.imaging.upload")
    files = _files(request)
    if not files:
        raise NoFiles()
    result = services.store_instances(
        request.user, files, patient_id=patient or None, source=StudySource.STOW
    )
    sequence = []
    for instance in [*result.stored, *result.already_stored]:
        series = instance.series
        url = request.build_absolute_uri(
            f"/api/interop/dicomweb/studies/{series.study.study_uid}/series/{series.series_uid}"
            f"/instances/{instance.sop_instance_uid}"
        )
        sequence.append(
            {
                "00081150": {"vr": "UI", "Value": [instance.sop_class_uid]},
                "00081155": {"vr": "UI", "Value": [instance.sop_instance_uid]},
                "00081190": {"vr": "UR", "Value": [url]},
            }
        )
    body: dict[str, Any] = {"00081199": {"vr": "SQ", "Value": sequence}}
    if len(result.studies) == 1:
        body["00081190"] = {
            "vr": "UR",
            "Value": [
                request.build_absolute_uri(f"/api/interop/dicomweb/studies/{result.studies[0].study_uid}")
            ],
        }
    return JsonResponse(body, content_type="application/dicom+json")


@router.get(
    "/imaging/studies", response=list[StudyOut], summary="Search imaging studies (patient, modality, date)"
)
def search(
    request: HttpRequest,
    patient: str = "",
    modality: str = "",
    date_from: str = "",
    date_to: str = "",
    limit: int = 50,
) -> list[dict[str, Any]]:
    found = selectors.search_studies(
        request.user,
        patient=patient,
        modality=modality,
        date_from=services.parse_date_filter(date_from, "date_from"),
        date_to=services.parse_date_filter(date_to, "date_to"),
        limit=max(1, min(limit, 200)),
    )
    return [_study(s) for s in found]


def _window_param(text: str) -> Window | None:
    if not text:
        return None
    parts = text.split(",")
    if len(parts) < 2 or (len(parts) > 2 and parts[2].strip().lower() not in ("linear", "")):
        raise InvalidWindow()
    return parse_window(parts[0], parts[1])


@router.get(
    "/dicomweb/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/{frame}/rendered",
    summary="One frame rendered as PNG (window=centre,width[,linear])",
    response={200: Any},
    openapi_extra={"responses": {200: {"description": "PNG", "content": {"image/png": {}}}}},
)
def rendered(
    request: HttpRequest, study_uid: str, series_uid: str, sop_uid: str, frame: int, window: str = ""
) -> HttpResponse:
    chosen = _window_param(window)
    instance = services.instance_by_uids(study_uid, series_uid, sop_uid)
    png, used = services.frame_png(request.user, instance.pk, frame, chosen)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    if used is not None:
        response["X-Window"] = f"{used.center:g},{used.width:g}"
    return response
