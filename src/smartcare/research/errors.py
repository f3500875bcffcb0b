"""Coded errors of the research platform.

RES-001 … RES-039: the lake and the cohort builder (helper "lake").
RES-040 … RES-079: projects, consent, de-identified exports and differential privacy.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput

# --- lake and cohorts (RES-001 … RES-039) -------------------------------------------------------


class CriteriaInvalid(InvalidInput):
    code = "RES-001"
    status = 400
    title = _("Cohort criteria not valid")
    message = _("The cohort criteria are not valid at %(path)s: %(reason)s")


class LakeNotBuilt(CodedError):
    code = "RES-002"
    status = 409
    title = _("Analytics lake not built")
    message = _(
        "The analytics lake has not been built yet; a data steward builds it with “smartcare lake build”."
    )


class LakeBuildRunning(CodedError):
    code = "RES-003"
    status = 409
    title = _("Lake build running")
    message = _("Another build of the analytics lake is running; try again when it has finished.")


class CohortNotFound(CodedError):
    code = "RES-004"
    status = 404
    title = _("Cohort not found")
    message = _("No such cohort, or it is not yours.")


class CohortInvalid(InvalidInput):
    code = "RES-005"
    status = 400
    title = _("Cohort not valid")
    message = _("The cohort is not valid: %(reason)s")


class LakeOptionInvalid(InvalidInput):
    code = "RES-006"
    status = 400
    title = _("Lake option not valid")
    message = _("The option is not valid: %(reason)s")


class CohortQueryFailed(CodedError):
    code = "RES-007"
    status = 503
    title = _("Cohort query failed")
    message = _("The cohort could not be counted over the analytics lake: %(reason)s")


class OmopExportInvalid(InvalidInput):
    code = "RES-008"
    status = 400
    title = _("OMOP export not valid")
    message = _("The OMOP export cannot be written: %(reason)s")


class LakeSchemaOutdated(CodedError):
    code = "RES-009"
    status = 409
    title = _("Analytics lake outdated")
    message = _(
        "The analytics lake was built with an older schema; a data steward rebuilds it with "
        "“smartcare lake build --full”."
    )


# --- projects, consent, exports, privacy (RES-040 … RES-079) ------------------------------------


class ProjectInvalid(InvalidInput):
    code = "RES-040"
    status = 400
    title = _("Research project not valid")
    message = _("The research project is not valid: %(reason)s")


class ProjectNotFound(CodedError):
    code = "RES-041"
    status = 404
    title = _("Research project not found")
    message = _("No such research project, or you are not one of its investigators.")


class ProjectTransitionRefused(CodedError):
    code = "RES-042"
    status = 409
    title = _("Not possible in this state")
    message = _("The research project cannot go from %(current)s to %(target)s.")


class DecisionReasonRequired(InvalidInput):
    code = "RES-043"
    status = 400
    title = _("Reason required")
    message = _("A rejection needs a reason.")


class ProjectNotApproved(CodedError):
    code = "RES-044"
    status = 403
    title = _("Project not approved")
    message = _("Only an approved research project can export data.")


class ProjectExpired(CodedError):
    code = "RES-045"
    status = 403
    title = _("Ethics approval expired")
    message = _("The ethics approval of this project is not valid today (valid %(start)s to %(end)s).")


class PrivacyBudgetExhausted(CodedError):
    code = "RES-046"
    status = 429
    title = _("Privacy budget exhausted")
    message = _("This query needs epsilon %(needed)s but only %(left)s of the privacy budget is left.")


class PrivacyQueryInvalid(InvalidInput):
    code = "RES-047"
    status = 400
    title = _("Query not valid")
    message = _("The private query is not valid: %(reason)s")


class ExportInvalid(InvalidInput):
    code = "RES-048"
    status = 400
    title = _("Export not valid")
    message = _("The export request is not valid: %(reason)s")


class ExportNotFound(CodedError):
    code = "RES-049"
    status = 404
    title = _("Export not found")
    message = _("No such export, or it belongs to a project you are not on.")


class ConsentInvalid(InvalidInput):
    code = "RES-050"
    status = 400
    title = _("Consent not valid")
    message = _("The consent decision is not valid: %(reason)s")


class SelfApprovalRefused(CodedError):
    code = "RES-051"
    status = 403
    title = _("Own project")
    message = _("A data steward cannot decide on a project they are an investigator of.")
