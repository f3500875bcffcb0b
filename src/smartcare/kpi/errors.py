"""Coded errors of the operations cockpit (KPI-001 ... KPI-049; quality control and what-if use
their own numbers in the same prefix)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class InvalidPeriod(InvalidInput):
    code = "KPI-001"
    status = 400
    title = _("Invalid period")
    message = _(
        "The period %(period)s is not valid; use a year (2026), quarter (2026-Q3), month (2026-09), "
        "ISO week (2026-W37) or day (2026-09-14)."
    )


class UnknownIndicator(CodedError):
    code = "KPI-002"
    status = 404
    title = _("Unknown indicator")
    message = _("There is no indicator with the code %(code)s.")


class InvalidSetting(InvalidInput):
    code = "KPI-003"
    status = 400
    title = _("Invalid indicator setting")
    message = _("The setting is not valid: %(problem)s")


class UnknownDepartment(CodedError):
    code = "KPI-004"
    status = 404
    title = _("Unknown department")
    message = _("There is no department %(department)s that you may see.")


class InvalidAction(InvalidInput):
    code = "KPI-005"
    status = 400
    title = _("Invalid management action")
    message = _("The management action is not valid: %(problem)s")


class ActionClosed(CodedError):
    code = "KPI-006"
    status = 409
    title = _("Action already closed")
    message = _("This action is already closed.")


class InvalidDateRange(InvalidInput):
    code = "KPI-007"
    status = 400
    title = _("Invalid date range")
    message = _("The date range is not valid: %(problem)s")


class NotAQuarter(InvalidInput):
    code = "KPI-008"
    status = 400
    title = _("Not a quarter")
    message = _("Quarterly reports are made for a quarter such as 2026-Q3, not %(period)s.")


class QuarterNotOver(CodedError):
    code = "KPI-009"
    status = 409
    title = _("Quarter not over")
    message = _("The quarter %(period)s has not ended yet; its report can be made from %(day)s.")


class UnknownDrillDown(InvalidInput):
    code = "KPI-010"
    status = 400
    title = _("Unknown breakdown")
    message = _("The breakdown %(by)s does not exist for this indicator.")
