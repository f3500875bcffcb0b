"""Equipment errors (EQ-001 ... EQ-012)."""

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class InvalidTelemetry(InvalidInput):
    code = "EQ-001"
    status = 400
    title = _("Invalid telemetry")
    message = _("The telemetry message is not valid: %(reason)s")


class InvalidDeviceCredential(CodedError):
    code = "EQ-002"
    status = 401
    title = _("Unknown equipment or wrong credential")
    message = _("The equipment is unknown or its credential is wrong.")


class ImplausibleValue(InvalidInput):
    code = "EQ-003"
    status = 400
    title = _("Implausible value")
    message = _("%(metric)s %(value)s is outside the plausible range %(low)s to %(high)s.")


class DuplicateAsset(CodedError):
    code = "EQ-004"
    status = 409
    title = _("Equipment already registered")
    message = _("Equipment with this maker and serial number is already registered.")


class InvalidAsset(InvalidInput):
    code = "EQ-005"
    status = 400
    title = _("Invalid equipment data")
    message = _("The equipment data is not valid.")


class WorkOrderTransitionNotAllowed(CodedError):
    code = "EQ-006"
    status = 409
    title = _("Work order cannot change this way")
    message = _("A work order with the status “%(status)s” does not allow this action: %(action)s.")


class InvalidWorkOrder(InvalidInput):
    code = "EQ-007"
    status = 400
    title = _("Invalid work order")
    message = _("The work order data is not valid.")


class InvalidPlan(InvalidInput):
    code = "EQ-008"
    status = 400
    title = _("Invalid maintenance plan")
    message = _("The preventive maintenance plan is not valid.")


class NotEnoughFailureHistory(CodedError):
    code = "EQ-009"
    status = 409
    title = _("Not enough failure history")
    message = _(
        "%(kind)s has %(units)s recorded run-to-failure histories; at least %(needed)s are needed to "
        "train a remaining-useful-life model."
    )


class InvalidBenchmarkData(CodedError):
    code = "EQ-010"
    status = 400
    title = _("Invalid benchmark data")
    message = _("The C-MAPSS data in %(path)s cannot be read: %(reason)s")


class InvalidCapacityMove(InvalidInput):
    code = "EQ-011"
    status = 400
    title = _("Capacity cannot be moved")
    message = _("Release capacity cannot be moved: %(reason)s")


class AssetRetired(CodedError):
    code = "EQ-012"
    status = 409
    title = _("Equipment retired")
    message = _("This equipment is retired.")
