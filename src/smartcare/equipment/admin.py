from django.contrib import admin

from smartcare.equipment.models import (
    Asset,
    EquipmentAlert,
    MaintenanceContract,
    PreventivePlan,
    WorkOrder,
)


class ContractInline(admin.TabularInline):
    model = MaintenanceContract
    extra = 0


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "maker",
        "model_name",
        "serial_number",
        "department",
        "status",
        "last_seen_at",
    )
    list_filter = ("kind", "status", "department")
    search_fields = ("name", "serial_number", "uid")
    readonly_fields = ("uid", "last_seen_at", "heartbeat_lost_at")
    filter_horizontal = ("exam_types",)
    inlines = [ContractInline]


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    list_display = ("pk", "asset", "kind", "status", "due_on", "assignee", "is_failure")
    list_filter = ("status", "kind", "is_failure")


@admin.register(PreventivePlan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("title", "asset", "interval_days", "next_due", "is_active")


@admin.register(EquipmentAlert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("asset", "rule", "metric", "severity", "status", "raised_at", "repeat_count")
    list_filter = ("rule", "severity", "status")
