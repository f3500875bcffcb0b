from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.visits.choices import EntryState, Priority


class QueueEntry(models.Model):
    """A checked-in patient in the queue of one clinic or exam session.

    Order: priority first (emergency, then priority groups), then ``order_time``: the booked
    slot's start for patients on time, the arrival time for late arrivals, and the original call
    time for patients returning after an exam (so they come back near the front).
    """

    appointment = models.OneToOneField(
        "scheduling.Appointment",
        on_delete=models.CASCADE,
        related_name="queue_entry",
        verbose_name=_("appointment"),
    )
    session = models.ForeignKey(
        "scheduling.ClinicSession",
        on_delete=models.CASCADE,
        related_name="queue_entries",
        verbose_name=_("session"),
    )
    number = models.CharField(_("queue number"), max_length=10)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    order_time = models.DateTimeField(_("order time"))
    state = models.CharField(
        _("state"), max_length=10, choices=EntryState.choices, default=EntryState.WAITING
    )
    is_late = models.BooleanField(_("arrived late"), default=False)
    returned_from_exam = models.BooleanField(_("returned from an exam"), default=False)
    arrived_at = models.DateTimeField(_("arrived at"), default=clock.now)
    called_at = models.DateTimeField(_("called at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    recalls = models.PositiveSmallIntegerField(_("recalls"), default=0)
    check_in_channel = models.CharField(_("checked in at"), max_length=20)

    class Meta:
        verbose_name = _("queue entry")
        verbose_name_plural = _("queue entries")
        ordering = ["priority", "order_time", "arrived_at"]
        constraints = [
            models.UniqueConstraint(fields=["session", "number"], name="queue_number_unique"),
            # A doctor or room calls one patient at a time.
            models.UniqueConstraint(
                fields=["session"], condition=Q(state="called"), name="one_called_per_session"
            ),
        ]
        indexes = [models.Index(fields=["session", "state", "priority", "order_time"])]

    def __str__(self) -> str:
        return f"{self.number} ({self.state})"

    @property
    def wait_minutes(self) -> float | None:
        if self.called_at is None:
            return None
        return (self.called_at - self.arrived_at).total_seconds() / 60

    @property
    def consultation_minutes(self) -> float | None:
        if self.called_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.called_at).total_seconds() / 60


class KioskPresence(models.Model):
    """A patient presented their one code at a kiosk: the kiosk may act for them briefly."""

    kiosk = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="+", verbose_name=_("kiosk")
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="+", verbose_name=_("patient")
    )
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("kiosk presence")
        verbose_name_plural = _("kiosk presences")

    def __str__(self) -> str:
        return f"{self.kiosk_id}: {self.patient_id}"
