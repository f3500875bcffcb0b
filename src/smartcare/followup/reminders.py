"""The follow-up round, run by the periodic job ``followup.run_round`` (every 15 minutes on every
worker; running it twice, or on two workers at once, repeats nothing):

1. Reminders. A due task whose reminder day has come is reminded once: the patient for what they
   do themselves (questionnaire, return visit, lab test, education item, which is delivered to
   them that day), and each responsible clinician once a day with the number of their phone calls
   due.
2. Missed tasks. A due task still open ``grace_days`` after its due day is marked missed and
   escalated (level 1): the responsible clinician and the plan's doctor are told, and the patient
   is asked to get in touch.
3. Escalation. A task still missed ``SMARTCARE_FOLLOWUP_ESCALATION_DAYS`` days after level 1 goes
   to level 2: the department heads of the plan's department.
4. Surveys past their open period are expired.

Each step changes a row only with a conditional update (or a unique row per task and level), so
concurrent rounds cannot remind or escalate twice.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.followup import services
from smartcare.followup.choices import InvitationStatus, PlanStatus, TaskKind, TaskStatus
from smartcare.followup.models import CareTask, SurveyInvitation, TaskEscalation
from smartcare.notifications.services import notify

ROUND_ACTOR = "followup-round"
BATCH = 500


def escalation_days() -> int:
    return int(getattr(settings, "SMARTCARE_FOLLOWUP_ESCALATION_DAYS", 2))


def _patient_reminder(task: CareTask) -> tuple[str, str, str]:
    when = task.due_on.strftime("%Y-%m-%d")
    if task.kind == TaskKind.QUESTIONNAIRE:
        return (
            _("Please fill in: %(title)s") % {"title": task.title},
            _("Your care team asks you to answer it by %(date)s.") % {"date": when},
            f"/followup/me/tasks/{task.pk}/",
        )
    if task.kind == TaskKind.EDUCATION:
        return (
            _("To read: %(title)s") % {"title": task.title},
            _("Part of your follow-up plan, by %(date)s.") % {"date": when},
            f"/followup/me/tasks/{task.pk}/",
        )
    if task.kind == TaskKind.LAB_TEST:
        return (
            _("Lab test due: %(title)s") % {"title": task.title},
            _("Please have it done by %(date)s. %(instructions)s")
            % {"date": when, "instructions": task.instructions},
            f"/followup/me/tasks/{task.pk}/",
        )
    return (
        _("Return visit due: %(title)s") % {"title": task.title},
        _("Please book your visit for %(date)s or the days around it.") % {"date": when},
        "/booking/",
    )


def send_reminders(today: dt.date) -> int:
    """Remind each due task once, on or after its reminder day."""
    sent = 0
    calls: Counter[int] = Counter()
    pending = (
        CareTask.objects.filter(
            status=TaskStatus.DUE,
            remind_on__lte=today,
            reminded_at__isnull=True,
            plan__status=PlanStatus.ACTIVE,
        )
        .select_related("patient__user", "plan", "education_item")
        .order_by("pk")
    )
    for task in pending[: BATCH * 4]:
        with transaction.atomic():
            # Claim the reminder first: of two concurrent rounds only one sends it.
            if not CareTask.objects.filter(pk=task.pk, reminded_at__isnull=True).update(
                reminded_at=clock.now()
            ):
                continue
            if task.kind == TaskKind.PHONE_CALL:
                if task.responsible_id:
                    calls[task.responsible_id] += 1
                continue
            delivery = services.deliver_task_education(task)  # education: the item arrives today
            user = task.patient.user
            if user is None or not user.is_active:
                continue
            with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
                subject, body, link = _patient_reminder(task)
                if delivery is not None:
                    link = f"/followup/me/education/{delivery.pk}/"
                notify(user, category="followup_reminder", subject=subject, body=body, link=link)
            sent += 1
    for user in User.objects.filter(pk__in=list(calls), is_active=True):
        with transaction.atomic(), translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            notify(
                user,
                category="followup_calls",
                subject=_("Follow-up calls due: %(n)d") % {"n": calls[user.pk]},
                body=_("Patients to call in your follow-up worklist."),
                link="/followup/?scope=mine",
            )
        sent += 1
    return sent


def _escalate(task: CareTask, level: int, recipients: list[Any]) -> bool:
    """One escalation row per task and level (unique): a second round finds it and stops."""
    try:
        with transaction.atomic():
            TaskEscalation.objects.create(task=task, level=level, notified=[u.pk for u in recipients if u])
            CareTask.objects.filter(pk=task.pk, escalation_level__lt=level).update(escalation_level=level)
            for user in recipients:
                if user is None or not user.is_active:
                    continue
                with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
                    notify(
                        user,
                        category="followup_escalation",
                        subject=_("Missed follow-up: %(title)s") % {"title": task.title},
                        body=_("%(patient)s, %(plan)s: due %(date)s, not done. Please follow it up.")
                        % {
                            "patient": task.patient.name,
                            "plan": task.plan.template.name,
                            "date": task.due_on,
                        },
                        link=f"/followup/tasks/{task.pk}/",
                    )
            record(
                None,
                AuditAction.UPDATE,
                patient=task.patient_id,
                obj=task,
                actor_username=ROUND_ACTOR,
                detail={
                    "event": "task_escalated",
                    "level": level,
                    "notified": [u.pk for u in recipients if u],
                },
            )
    except IntegrityError:
        return False
    return True


def mark_missed(today: dt.date) -> int:
    """Due tasks past their grace period become missed and go to level 1."""
    missed = 0
    candidates = (
        CareTask.objects.filter(status=TaskStatus.DUE, due_on__lt=today, plan__status=PlanStatus.ACTIVE)
        .select_related("patient__user", "plan__template", "plan__responsible_doctor", "responsible")
        .order_by("pk")
    )
    for task in candidates[: BATCH * 4]:
        if task.due_on + dt.timedelta(days=task.grace_days) >= today:
            continue
        with transaction.atomic():
            if not CareTask.objects.filter(pk=task.pk, status=TaskStatus.DUE).update(
                status=TaskStatus.MISSED, missed_at=clock.now(), updated_at=clock.now()
            ):
                continue
            missed += 1
            _escalate(task, 1, [task.responsible, task.plan.responsible_doctor])
            user = task.patient.user
            if user is not None and user.is_active and task.kind != TaskKind.PHONE_CALL:
                with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
                    notify(
                        user,
                        category="followup_missed",
                        subject=_("We missed you: %(title)s") % {"title": task.title},
                        body=_(
                            "It was due on %(date)s. Your care team will contact you; you can still do it."
                        )
                        % {"date": task.due_on},
                        link="/followup/me/",
                    )
    return missed


def escalate_missed(now: dt.datetime) -> int:
    """Missed tasks still open a while after level 1 go to the department heads (level 2)."""
    cutoff = now - dt.timedelta(days=escalation_days())
    escalated = 0
    rows = (
        CareTask.objects.filter(
            status=TaskStatus.MISSED,
            escalation_level=1,
            escalations__level=1,
            escalations__created_at__lte=cutoff,
            plan__status=PlanStatus.ACTIVE,
        )
        .select_related("patient", "plan__template")
        .distinct()
        .order_by("pk")
    )
    heads_by_department: dict[int, list[User]] = {}
    for task in rows[:BATCH]:
        heads = heads_by_department.setdefault(
            task.department_id,
            list(
                User.objects.filter(
                    role=Role.DEPARTMENT_HEAD, is_active=True, practitioner__department_id=task.department_id
                )
            ),
        )
        escalated += int(_escalate(task, 2, list(heads)))
    return escalated


def expire_surveys(now: dt.datetime) -> int:
    return SurveyInvitation.objects.filter(status=InvitationStatus.SENT, expires_at__lte=now).update(
        status=InvitationStatus.EXPIRED
    )


def run_round() -> dict[str, int]:
    """One follow-up round at the clock's current time (frozen in tests)."""
    now = clock.now()
    today = clock.today()
    result = {
        "reminded": send_reminders(today),
        "missed": mark_missed(today),
        "escalated": escalate_missed(now),
        "surveys_expired": expire_surveys(now),
    }
    if any(result.values()):
        record(
            None, AuditAction.SYSTEM, actor_username=ROUND_ACTOR, detail={"event": "followup_round", **result}
        )
    return result
