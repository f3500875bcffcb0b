from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class TemplateNotUsable(CodedError):
    code = "FU-001"
    status = 400
    title = _("Care plan template not usable")
    message = _("This care plan template is not active or has no tasks.")


class PlanAlreadyActive(CodedError):
    code = "FU-002"
    status = 409
    title = _("Plan already active")
    message = _("The patient already follows an active plan from this template.")


class TaskTransitionRefused(CodedError):
    code = "FU-003"
    status = 409
    title = _("Not possible in this state")
    message = _("The task cannot go from %(current)s to %(target)s.")


class ReasonRequired(CodedError):
    code = "FU-004"
    status = 400
    title = _("Reason required")
    message = _("Please give a reason.")


class InvalidAnswers(InvalidInput):
    """Answers that do not fit the questionnaire; ``errors`` names each question concerned."""

    code = "FU-005"
    status = 400
    title = _("Answers not valid")
    message = _("Some answers are missing or not valid; nothing was saved.")


class SurveyClosed(CodedError):
    code = "FU-006"
    status = 409
    title = _("Questionnaire closed")
    message = _("This questionnaire was answered already or is no longer open.")


class InvalidQuestion(InvalidInput):
    code = "FU-007"
    status = 400
    title = _("Question not valid")
    message = _("The question is not valid.")


class VideoNotHospitalHosted(CodedError):
    code = "FU-008"
    status = 400
    title = _("Video link not allowed")
    message = _(
        "Videos must be files hosted by the hospital: a path on this server or an approved hospital host."
    )


class PlanNotActive(CodedError):
    code = "FU-009"
    status = 409
    title = _("Plan not active")
    message = _("This care plan is no longer active.")


class QuestionInUse(CodedError):
    code = "FU-010"
    status = 409
    title = _("Question in use")
    message = _("Another question is shown depending on the answer to this one; change that question first.")


class AnswerTheQuestionnaire(CodedError):
    code = "FU-011"
    status = 409
    title = _("Questionnaire not answered")
    message = _("A questionnaire task is done when its questionnaire is answered.")
