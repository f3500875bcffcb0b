"""Admin: programmes and trained model versions only; no identified patient data is listed."""

from django.contrib import admin

from smartcare.health.models import Programme, TrainedModel


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = ("key", "name_zh", "name_en", "risk_model", "department", "is_active")
    list_filter = ("risk_model", "is_active")


@admin.register(TrainedModel)
class TrainedModelAdmin(admin.ModelAdmin):
    list_display = ("outcome", "version", "algorithm", "status", "created_at", "promoted_at")
    list_filter = ("outcome", "status")
    readonly_fields = (
        "artifact",
        "artifact_sha256",
        "metrics",
        "model_card",
        "status",
        "promoted_at",
        "promoted_by",
    )
    exclude = ("artifact",)
