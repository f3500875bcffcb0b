from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class DuplicatePatient(CodedError):
    code = "PAT-002"
    status = 409
    title = _("Patient already registered")
    message = _("A patient with this resident ID is already registered (medical record number %(mrn)s).")


class InvalidPatientData(InvalidInput):
    code = "PAT-003"
    title = _("Invalid patient data")
    message = _("Some patient details are missing or not valid.")


class UnknownOneCode(CodedError):
    code = "PAT-004"
    status = 404
    title = _("Not found")
    message = _("The requested record does not exist or you may not see it.")


class IdentityNotConfirmed(CodedError):
    code = "PAT-005"
    status = 404
    title = _("Identity not confirmed")
    message = _("No patient matches this resident ID, name and phone number.")
