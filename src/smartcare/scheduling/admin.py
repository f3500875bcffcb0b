"""Scheduling master data in the admin: schedule templates, release rules, booking policies, exam
types with their preparation, visit preparations and pre-visit exam rules.

Each model's ``clean()`` checks what a hospital can get wrong (SCHED-010: end before start, slots
that do not fill the session, no doctor for a clinic...), so the admin form shows the coded
message and saves nothing. Every change made here is written to the audit chain by the admin
LogEntry hook (``accounts.signals.audit_admin_change``).

Bookings, waitlist entries, pre-visit exams and queues are patient data and are not listed here;
sessions are stopped or given to another doctor on ``/booking/manage/``. A template change applies
to the sessions generated after it (``scheduling.maintain_schedules``), not to those already
bookable.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from smartcare.scheduling.models import (
    BookingPolicy,
    ExamType,
    PreVisitRule,
    ReleaseRule,
    ScheduleTemplate,
    VisitPreparation,
)


@admin.register(ScheduleTemplate)
class ScheduleTemplateAdmin(admin.ModelAdmin):
    list_display = (
        "department",
        "practitioner",
        "exam_type",
        "weekday",
        "period",
        "start_time",
        "end_time",
        "slot_minutes",
        "capacity_per_slot",
        "fee_class",
        "is_active",
    )
    list_filter = ("is_active", "fee_class", "period", "weekday", "department")
    list_select_related = ("department", "practitioner__user", "exam_type")
    search_fields = ("department__name_zh", "department__name_en", "practitioner__user__display_name")
    autocomplete_fields = ("department", "practitioner", "exam_type")
    fieldsets = (
        (None, {"fields": ("department", "fee_class", "practitioner", "exam_type", "room", "is_active")}),
        (
            _("Weekly session"),
            {"fields": ("weekday", "period", "start_time", "end_time", "slot_minutes", "capacity_per_slot")},
        ),
    )


@admin.register(ReleaseRule)
class ReleaseRuleAdmin(admin.ModelAdmin):
    list_display = ("department", "days_ahead", "release_time", "updated_at")
    autocomplete_fields = ("department",)
    fields = ("department", "days_ahead", "release_time")


@admin.register(BookingPolicy)
class BookingPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "max_bookings_per_day",
        "cancellation_deadline_hours",
        "no_show_limit",
        "suspension_days",
        "check_in_opens_minutes",
        "late_grace_minutes",
        "waitlist_offer_minutes",
    )
    autocomplete_fields = ("department",)
    fields = (
        "department",
        "max_bookings_per_day",
        "cancellation_deadline_hours",
        "no_show_limit",
        "no_show_window_days",
        "suspension_days",
        "check_in_opens_minutes",
        "late_grace_minutes",
        "waitlist_offer_minutes",
    )


@admin.register(ExamType)
class ExamTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "department", "duration_minutes", "is_routine_pre_visit")
    list_filter = ("is_routine_pre_visit", "department")
    search_fields = ("code", "name_zh", "name_en", "loinc")
    autocomplete_fields = ("department",)
    fields = (
        "code",
        "name_zh",
        "name_en",
        "department",
        "loinc",
        "duration_minutes",
        "is_routine_pre_visit",
        "preparation_zh",
        "preparation_en",
    )


@admin.register(VisitPreparation)
class VisitPreparationAdmin(admin.ModelAdmin):
    list_display = ("department", "updated_at")
    autocomplete_fields = ("department",)
    fields = ("department", "text_zh", "text_en")


@admin.register(PreVisitRule)
class PreVisitRuleAdmin(admin.ModelAdmin):
    list_display = ("department", "exam_type", "min_age", "is_active")
    list_filter = ("is_active", "department")
    list_select_related = ("department", "exam_type")
    autocomplete_fields = ("department", "exam_type")
    fields = ("department", "exam_type", "min_age", "is_active")
