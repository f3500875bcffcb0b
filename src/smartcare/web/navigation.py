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
    section: str = ""  # key of a Section: shown in that drop-down menu; "" for the menu bar itself


@dataclass(frozen=True)
class Section:
    """A drop-down menu grouping the back-office pages, so that a manager's menu bar stays short.

    A section with a single visible entry is shown as that entry on the menu bar (no drop-down
    with one item); the section sits where its first entry would.
    """

    key: str
    label: Promise | str
    icon: str


_ITEMS: list[NavItem] = []
_SECTIONS: dict[str, Section] = {}


def register(item: NavItem) -> None:
    if item not in _ITEMS:
        _ITEMS.append(item)
        _ITEMS.sort(key=lambda i: i.order)


def register_section(section: Section) -> None:
    _SECTIONS[section.key] = section


def items_for(user: Any) -> list[dict[str, Any]]:
    """The menu for ``user``: entries ``{label, url, icon}`` and drop-downs ``{label, icon, key,
    children: [entries]}``, in the order of their (first) entry."""
    if not getattr(user, "is_authenticated", False):
        return []
    menu: list[dict[str, Any]] = []
    dropdowns: dict[str, dict[str, Any]] = {}
    for item in _ITEMS:
        if item.capability is not None and not has_capability(user, item.capability):
            continue
        entry = {"label": item.label, "url": reverse(item.url_name), "icon": item.icon}
        section = _SECTIONS.get(item.section)
        if section is None:
            menu.append(entry)
        elif section.key in dropdowns:
            dropdowns[section.key]["children"].append(entry)
        else:
            dropdowns[section.key] = {"label": section.label, "icon": section.icon, "key": section.key}
            dropdowns[section.key]["children"] = [entry]
            menu.append(dropdowns[section.key])
    return [d["children"][0] if "children" in d and len(d["children"]) == 1 else d for d in menu]


