from django.contrib import admin

from smartcare.organization.models import (
    Bed,
    Campus,
    Department,
    Hospital,
    NationalDepartmentCode,
    Practitioner,
    Room,
    Skill,
)


@admin.register(NationalDepartmentCode)
class NationalDepartmentCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "parent")
    search_fields = ("code", "name_zh", "name_en")


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "level")


@admin.register(Campus)
class CampusAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "hospital")


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("national_code", "name_zh", "name_en", "campus", "is_clinical", "is_active")
    list_filter = ("is_clinical", "is_active", "campus")
    search_fields = ("name_zh", "name_en", "national_code__code")


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("code", "kind", "department", "campus", "floor")
    list_filter = ("kind", "campus")


@admin.register(Bed)
class BedAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status")
    list_filter = ("status",)


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en")


@admin.register(Practitioner)
class PractitionerAdmin(admin.ModelAdmin):
    list_display = ("user", "department", "title", "licence_number", "is_expert")
    list_filter = ("department", "title", "is_expert")
    search_fields = ("user__username", "user__display_name", "licence_number")
    autocomplete_fields = ("user",)
    filter_horizontal = ("skills",)
