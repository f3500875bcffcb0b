"""Coded errors of the DICOM store, viewer and DICOMweb client."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError


class NotDicom(CodedError):
    code = "DICOM-001"
    status = 400
    title = _("Not a DICOM file")
    message = _("%(name)s is not a DICOM file (DICOM Part 10, with the DICM preamble).")


class MissingAttribute(CodedError):
    code = "DICOM-002"
    status = 400
    title = _("Incomplete DICOM file")
    message = _("%(name)s has no %(attribute)s.")


class InvalidUid(CodedError):
    code = "DICOM-003"
    status = 400
    title = _("Invalid DICOM UID")
    message = _("%(name)s has an invalid %(attribute)s (%(value)s).")


class PatientMismatch(CodedError):
    code = "DICOM-004"
    status = 409
    title = _("Images of another patient")
    message = _(
        "%(name)s carries patient ID %(found)s, which is not %(mrn)s. Check the patient, or confirm "
        "that the images belong to this patient."
    )


class UnknownPatient(CodedError):
    code = "DICOM-005"
    status = 404
    title = _("Unknown patient")
    message = _("No patient you may see has the patient ID %(found)s of %(name)s.")


class StudyOfAnotherPatient(CodedError):
    code = "DICOM-006"
    status = 409
    title = _("Study of another patient")
    message = _("Study %(uid)s is stored already for another patient.")


class InstanceConflict(CodedError):
    code = "DICOM-007"
    status = 409
    title = _("Different image with the same UID")
    message = _("An image with SOP instance UID %(uid)s is stored already with different content.")


class NotRenderable(CodedError):
    code = "DICOM-008"
    status = 422
    title = _("Compression not supported")
    message = _(
        "Images compressed as %(syntax)s cannot be shown here: no decoder for it is installed. The file "
        "is stored unchanged; open it in a DICOM workstation, or install a decoder (pylibjpeg or GDCM)."
    )


class DecodeFailed(CodedError):
    code = "DICOM-009"
    status = 422
    title = _("Image could not be decoded")
    message = _("The pixel data (%(syntax)s) could not be decoded: %(reason)s")


class NoPixelData(CodedError):
    code = "DICOM-010"
    status = 422
    title = _("No image")
    message = _("This DICOM object has no image to show (for example a structured report).")


class FrameOutOfRange(CodedError):
    code = "DICOM-011"
    status = 404
    title = _("No such frame")
    message = _("This image has %(frames)s frame(s); frame %(frame)s does not exist.")


class InvalidWindow(CodedError):
    code = "DICOM-012"
    status = 400
    title = _("Invalid window")
    message = _("Window centre and width must be numbers and the width at least 1.")


class NoFiles(CodedError):
    code = "DICOM-013"
    status = 400
    title = _("No files")
    message = _("No DICOM files were sent.")


class UploadTooLarge(CodedError):
    code = "DICOM-014"
    status = 413
    title = _("Upload too large")
    message = _("At most %(limit)s MB can be stored at once.")


class PacsUnavailable(CodedError):
    code = "DICOM-015"
    status = 502
    title = _("PACS not reachable")
    message = _("The PACS (DICOMweb) could not be reached: %(reason)s")


class PacsError(CodedError):
    code = "DICOM-016"
    status = 502
    title = _("PACS error")
    message = _("The PACS answered %(status)s to %(what)s.")


class PacsNotConfigured(CodedError):
    code = "DICOM-017"
    status = 409
    title = _("No PACS configured")
    message = _("No PACS is configured (set SMARTCARE_DICOMWEB_URL).")


class BadMultipart(CodedError):
    code = "DICOM-018"
    status = 400
    title = _("Invalid multipart body")
    message = _("The body is not a multipart/related message of application/dicom parts: %(reason)s")


class UnsupportedMediaType(CodedError):
    code = "DICOM-019"
    status = 415
    title = _("Unsupported media type")
    message = _('Send multipart/related; type="application/dicom" (or one application/dicom file).')
