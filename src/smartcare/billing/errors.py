"""Billing errors (``BILL-0xx``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import CodedError, InvalidInput


class NotPriced(CodedError):
    code = "BILL-001"
    status = 400
    title = _("No price")
    message = _("The item %(item)s has no price on %(date)s.")


class InvalidAmount(InvalidInput):
    code = "BILL-002"
    title = _("Invalid amount")
    message = _("Enter an amount in yuan with at most two decimals (fen), for example 12.50.")


class NothingToPay(CodedError):
    code = "BILL-003"
    status = 409
    title = _("Nothing to pay")
    message = _("This bill has no charges waiting for payment.")


class PaymentInProgress(CodedError):
    code = "BILL-004"
    status = 409
    title = _("Payment in progress")
    message = _("A payment for this bill is already in progress; finish it or wait until it expires.")


class UnknownProvider(CodedError):
    code = "BILL-005"
    status = 400
    title = _("Unknown payment method")
    message = _("The payment method %(provider)s is not available here.")


class PaymentExpired(CodedError):
    code = "BILL-006"
    status = 409
    title = _("Payment expired")
    message = _("This payment order has expired. Start a new payment.")


class InvalidSignature(CodedError):
    code = "BILL-007"
    status = 401
    title = _("Invalid signature")
    message = _("The notification's signature is not valid.")


class StaleNotification(CodedError):
    code = "BILL-008"
    status = 401
    title = _("Notification too old")
    message = _("The notification's timestamp is outside the accepted window (replayed?).")


class NotificationMismatch(CodedError):
    code = "BILL-009"
    status = 409
    title = _("Notification does not match")
    message = _("The notification does not match the payment order (%(reason)s).")


class RefundTooLarge(InvalidInput):
    code = "BILL-010"
    title = _("Refund too large")
    message = _("More is to be refunded than was charged and paid for this line.")


class RefundNotAllowed(CodedError):
    code = "BILL-011"
    status = 409
    title = _("Refund not possible")
    message = _("This refund cannot be %(action)s in its current state.")


class OwnRefundApproval(CodedError):
    code = "BILL-012"
    status = 403
    title = _("Second person required")
    message = _("A refund must be approved by someone other than the person who requested it.")


class LedgerUnbalanced(CodedError):
    code = "BILL-013"
    status = 500
    title = _("Ledger entry not balanced")
    message = _("A ledger entry's debits (%(debit)s) and credits (%(credit)s) differ.")


class ProviderError(CodedError):
    code = "BILL-014"
    status = 502
    title = _("Payment provider error")
    message = _("The payment provider refused the request: %(reason)s")


class InvalidPolicy(InvalidInput):
    code = "BILL-015"
    title = _("Invalid insurance policy")
    message = _("The insurance policy is not valid.")


class InvalidCatalog(InvalidInput):
    code = "BILL-016"
    title = _("Invalid price catalog")
    message = _("The price catalog file is not valid: line %(line)s: %(reason)s")


class InvalidStatement(InvalidInput):
    code = "BILL-020"
    title = _("Invalid statement file")
    message = _("The statement file is not valid: line %(line)s: %(reason)s")


class SandboxOrderClosed(CodedError):
    code = "BILL-030"
    status = 409
    title = _("Order closed")
    message = _("This payment order is closed, expired or already paid.")