MANAGE, CONTENT, FINANCE, RESEARCH, SYSTEM = "manage", "content", "finance", "research", "system"
register_section(Section(MANAGE, _("Management"), "speedometer2"))
register_section(Section(CONTENT, _("Clinical content"), "journal-medical"))
register_section(Section(FINANCE, _("Finance"), "cash-stack"))
register_section(Section(RESEARCH, _("Research"), "database"))
register_section(Section(SYSTEM, _("System"), "gear"))


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
register(
    NavItem(
        _("Care plan templates"), "followup:templates", "followup.manage", "list-check", 64, section=CONTENT
    )
)
register(
    NavItem(
        _("Questionnaires"), "followup:questionnaires", "followup.manage", "ui-checks", 65, section=CONTENT
    )
)
register(NavItem(_("Education library"), "followup:library", "followup.library", "book", 66, section=CONTENT))
register(
    NavItem(
        _("Patient satisfaction"),
        "followup:satisfaction",
        "followup.reports",
        "emoji-smile",
        70,
        section=MANAGE,
    )
)
register(NavItem(_("Check-in"), "visits:desk_check_in", "visits.check_in_desk", "box-arrow-in-right", 23))
register(NavItem(_("Kiosk"), "visits:kiosk", "visits.kiosk_page", "display", 24))
register(NavItem(_("Triage kiosk"), "triage:kiosk", "triage.kiosk_page", "signpost-2", 24))
register(NavItem(_("Clinic sessions"), "scheduling:manage", "scheduling.manage", "calendar-week", 25))
register(NavItem(_("Displays"), "visits:displays", "visits.displays", "tv", 26))
register(NavItem(_("Departments"), "web:departments", "organization.view", "diagram-3", 60, section=MANAGE))
register(NavItem(_("My shifts"), "workforce:my_shifts", "workforce.own_shifts", "calendar3", 17))
register(NavItem(_("Workforce"), "workforce:overview", "workforce.plan", "people-fill", 61, section=MANAGE))
register(NavItem(_("My health risks"), "health:me", "health.portal", "heart", 15))
register(NavItem(_("Health programmes"), "health:followers", "health.enrol", "clipboard2-pulse", 19))
register(
    NavItem(_("Programme effect"), "health:effect", "health.effect", "graph-down-arrow", 71, section=MANAGE)
)
register(NavItem(_("Risk models"), "health:models", "health.models", "cpu", 72, section=CONTENT))
register(NavItem(_("My bills"), "billing:home", "patients.view_own", "receipt", 14))
register(NavItem(_("Cashier"), "billing:cashier", "billing.cashier", "cash-coin", 27))
register(NavItem(_("Pay at the kiosk"), "billing:kiosk", "billing.kiosk", "qr-code", 28))
register(
    NavItem(
        _("Refund approvals"),
        "billing:refunds",
        "billing.approve_refund",
        "arrow-counterclockwise",
        70,
        section=FINANCE,
    )
)
register(
    NavItem(_("Cash report"), "billing:cash_report", "billing.manage", "journal-text", 71, section=FINANCE)
)
register(NavItem(_("Prices"), "billing:catalog", "billing.manage", "tags", 72, section=FINANCE))
register(
    NavItem(_("Insurance policies"), "billing:policies", "billing.manage", "shield-plus", 73, section=FINANCE)
)
register(
    NavItem(
        _("Reconciliation"), "billing:reconciliations", "billing.manage", "check2-square", 74, section=FINANCE
    )
)
register(NavItem(_("Ledger"), "billing:ledger", "billing.manage", "book", 75, section=FINANCE))
register(NavItem(_("Imaging"), "interop:imaging", "interop.imaging.search", "images", 17))
register(NavItem(_("Reports"), "interop:reports", "interop.reports.view", "file-earmark-medical", 14))
register(
    NavItem(_("Knowledge graph"), "knowledge:search", "knowledge.view", "diagram-2", 62, section=CONTENT)
)
register(NavItem(_("Decision-support rules"), "cdss:rules", "cdss.review", "lightning", 63, section=CONTENT))
register(NavItem(_("Audit trail"), "audit:search", "audit.view", "shield-check", 80, section=SYSTEM))
register(
    NavItem(
        _("HL7 interface"), "interop:hl7_log", "interop.hl7.monitor", "arrow-left-right", 82, section=SYSTEM
    )
)
register(
    NavItem(
        _("Break-the-glass review"),
        "accounts:break_glass_review",
        "audit.break_glass_review",
        "exclamation-octagon",
        81,
        section=SYSTEM,
    )
)
register(NavItem(_("Inbox"), "notifications:inbox", "notifications.inbox", "envelope", 90))
register(NavItem(_("Administration"), "admin:index", "admin.master_data", "gear", 95, section=SYSTEM))
register(NavItem(_("Equipment"), "equipment:board", "equipment.view", "cpu", 72, section=MANAGE))
register(NavItem(_("Work orders"), "equipment:work_orders", "equipment.view", "tools", 73, section=MANAGE))
register(
    NavItem(_("Remote consultation"), "telemedicine:worklist", "telemedicine.consult", "camera-video", 19)
)
register(
    NavItem(
        _("Discordant consultations"),
        "telemedicine:quality",
        "telemedicine.review",
        "clipboard-check",
        74,
        section=MANAGE,
    )
)
register(
    NavItem(
        _("Consultation indicators"),
        "telemedicine:indicators",
        "telemedicine.reports",
        "graph-up",
        75,
        section=MANAGE,
    )
)
# --- operations cockpit (kpi) ---
register(
    NavItem(_("Operations cockpit"), "kpi:cockpit", "management.cockpit", "speedometer", 58, section=MANAGE)
)
register(
    NavItem(_("Management actions"), "kpi:actions", "management.cockpit", "check2-square", 59, section=MANAGE)
)
# --- quality control and what-if simulation (kpi, simulation) ---
register(NavItem(_("Quality control"), "kpi:quality", "kpi.quality", "clipboard2-check", 62, section=MANAGE))
register(
    NavItem(
        _("Quality reviews"),
        "kpi:quality_reviews",
        "kpi.quality_review",
        "clipboard-check",
        63,
        section=MANAGE,
    )
)
register(
    NavItem(_("What-if simulation"), "simulation:whatif", "simulation.run", "diagram-2", 64, section=MANAGE)
)
# --- research: cohorts (lake) ---
register(NavItem(_("Cohorts"), "research:cohort_list", "research.cohorts", "people", 85, section=RESEARCH))
# --- research: projects, review, exploration, consent (steward) ---
register(
    NavItem(
        _("Research projects"),
        "research:project_list",
        "research.projects",
        "journal-text",
        86,
        section=RESEARCH,
    )
)
register(
    NavItem(_("Project review"), "research:review", "research.review", "check2-square", 87, section=RESEARCH)
)
register(
    NavItem(
        _("Private exploration"), "research:explore", "research.cohorts", "bar-chart", 88, section=RESEARCH
    )
)
register(NavItem(_("Research consent"), "research:my_consent", "research.consent_own", "hand-thumbs-up", 14))
