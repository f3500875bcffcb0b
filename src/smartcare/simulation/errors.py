"""Coded errors of the what-if simulation (SIM-011 ...)."""

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class InvalidScenarioFile(InvalidInput):
    code = "SIM-011"
    status = 400
    title = _("Invalid scenario file")
    message = _("The scenario is not valid JSON or YAML: %(problem)s")


class InvalidScenario(InvalidInput):
    code = "SIM-012"
    status = 400
    title = _("Invalid scenario")
    message = _("The scenario is not valid at %(where)s: %(problem)s")


class UnknownDepartment(CodedError):
    code = "SIM-013"
    status = 404
    title = _("Unknown department")
    message = _("There is no clinic department with the code %(code)s.")


class NotEnoughData(CodedError):
    code = "SIM-014"
    status = 409
    title = _("Not enough data")
    message = _(
        "%(department)s has no clinic sessions with seen patients between %(start)s and %(end)s; the "
        "model cannot be measured from the hospital's data."
    )


class InvalidRunOptions(InvalidInput):
    code = "SIM-015"
    status = 400
    title = _("Invalid run options")
    message = _("The run options are not valid: %(problem)s")


class InvalidValidationMonth(InvalidInput):
    code = "SIM-016"
    status = 400
    title = _("Invalid month")
    message = _("The month must be a past month written as YYYY-MM: %(problem)s")


class RunNotFinished(CodedError):
    code = "SIM-017"
    status = 409
    title = _("Run not finished")
    message = _("This simulation run has not finished yet.")
