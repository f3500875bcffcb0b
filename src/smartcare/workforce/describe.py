"""Translated sentences for broken rules and their explanations (pages and notifications)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from smartcare.organization.models import Skill

RULE_NAMES = {
    "unknown": gettext_lazy("Unknown person, shift or day"),
    "one_shift_per_day": gettext_lazy("One shift per day"),
    "unavailable": gettext_lazy("Approved leave"),
    "shift_not_allowed": gettext_lazy("Shift type not worked"),
    "max_shifts": gettext_lazy("Most shifts of a type"),
    "forbidden_sequence": gettext_lazy("Minimum rest and forbidden sequences"),
    "max_minutes": gettext_lazy("Most hours"),
    "min_minutes": gettext_lazy("Fewest hours"),
    "max_consecutive": gettext_lazy("Most working days in a row"),
    "min_consecutive": gettext_lazy("Fewest working days in a row"),
    "min_days_off": gettext_lazy("Fewest days off in a row"),
    "max_weekends": gettext_lazy("Most weekends"),
    "coverage": gettext_lazy("Coverage per shift and skill"),
    "shift_on_request": gettext_lazy("Shift-on request"),
    "shift_off_request": gettext_lazy("Shift-off request"),
    "cover_under": gettext_lazy("Too few people"),
    "cover_over": gettext_lazy("More people than required"),
    "preferred_shift": gettext_lazy("Preferred shift types"),
    "night_fairness": gettext_lazy("Fair spread of nights"),
    "weekend_fairness": gettext_lazy("Fair spread of weekends"),
    "load_band": gettext_lazy("Staff load within 80-90 %"),
}


class Describer:
    """Turns the engine's ids (practitioner ids, day indexes, groups) back into words."""

    def __init__(self, start: dt.date, names: dict[str, str]) -> None:
        self.start = start
        self.names = names
        self._skills: dict[str, str] | None = None

    def person(self, staff_id: Any) -> str:
        return self.names.get(str(staff_id), str(staff_id)) if staff_id is not None else ""

    def date(self, day: Any) -> str:
        if day is None:
            return ""
        return (self.start + dt.timedelta(days=int(day))).isoformat()

    def group(self, group: str | None) -> str:
        if not group:
            return _("people")
        base, _sep, skill = group.partition("+")
        label = _("doctors") if base == "doctor" else _("nurses") if base == "nurse" else base
        if skill:
            if self._skills is None:
                self._skills = {s.code: s.name for s in Skill.objects.all()}
            return _("%(group)s with %(skill)s") % {"group": label, "skill": self._skills.get(skill, skill)}
        return label

    def violation(self, v: dict[str, Any]) -> str:
        rule = v.get("rule", "")
        params = {
            "person": self.person(v.get("staff")),
            "date": self.date(v.get("day")),
            "shift": v.get("shift") or "",
            "previous": v.get("previous") or "",
            "limit": v.get("limit", ""),
            "count": v.get("count", ""),
            "length": v.get("length", ""),
            "required": v.get("required", ""),
            "present": v.get("present", ""),
            "group": self.group(v.get("group")),
            "first": self.date(v.get("first_day")),
            "last": self.date(v.get("last_day")),
            "hours": round(v.get("minutes", 0) / 60, 1),
            "limit_hours": round(v.get("limit", 0) / 60, 1) if isinstance(v.get("limit"), int) else "",
        }
        texts = {
            "unknown": _("Unknown person, shift or day."),
            "one_shift_per_day": _("%(person)s has two shifts on %(date)s."),
            "unavailable": _("%(person)s is on approved leave on %(date)s."),
            "shift_not_allowed": _("%(person)s does not work %(shift)s shifts (%(date)s)."),
            "max_shifts": _("%(person)s has %(count)s %(shift)s shifts; at most %(limit)s."),
            "forbidden_sequence": _(
                "Minimum rest: %(person)s works %(shift)s on %(date)s right after %(previous)s the day before."
            ),
            "max_minutes": _(
                "%(person)s works %(hours)s hours from %(first)s to %(last)s; at most %(limit_hours)s."
            ),
            "min_minutes": _(
                "%(person)s works %(hours)s hours from %(first)s to %(last)s; at least %(limit_hours)s."
            ),
            "max_consecutive": _(
                "%(person)s works %(length)s days in a row from %(date)s; at most %(limit)s."
            ),
            "min_consecutive": _(
                "%(person)s works only %(length)s days in a row from %(date)s; at least %(limit)s."
            ),
            "min_days_off": _(
                "%(person)s has only %(length)s days off in a row from %(date)s; at least %(limit)s."
            ),
            "max_weekends": _("%(person)s works %(count)s weekends; at most %(limit)s."),
            "coverage": _("%(shift)s on %(date)s needs %(required)s %(group)s; %(present)s rostered."),
        }
        return texts.get(rule, rule) % params

    def penalty(self, p: dict[str, Any]) -> str:
        rule = p.get("rule", "")
        params = {
            "person": self.person(p.get("staff")),
            "date": self.date(p.get("day")),
            "shift": p.get("shift") or _("any shift"),
            "required": p.get("required", ""),
            "present": p.get("present", ""),
            "group": self.group(p.get("group")),
            "band_low": p.get("band_low", ""),
            "band_high": p.get("band_high", ""),
            "most": self.person(p.get("most")),
            "fewest": self.person(p.get("fewest")),
        }
        texts = {
            "shift_on_request": _("%(person)s asked to work %(shift)s on %(date)s."),
            "shift_off_request": _("%(person)s asked to be off (%(shift)s) on %(date)s."),
            "cover_under": _("%(shift)s on %(date)s has %(present)s %(group)s; %(required)s required."),
            "cover_over": _("%(shift)s on %(date)s has %(present)s %(group)s; %(required)s required."),
            "preferred_shift": _("%(person)s prefers other shift types than %(shift)s (%(date)s)."),
            "night_fairness": _("Nights are not spread evenly."),
            "weekend_fairness": _("Weekend work is not spread evenly."),
            "load_band": _(
                "%(shift)s on %(date)s: %(present)s %(group)s; %(band_low)s to %(band_high)s would keep the "
                "forecast workload at 80-90 %% per person."
            ),
        }
        return texts.get(rule, rule) % params

    def why(self, why: dict[str, Any] | None) -> str:
        if not why:
            return ""
        kind = why.get("kind")
        if kind == "breaks":
            broken = "; ".join(self.violation(v) for v in why.get("rules", []))
            return _("Keeping it would break a hard rule: %(rules)s") % {"rules": broken}
        if kind == "costs":
            return _("Keeping it would cost %(delta)s more in other soft rules.") % {
                "delta": why.get("delta")
            }
        if kind == "nobody":
            return _("Nobody qualified and available could be moved.")
        if kind == "spread":
            return _("%(most)s has %(most_count)s, %(fewest)s has %(fewest_count)s.") % {
                "most": self.person(why.get("most")),
                "most_count": why.get("most_count", 0),
                "fewest": self.person(why.get("fewest")),
                "fewest_count": why.get("fewest_count", 0),
            }
        return ""


def rule_name(rule: str) -> str:
    return str(RULE_NAMES.get(rule, rule))
