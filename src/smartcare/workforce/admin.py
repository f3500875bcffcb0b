"""Workforce master data: shift types, staffing ratios, roster policies, staff profiles and the
calendar overrides for years the holidays package does not carry yet. Rosters are made and edited
on the workforce pages, where every change is checked against the rules."""

from django.contrib import admin

from smartcare.workforce.models import CalendarOverride, RosterPolicy, ShiftType, StaffingRatio, StaffProfile


class StaffingRatioInline(admin.TabularInline):
    model = StaffingRatio
    extra = 0


@admin.register(ShiftType)
class ShiftTypeAdmin(admin.ModelAdmin):
    list_display = (
        "department",
        "code",
        "name_zh",
        "name_en",
        "start_time",
        "end_time",
        "is_night",
        "is_active",
    )
    list_filter = ("is_night", "is_active")
    search_fields = ("code", "name_zh", "name_en", "department__name_zh")
    filter_horizontal = ("cannot_follow",)
    inlines = [StaffingRatioInline]


@admin.register(RosterPolicy)
class RosterPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "department",
        "min_rest_hours",
        "max_consecutive_days",
        "weight_request",
        "weight_load_band",
    )


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("practitioner", "contract_hours_per_week", "max_hours_per_week", "works_nights")
    list_filter = ("works_nights",)
    filter_horizontal = ("preferred_shift_types",)


@admin.register(CalendarOverride)
class CalendarOverrideAdmin(admin.ModelAdmin):
    list_display = ("date", "kind", "name")
    list_filter = ("kind",)
