"""Where decision support plugs into the workstation.

emr sits below cdss in the layers (decision support reads the record, never the other way), so
the workstation cannot import ``smartcare.cdss``. Decision support registers itself here when it
starts, e.g. in ``CdssConfig.ready()``::

    from smartcare.emr.hooks import register_advisor
    from smartcare.cdss.services import evaluate, record_feedback, shown_card
    register_advisor(evaluate, feedback=record_feedback, card=shown_card)

``evaluate(user, facts, hook, **context) -> list[Card]`` is ``smartcare.cdss.services.evaluate``;
cards are CDS Hooks 2.0 cards (objects with ``to_json()`` or plain dicts). ``feedback(user,
payload)`` receives a CDS Hooks 2.0 feedback body, as ``POST /cds-services/{id}/feedback`` does
(``smartcare.cdss.services.record_feedback``). ``card(user, card_id)`` returns a card shown earlier
(its hook, encounter and suggestions) or None (``smartcare.cdss.services.shown_card``), so the
workstation carries out exactly the suggestion that was shown. With no advisor registered the
workstation shows no cards (it never invents any).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from smartcare.core.errors import CodedError
from smartcare.emr.facts import ClinicalFacts

logger = logging.getLogger(__name__)

Advisor = Callable[..., list[Any]]
Feedback = Callable[..., Any]
CardLookup = Callable[..., dict[str, Any] | None]

_ADVISORS: list[Advisor] = []
_FEEDBACK: list[Feedback] = []
_CARDS: list[CardLookup] = []


def register_advisor(
    advisor: Advisor, *, feedback: Feedback | None = None, card: CardLookup | None = None
) -> None:
    if advisor not in _ADVISORS:
        _ADVISORS.append(advisor)
    if feedback is not None and feedback not in _FEEDBACK:
        _FEEDBACK.append(feedback)
    if card is not None and card not in _CARDS:
        _CARDS.append(card)


def unregister_all() -> None:
    """For tests."""
    _ADVISORS.clear()
    _FEEDBACK.clear()
    _CARDS.clear()


def registered() -> tuple[list[Advisor], list[Feedback], list[CardLookup]]:
    """For tests: what is registered now, to ``restore`` afterwards."""
    return list(_ADVISORS), list(_FEEDBACK), list(_CARDS)


def restore(saved: tuple[list[Advisor], list[Feedback], list[CardLookup]]) -> None:
    unregister_all()
    _ADVISORS.extend(saved[0])
    _FEEDBACK.extend(saved[1])
    _CARDS.extend(saved[2])


def shown_card(user: Any, card_id: str) -> dict[str, Any] | None:
    """A card shown earlier to ``user`` (or on a patient the user may open), or None."""
    for lookup in _CARDS:
        found = lookup(user, card_id)
        if found is not None:
            return found
    return None


def card_json(card: Any) -> dict[str, Any]:
    return card.to_json() if hasattr(card, "to_json") else dict(card)


def advise(user: Any, facts: ClinicalFacts, hook: str, **context: Any) -> list[dict[str, Any]]:
    """Cards from every registered advisor for ``hook`` (patient-view, order-select, order-sign)."""
    cards: list[dict[str, Any]] = []
    for advisor in _ADVISORS:
        cards.extend(card_json(c) for c in advisor(user, facts, hook, **context))
    return cards


def feedback_payload(
    card_ids: list[str],
    *,
    outcome: str,
    reason_code: str = "",
    reason_system: str = "",
    comment: str = "",
    accepted_suggestions: list[str] | None = None,
) -> dict[str, Any]:
    """A CDS Hooks 2.0 feedback body for the cards the user was shown."""
    from smartcare.core import clock

    items: list[dict[str, Any]] = []
    for card in card_ids:
        item: dict[str, Any] = {"card": card, "outcome": outcome, "outcomeTimestamp": clock.now().isoformat()}
        if outcome == "accepted" and accepted_suggestions:
            item["acceptedSuggestions"] = [{"id": s} for s in accepted_suggestions]
        if outcome == "overridden" and (reason_code or comment):
            override: dict[str, Any] = {"userComment": comment}
            if reason_code:
                override["reason"] = {"code": reason_code, "system": reason_system}
            item["overrideReason"] = override
        items.append(item)
    return {"feedback": items}


def send_feedback(
    user: Any,
    card_ids: list[str],
    *,
    outcome: str,
    reason_code: str = "",
    reason_system: str = "",
    comment: str = "",
    accepted_suggestions: list[str] | None = None,
    strict: bool = False,
) -> None:
    """Tell decision support which cards were accepted or overridden, and why.

    ``strict``: a refused feedback raises (the caller's transaction is rolled back); otherwise it
    is logged and the doctor's decision stands."""
    ids = [c for c in card_ids if c]
    if not ids:
        return
    payload = feedback_payload(
        ids,
        outcome=outcome,
        reason_code=reason_code,
        reason_system=reason_system,
        comment=comment,
        accepted_suggestions=accepted_suggestions,
    )
    for feedback in _FEEDBACK:
        if strict:
            feedback(user, payload)
            continue
        try:
            feedback(user, payload)
        except CodedError:
            # The order is already signed or cancelled: a refused feedback must not undo the
            # doctor's decision; it is logged for the rule owners instead.
            logger.warning("decision-support feedback refused", exc_info=True)
