"""Master data and operations only: hospital-wide thresholds, duty rosters, rejected messages.
Readings, alerts and devices of patients are reached through the pages (access_patient, audit)."""

from django.contrib import admin

from smartcare.monitoring.models import DutyAssignment, IngestRejection, Threshold


@admin.register(Threshold)
class ThresholdAdmin(admin.ModelAdmin):
    list_display = (
        "kind",
        "metric",
        "critical_low",
        "warning_low",
        "warning_high",
        "critical_high",
        "updated_at",
    )
    list_filter = ("kind",)
    fields = ("kind", "metric", "critical_low", "warning_low", "warning_high", "critical_high", "reason")

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        # Hospital-wide rows only: a patient's thresholds are set by their doctor on the patient page.
        return super().get_queryset(request).filter(patient__isnull=True)


@admin.register(DutyAssignment)
class DutyAssignmentAdmin(admin.ModelAdmin):
    list_display = ("department", "doctor", "starts_at", "ends_at")
    list_filter = ("department",)
    raw_id_fields = ("doctor", "created_by")


@admin.register(IngestRejection)
class IngestRejectionAdmin(admin.ModelAdmin):
    list_display = ("received_at", "code", "reason", "channel", "topic", "message_id")
    list_filter = ("code", "channel")
    readonly_fields = ("device", "channel", "topic", "message_id", "code", "reason", "received_at")
