"""Smart triage pages (智能导诊): a chat-style page for the portal (anyone, signed in or not) and a
kiosk page in the elderly style. Both work without JavaScript (a plain POST renders the whole
conversation again from the form); with htmx the assistant's answer is appended in place.

The conversation is rebuilt from the form on every request: the complaint, the answers given so far
(hidden ``answer_<question id>`` fields, "yes", "no" or "unsure") and the new reply
(``reply=<question id>:<answer>``). Nothing of it is kept on the server but the triage record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from smartcare.core.errors import CodedError
from smartcare.core.permissions import require_capability
from smartcare.patients.access import access_patient
from smartcare.patients.choices import AccessAction
from smartcare.patients.selectors import patient_for_user
from smartcare.triage import services
from smartcare.triage.choices import TriageChannel
from smartcare.triage.errors import AgeOutOfRange
from smartcare.triage.presenting import is_english, present
from smartcare.triage.selectors import questions_by_key
from smartcare.triage.types import TriageRequest

SESSION_KEY = "triage_records"  # the records made in this browser session (to remember a choice)
ANSWERS = {"yes": True, "no": False, "unsure": None}

# Kiosk shortcuts: one tap adds the words for a common complaint to the text.
KIOSK_AREAS = [
    ("head", "emoji-dizzy", gettext_lazy("Head"), gettext_lazy("headache and dizziness")),
    ("chest", "heart-pulse", gettext_lazy("Chest"), gettext_lazy("chest tightness and palpitations")),
    ("belly", "circle", gettext_lazy("Belly"), gettext_lazy("stomach ache")),
    ("cough", "thermometer-half", gettext_lazy("Cough, fever"), gettext_lazy("cough and fever")),
    ("skin", "bandaid", gettext_lazy("Skin"), gettext_lazy("itchy skin rash")),
    ("bones", "person-walking", gettext_lazy("Back, joints"), gettext_lazy("back pain and joint pain")),
    ("child", "balloon-heart", gettext_lazy("Child is sick"), gettext_lazy("my child has a fever")),
    ("woman", "gender-female", gettext_lazy("Woman, pregnancy"), gettext_lazy("irregular periods")),
    ("injury", "bandaid-fill", gettext_lazy("Injury"), gettext_lazy("injured in a fall")),
    ("senses", "eye", gettext_lazy("Eyes, ears, teeth"), gettext_lazy("blurred vision")),
    ("urine", "droplet", gettext_lazy("Urine"), gettext_lazy("pain when passing urine")),
    ("mood", "emoji-frown", gettext_lazy("Mood, sleep"), gettext_lazy("low mood and poor sleep")),
]


@dataclass
class Turn:
    """One exchange: the complaint (or a reply), then the assistant's answer."""

    text: str  # the whole complaint: what was said before in this conversation and the new message
    message: str = ""  # what the person typed or tapped with this request
    age: str = ""
    age_months: str = ""
    sex: str = ""
    pregnant: str = ""
    answers: list[tuple[str, str]] = field(default_factory=list)  # (question id, yes/no/unsure)
    reply: tuple[str, str] | None = None  # the answer given with this request

    @property
    def all_answers(self) -> list[tuple[str, str]]:
        return [*self.answers, *([self.reply] if self.reply else [])]

    def request_obj(self) -> tuple[TriageRequest, list[str]]:
        answers = {key: ANSWERS[value] for key, value in self.all_answers if ANSWERS[value] is not None}
        skipped = [key for key, value in self.all_answers if value == "unsure"]
        request_obj = TriageRequest(
            text=self.text,
            age=_number(self.age, "age"),
            age_months=_number(self.age_months, "age_months"),
            sex=self.sex,
            pregnant={"yes": True, "no": False}.get(self.pregnant),
            answers={k: bool(v) for k, v in answers.items()},
        )
        return request_obj, skipped


