"""HL7 v2 over HTTP: ``POST /api/interop/hl7/messages`` with one message or a BHS/BTS batch as the
body (``x-application/hl7-v2+er7``, as in the HAPI "HL7 over HTTP" convention), answered with the
ACK in the same encoding. The caller is a connected system's machine identity (API token).

HTTP 200 carries every acknowledgement, AE and AR included (the ACK says what was refused and
why); ``Accept: application/json`` gets the same answer as JSON. Errors before any HL7 is read
(not signed in, not a connected system, an unsupported content type) are problem+json.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from ninja import Router

from smartcare.core import context
from smartcare.core.errors import CodedError
from smartcare.interop.hl7 import services
from smartcare.interop.hl7.parsing import MAX_MESSAGE_BYTES
from smartcare.interop.http_body import read_body
from smartcare.interop.models import Transport

router = Router(tags=["interop: HL7 v2"])

ER7 = "x-application/hl7-v2+er7"
ACCEPTED_TYPES = frozenset({"", ER7, "application/hl7-v2", "text/plain", "application/octet-stream"})


class UnsupportedContentType(CodedError):
    code = "HL7-023"
    status = 415
    title = _("Unsupported content type")
    message = _("Send HL7 v2 in the vertical-bar encoding as x-application/hl7-v2+er7 (or text/plain).")


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _sep, found = part.strip().partition("=")
        if name.lower() == "charset" and found:
            return found.strip('"')
    return ""


@router.post(
    "/messages",
    summary="Receive an HL7 v2 message or batch (ADT^A01/A04/A08, ORU^R01); the answer is the ACK",
    response={200: Any},
    openapi_extra={
        "requestBody": {"content": {ER7: {"schema": {"type": "string"}}}, "required": True},
        "responses": {
            200: {"description": "ACK (AA, AE or AR)", "content": {ER7: {"schema": {"type": "string"}}}}
        },
    },
)
def receive_message(request: HttpRequest) -> HttpResponse:
    services.system_for_user(request.user)
    content_type = request.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() not in ACCEPTED_TYPES:
        raise UnsupportedContentType()
    body: bytes | str = read_body(request, MAX_MESSAGE_BYTES * 4)
    charset = _charset(content_type)
    if charset and isinstance(body, bytes):
        # MSH-18 decides when the declared charset is unknown or wrong (or the ACK says why).
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            body = body.decode(charset)
    reply = services.receive(
        body, transport=Transport.HTTP, user=request.user, remote_address=context.current().client_address
    )
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {
                "acknowledgements": [
                    {
                        "ack_code": a.ack_code,
                        "control_id": a.control_id,
                        "code": a.error.code if a.error else "",
                        "hl7_error_code": a.error.hl7_code if a.error else "",
                        "detail": a.error.detail if a.error else a.text,
                        "location": a.error.location if a.error else "",
                    }
                    for a in reply.answers
                ],
                "ack": reply.text,
            }
        )
    response = HttpResponse(reply.text.encode("utf-8"), content_type=f"{ER7}; charset=utf-8")
    response["X-HL7-Ack-Codes"] = ",".join(reply.ack_codes)
    return response
