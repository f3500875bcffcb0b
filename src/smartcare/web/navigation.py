"""The navigation menu: each module registers its entries with the capability that shows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from smartcare.core.permissions import has_capability


@dataclass(frozen=True)
class NavItem:
    label: Promise | str
    url_name: str
    capability: str | None
    icon: str = ""
    order: int = 100


_ITEMS: list[NavItem] = []


def register(item: NavItem) -> None:
    if item not in _ITEMS:
        _ITEMS.append(item)
        _ITEMS.sort(key=lambda i: i.order)


def items_for(user: Any) -> list[dict[str, Any]]:
    if not getattr(user, "is_authenticated", False):
        return []
    visible = []
    for item in _ITEMS:
        if item.capability is None or has_capability(user, item.capability):
            visible.append({"label": item.label, "url": reverse(item.url_name), "icon": item.icon})
    return visible


register(NavItem(_("Home"), "web:home", None, "house", 0))
register(NavItem(_("My record"), "patients:me", "patients.view_own", "person-vcard", 10))
register(NavItem(_("Patients"), "patients:search", "patients.search", "people", 20))
register(NavItem(_("Scan one code"), "patients:scan", "patients.search", "qr-code-scan", 21))
register(NavItem(_("Register patient"), "patients:register", "patients.register", "person-plus", 22))
register(NavItem(_("Book"), "scheduling:departments", "scheduling.book", "calendar-plus", 11))
register(NavItem(_("My bookings"), "scheduling:mine", "patients.view_own", "calendar-check", 12))
register(NavItem(_("Find the right department"), "triage:start", "triage.use", "signpost-split", 13))
register(NavItem(_("My queue"), "visits:doctor_queue", "visits.call", "megaphone", 15))
register(NavItem(_("Workstation"), "emr:workstation", "emr.view", "clipboard2-pulse", 16))
register(NavItem(_("Follow-up"), "followup:worklist", "followup.work", "telephone-outbound", 17))
register(NavItem(_("My follow-up"), "followup:me", "followup.portal", "heart-pulse", 14))
register(NavItem(_("My health at home"), "monitoring:me", "monitoring.own", "activity", 14))
register(NavItem(_("Monitoring board"), "monitoring:board", "monitoring.view", "activity", 18))
register(NavItem(_("Care plan templates"), "followup:templates", "followup.manage", "list-check", 64))
register(NavItem(_("Questionnaires"), "followup:questionnaires", "followup.manage", "ui-checks", 65))
register(NavItem(_("Education library"), "followup:library", "followup.library", "book", 66))
register(NavItem(_("Patient satisfaction"), "followup:satisfaction", "followup.reports", "emoji-smile", 70))
register(NavItem(_("Check-in"), "visits:desk_check_in", "visits.check_in_desk", "box-arrow-in-right", 23))
register(NavItem(_("Kiosk"), "visits:kiosk", "visits.kiosk_page", "display", 24))
register(NavItem(_("Triage kiosk"), "triage:kiosk", "triage.kiosk_page", "signpost-2", 24))
register(NavItem(_("Clinic sessions"), "scheduling:manage", "scheduling.manage", "calendar-week", 25))
register(NavItem(_("Displays"), "visits:displays", "visits.displays", "tv", 26))
register(NavItem(_("Departments"), "web:departments", "organization.view", "diagram-3", 60))
register(NavItem(_("My shifts"), "workforce:my_shifts", "workforce.own_shifts", "calendar3", 17))
register(NavItem(_("Workforce"), "workforce:overview", "workforce.plan", "people-fill", 61))
register(NavItem(_("My health risks"), "health:me", "health.portal", "heart", 15))
register(NavItem(_("Health programmes"), "health:followers", "health.enrol", "clipboard2-pulse", 19))
register(NavItem(_("Programme effect"), "health:effect", "health.effect", "graph-down-arrow", 71))
register(NavItem(_("Risk models"), "health:models", "health.models", "cpu", 72))
register(NavItem(_("My bills"), "billing:home", "patients.view_own", "receipt", 14))
register(NavItem(_("Cashier"), "billing:cashier", "billing.cashier", "cash-coin", 27))
register(NavItem(_("Pay at the kiosk"), "billing:kiosk", "billing.kiosk", "qr-code", 28))
register(
    NavItem(_("Refund approvals"), "billing:refunds", "billing.approve_refund", "arrow-counterclockwise", 70)
)
register(NavItem(_("Cash report"), "billing:cash_report", "billing.manage", "journal-text", 71))
register(NavItem(_("Prices"), "billing:catalog", "billing.manage", "tags", 72))
register(NavItem(_("Insurance policies"), "billing:policies", "billing.manage", "shield-plus", 73))
register(NavItem(_("Reconciliation"), "billing:reconciliations", "billing.manage", "check2-square", 74))
register(NavItem(_("Ledger"), "billing:ledger", "billing.manage", "book", 75))
register(NavItem(_("Imaging"), "interop:imaging", "interop.imaging.search", "images", 17))
register(NavItem(_("Reports"), "interop:reports", "interop.reports.view", "file-earmark-medical", 14))
register(NavItem(_("Knowledge graph"), "knowledge:search", "knowledge.view", "diagram-2", 62))
register(NavItem(_("Decision-support rules"), "cdss:rules", "cdss.review", "lightning", 63))
register(NavItem(_("Audit trail"), "audit:search", "audit.view", "shield-check", 80))
register(NavItem(_("HL7 interface"), "interop:hl7_log", "interop.hl7.monitor", "arrow-left-right", 82))
register(
    NavItem(
        _("Break-the-glass review"),
        "accounts:break_glass_review",
        "audit.break_glass_review",
        "exclamation-octagon",
        81,
    )
)
register(NavItem(_("Inbox"), "notifications:inbox", "notifications.inbox", "envelope", 90))
register(NavItem(_("Administration"), "admin:index", "admin.master_data", "gear", 95))
register(NavItem(_("Equipment"), "equipment:board", "equipment.view", "cpu", 72))
register(NavItem(_("Work orders"), "equipment:work_orders", "equipment.view", "tools", 73))
register(
    NavItem(_("Remote consultation"), "telemedicine:worklist", "telemedicine.consult", "camera-video", 19)
)
register(
    NavItem(
        _("Discordant consultations"), "telemedicine:quality", "telemedicine.review", "clipboard-check", 74
    )
)
register(
    NavItem(_("Consultation indicators"), "telemedicine:indicators", "telemedicine.reports", "graph-up", 75)
)
