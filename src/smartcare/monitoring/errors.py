from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class InvalidReading(InvalidInput):
    """A device message or observation that cannot be stored; ``reason`` says why (also logged)."""

    code = "MON-001"
    status = 400
    title = _("Invalid reading")
    message = _("The reading was rejected: %(reason)s")


class InvalidDeviceCredential(CodedError):
    code = "MON-002"
    status = 401
    title = _("Unknown device")
    message = _("The device credential is missing, unknown, revoked or does not match the device.")


class DeviceNotPaired(CodedError):
    code = "MON-003"
    status = 409
    title = _("Device not paired")
    message = _("This device is not paired with a patient, so its readings cannot be stored.")


class DeviceAlreadyPaired(CodedError):
    code = "MON-004"
    status = 409
    title = _("Device already paired")
    message = _("This device is paired with another patient; unpair it first.")


class ImplausibleReading(CodedError):
    code = "MON-005"
    status = 400
    title = _("Implausible value")
    message = _("%(name)s = %(value)s is outside the plausible range %(low)s to %(high)s.")


class AlertAlreadyAcknowledged(CodedError):
    code = "MON-006"
    status = 409
    title = _("Already acknowledged")
    message = _("This alert was acknowledged by %(user)s at %(time)s.")


class InvalidThreshold(InvalidInput):
    code = "MON-007"
    status = 400
    title = _("Invalid threshold")
    message = _("The thresholds must go critical low < warning low < warning high < critical high.")


class NotEnrolled(CodedError):
    code = "MON-008"
    status = 409
    title = _("Not enrolled in home monitoring")
    message = _("Enrol the patient in home monitoring (with a responsible doctor) first.")


class SuggestionAlreadyDecided(CodedError):
    code = "MON-009"
    status = 409
    title = _("Already decided")
    message = _("This suggestion has already been decided.")


class UnsupportedMeasurement(CodedError):
    code = "MON-010"
    status = 400
    title = _("Unsupported measurement")
    message = _("%(what)s is not a measurement this device can report.")


class DeviceAlreadyRegistered(CodedError):
    code = "MON-011"
    status = 409
    title = _("Device already registered")
    message = _("A device with this manufacturer and serial number is already registered.")


class RehabPlanExists(CodedError):
    code = "MON-012"
    status = 409
    title = _("Rehab plan already active")
    message = _("The patient already has an active rehab plan; change its targets instead.")


class AlreadyEnrolled(CodedError):
    code = "MON-013"
    status = 409
    title = _("Already enrolled")
    message = _("The patient is already enrolled in home monitoring by %(department)s.")


class InvalidBrokerUrl(CodedError):
    code = "MON-014"
    status = 400
    title = _("Invalid broker address")
    message = _("MQTT_URL must look like mqtt://user:password@host:1883 or mqtts://host:8883 (%(reason)s).")
