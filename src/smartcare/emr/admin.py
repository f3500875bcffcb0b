"""Master data only: ICD-10 codes and note templates. Patient records are never edited in the
admin (they are reached only through access_patient, with audit)."""

from django.contrib import admin

from smartcare.emr.models import Icd10Code, NoteTemplate


@admin.register(Icd10Code)
class Icd10CodeAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "chapter", "is_active")
    list_filter = ("chapter", "is_active")
    search_fields = ("code", "name_zh", "name_en")


@admin.register(NoteTemplate)
class NoteTemplateAdmin(admin.ModelAdmin):
    list_display = ("name_zh", "name_en", "department", "kind", "is_active")
    list_filter = ("kind", "is_active")
