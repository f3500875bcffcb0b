"""Coded errors of health management (HL-001 ... HL-012)."""

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class UnknownModel(CodedError):
    code = "HL-001"
    status = 400
    title = _("Unknown risk model")
    message = _("There is no risk model called %(model)s. Known models: %(known)s.")


class RiskInputInvalid(InvalidInput):
    """Missing or malformed inputs; ``errors`` names each field concerned."""

    code = "HL-002"
    status = 400
    title = _("Risk inputs not valid")
    message = _("Some inputs of the risk model are missing or not valid; nothing was computed.")


class OutsideValidatedRange(InvalidInput):
    """An input the model was never validated for: refused rather than extrapolated."""

    code = "HL-003"
    status = 422
    title = _("Outside the model's validated range")
    message = _(
        "%(model)s was validated for %(name)s between %(low)s and %(high)s %(unit)s; "
        "%(value)s is outside that range, so no risk is given."
    )


class UnknownUnit(InvalidInput):
    code = "HL-004"
    status = 400
    title = _("Unknown unit")
    message = _("The unit %(unit)s is not accepted for %(field_name)s; use one of: %(accepted)s.")


class NotEnoughData(CodedError):
    code = "HL-005"
    status = 409
    title = _("Not enough data")
    message = _("The record does not hold all the inputs this model needs: %(missing)s.")


class ModelNotPromoted(CodedError):
    code = "HL-006"
    status = 409
    title = _("Model not promoted")
    message = _("Only a promoted model version may be used for patients.")


class TrainingRefused(CodedError):
    code = "HL-007"
    status = 400
    title = _("Model cannot be trained")
    message = _("The model cannot be trained: %(reason)s")


class AlreadyEnrolled(CodedError):
    code = "HL-008"
    status = 409
    title = _("Already enrolled")
    message = _("The patient already takes part in this programme.")


class EnrolmentNotActive(CodedError):
    code = "HL-009"
    status = 409
    title = _("Not enrolled")
    message = _("The patient does not take part in this programme any more.")


class AdherenceInvalid(InvalidInput):
    code = "HL-010"
    status = 400
    title = _("Report not valid")
    message = _("Please say how well you followed the advice; nothing was saved.")


class ModelTransitionRefused(CodedError):
    code = "HL-011"
    status = 409
    title = _("Not possible in this state")
    message = _("This model version cannot be promoted or retired from its current state.")


class AnswersInvalid(InvalidInput):
    code = "HL-012"
    status = 400
    title = _("Answers not valid")
    message = _("Some answers are missing or not valid; nothing was saved.")