def _number(value: str, name: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise AgeOutOfRange(field=name) from None


def _join(first: str, second: str, language: str) -> str:
    first, second = first.strip(), second.strip()
    if not first or not second:
        return first or second
    return first + (", " if is_english(language) else "，") + second


def _turn_from_post(request: HttpRequest, language: str) -> Turn:
    data = request.POST
    message = data.get("text", "")
    area = data.get("area", "")
    phrases = {key: str(words) for key, _icon, _label, words in KIOSK_AREAS}
    if area in phrases:  # a kiosk shortcut pressed without JavaScript
        message = _join(message, phrases[area], language)
    # A new message in the same conversation adds to what was said before.
    text = _join(data.get("earlier", ""), message, language)
    answers = [
        (name.removeprefix("answer_"), value)
        for name, value in data.items()
        if name.startswith("answer_") and value in ANSWERS
    ]
    reply = None
    key, _sep, value = data.get("reply", "").rpartition(":")
    if key and value in ANSWERS:
        reply = (key, value)
        answers = [(k, v) for k, v in answers if k != key]
    return Turn(
        text=text,
        message=message.strip() or text,
        age=data.get("age", ""),
        age_months=data.get("age_months", ""),
        sex=data.get("sex", ""),
        pregnant=data.get("pregnant", ""),
        answers=answers,
        reply=reply,
    )


def _prefill(request: HttpRequest) -> dict[str, str]:
    """A signed-in patient's own age and sex (read through the audited access helper)."""
    user: Any = request.user
    if getattr(user, "role", "") != "patient":
        return {}
    patient = patient_for_user(user)
    if patient is None:
        return {}
    patient = access_patient(user, patient, AccessAction.VIEW, reason="triage")
    return {"age": str(patient.age), "sex": patient.sex}


def _remember(request: HttpRequest, record_id: int) -> None:
    ids = [i for i in request.session.get(SESSION_KEY, []) if isinstance(i, int)][-19:]
    request.session[SESSION_KEY] = [*ids, record_id]


def _history(turn: Turn, language: str) -> list[dict[str, Any]]:
    """The bubbles before the answer: the complaint, then each question asked and its reply."""
    english = is_english(language)
    asked = questions_by_key(k for k, _v in turn.all_answers)
    labels = {"yes": _("Yes"), "no": _("No"), "unsure": _("Not sure")}
    bubbles: list[dict[str, Any]] = [{"who": "user", "text": turn.message, "testid": "user-message"}]
    for key, value in turn.all_answers:
        question = asked.get(key)
        if question is not None:
            text = question.question_en if english else question.question_zh
            bubbles.append({"who": "assistant", "text": text, "testid": "asked-question"})
        bubbles.append({"who": "user", "text": labels[value], "testid": "user-reply"})
    return bubbles


def _converse(request: HttpRequest, *, kiosk: bool) -> HttpResponse:
    user: Any = request.user
    language = get_language() or "zh-hans"
    template = "triage/kiosk.html" if kiosk else "triage/start.html"
    context: dict[str, Any] = {"kiosk": kiosk, "areas": KIOSK_AREAS if kiosk else []}
    if request.method != "POST":
        return render(request, template, {**context, "form": _prefill(request) if not kiosk else {}})

    turn = _turn_from_post(request, language)
    form = {
        "text": "",
        "age": turn.age,
        "age_months": turn.age_months,
        "sex": turn.sex,
        "pregnant": turn.pregnant,
    }
    bubbles = _history(turn, language)
    status = 200
    answer: dict[str, Any]
    try:
        request_obj, skipped = turn.request_obj()
        channel = TriageChannel.KIOSK if kiosk else services.channel_for(user)
        triage_record, result = services.run_triage(
            request_obj, user=user, channel=channel, language=language, skipped=skipped
        )
        _remember(request, triage_record.pk)
        answer = present(result, record_id=triage_record.pk, language=language)
        answer["carry"] = {
            "text": request_obj.text,
            "age": turn.age,
            "age_months": turn.age_months,
            "sex": turn.sex,
            "pregnant": turn.pregnant,
            "answers": turn.all_answers,
        }
        # The kiosk is shared: a triage never carries a patient from an earlier scan at the
        # kiosk; booking happens after scanning the one code in the check-in flow.
        answer["kiosk_patient"] = None
    except CodedError as exc:
        answer = {"status": "error", "error": exc}
        form["text"] = turn.text
        status = exc.status
    exchange = {"bubbles": bubbles, "answer": answer, "kiosk": kiosk}
    if request.htmx:  # type: ignore[attr-defined]
        # Append only what is new: a reply and the answer, or the complaint and the answer.
        if turn.reply is not None:
            exchange["bubbles"] = bubbles[-1:]
        # htmx leaves error responses unswapped: the error is shown as the assistant's bubble.
        response = render(request, "triage/_exchange.html", {**exchange, "oob": True})
        if answer["status"] == "error":
            response["X-Triage-Error"] = answer["error"].code  # the composer keeps the text
        return response
    return render(request, template, {**context, "exchanges": [exchange], "form": form}, status=status)


def start(request: HttpRequest) -> HttpResponse:
    """The portal's triage conversation; open to everyone."""
    return _converse(request, kiosk=False)


@login_required
def kiosk(request: HttpRequest) -> HttpResponse:
    """The kiosk's triage: large text, body-area shortcuts, where to go and how to book at the desk."""
    require_capability(request.user, "triage.kiosk_page")
    return _converse(request, kiosk=True)


@require_GET
def book(request: HttpRequest, record_id: int, code: str) -> HttpResponse:
    """Follow a suggestion to the booking page, remembering the choice on the caller's own record."""
    department = services.record_choice(
        record_id, code, user=request.user, own_ids=request.session.get(SESSION_KEY, [])
    )
    target = reverse("scheduling:department", kwargs={"code": department.code})
    patient = request.GET.get("patient", "")
    return redirect(f"{target}?patient={patient}" if patient.isdigit() else target)
