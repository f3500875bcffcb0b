"""Why a soft rule was broken: the smallest local change that would have kept it, and what that
change would break or cost, found with the checker.

For a shift-off request that was not honoured the change is giving the day off; for a shift-on
request or a preferred shift type it is assigning the wished shift; for the load band it is
adding or removing one qualified person. The answer is one of:

- ``breaks``: the change breaks these hard rules (for example the night shift would fall short
  of its cover, or the person would exceed the hours of the week);
- ``costs``: the change keeps the hard rules but the other soft rules would cost ``delta`` more;
- ``nobody``: nobody qualified and available could be added;
- ``spread``: for fairness, who has the most and the fewest.
"""

from __future__ import annotations

from typing import Any

from smartcare.workforce.engine.checker import Evaluation, Penalty, evaluate, fairness_pool
from smartcare.workforce.engine.problem import Problem

Roster = dict[tuple[str, int], str]


def _as_assignments(roster: Roster) -> list[tuple[str, int, str]]:
    return [(p, d, s) for (p, d), s in roster.items()]


def _consequence(problem: Problem, base: Evaluation, changed: Roster) -> dict[str, Any]:
    after = evaluate(problem, _as_assignments(changed))
    new = [v for v in after.violations if v not in set(base.violations)]
    if new:
        return {"kind": "breaks", "rules": [v.as_dict() for v in new[:3]]}
    return {"kind": "costs", "delta": after.objective - base.objective}


def _best_alternative(
    problem: Problem, base: Evaluation, roster: Roster, changes: list[Roster]
) -> dict[str, Any] | None:
    """The least bad of several candidate rosters: a hard-feasible one with the smallest extra
    cost, or else the one breaking the fewest hard rules."""
    best: dict[str, Any] | None = None
    for changed in changes:
        found = _consequence(problem, base, changed)
        if (
            best is None
            or (found["kind"] == "costs" and (best["kind"] != "costs" or found["delta"] < best["delta"]))
            or (
                found["kind"] == "breaks"
                and best["kind"] == "breaks"
                and len(found["rules"]) < len(best["rules"])
            )
        ):
            best = found
    return best


def explain(problem: Problem, assignments: list[tuple[str, int, str]], penalty: Penalty) -> dict[str, Any]:
    roster: Roster = {(p, d): s for p, d, s in assignments}
    base = evaluate(problem, assignments)
    staff = problem.staff_index
    rule = penalty.rule
    if rule == "shift_off_request" and penalty.staff is not None and penalty.day is not None:
        changed = dict(roster)
        changed.pop((penalty.staff, penalty.day), None)
        return _consequence(problem, base, changed)
    if (
        rule in ("shift_on_request", "preferred_shift")
        and penalty.staff is not None
        and penalty.day is not None
    ):
        person = staff[penalty.staff]
        if rule == "shift_on_request":
            wished = (
                [penalty.shift] if penalty.shift else [s.id for s in problem.shifts if person.may_work(s.id)]
            )
        else:
            wished = sorted(person.preferred_shifts)
        options = []
        for shift_id in wished:
            changed = dict(roster)
            changed[(penalty.staff, penalty.day)] = shift_id
            options.append(changed)
        return _best_alternative(problem, base, roster, options) or {"kind": "nobody"}
    if rule in ("load_band", "cover_over", "cover_under") and penalty.day is not None and penalty.shift:
        present = penalty.detail.get("present", 0)
        group = penalty.detail.get("group")
        want_more = present < (penalty.detail.get("band_low") or penalty.detail.get("required") or 0)
        options = []
        for person in problem.staff:
            on = roster.get((person.id, penalty.day))
            if group is not None and group not in person.groups:
                continue
            if want_more and on != penalty.shift and person.may_work(penalty.shift):
                if penalty.day in person.days_off:
                    continue
                changed = dict(roster)
                changed[(person.id, penalty.day)] = penalty.shift
                options.append(changed)
            elif not want_more and on == penalty.shift:
                changed = dict(roster)
                changed.pop((person.id, penalty.day))
                options.append(changed)
            if len(options) >= 12:
                break
        return _best_alternative(problem, base, roster, options) or {"kind": "nobody"}
    if rule in ("night_fairness", "weekend_fairness"):
        night = rule == "night_fairness"
        pool = fairness_pool(problem, night=night)
        nights = problem.night_shifts
        weekend = problem.weekend_days()
        counts = {
            p.id: sum(
                1
                for d in range(problem.days)
                if (roster.get((p.id, d)) in nights if night else (d in weekend and (p.id, d) in roster))
            )
            for p in pool
        }
        if not counts:
            return {"kind": "spread"}
        most = max(counts, key=lambda k: counts[k])
        fewest = min(counts, key=lambda k: counts[k])
        return {
            "kind": "spread",
            "most": most,
            "most_count": counts[most],
            "fewest": fewest,
            "fewest_count": counts[fewest],
        }
    return {"kind": "unknown"}


def report(problem: Problem, assignments: list[tuple[str, int, str]], limit: int = 40) -> dict[str, Any]:
    """The objective, its parts by rule, and each broken soft rule (the costliest first) with why."""
    evaluation = evaluate(problem, assignments)
    ordered = sorted(evaluation.penalties, key=lambda p: (-p.cost, p.day if p.day is not None else -1))
    broken = []
    for n, penalty in enumerate(ordered):
        item = penalty.as_dict()
        if n < limit:
            item["why"] = explain(problem, assignments, penalty)
        broken.append(item)
    return {
        "objective": evaluation.objective,
        "by_rule": evaluation.by_rule(),
        "broken": broken,
        "violations": [v.as_dict() for v in evaluation.violations],
    }
