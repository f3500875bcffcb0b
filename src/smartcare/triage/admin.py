"""Triage records in the admin: read-only, and without the complaint text or who made it (health
information, reached only through the audited patient pages)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from smartcare.triage.models import TriageRecord

SHOWN = (
    "created_at",
    "channel",
    "language",
    "age",
    "sex",
    "status",
    "action",
    "red_flags",
    "suggested_departments",
    "question",
    "chosen_department",
    "model_version",
    "elapsed_ms",
)


@admin.register(TriageRecord)
class TriageRecordAdmin(admin.ModelAdmin):
    list_display = SHOWN
    list_filter = ("channel", "status", "action", "language")
    fields = SHOWN
    readonly_fields = SHOWN

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
