"""Master data of follow-up: care plan templates with their tasks, questionnaires with their
questions, and the education library. Patients' plans, answers and deliveries are never edited in
the admin (they are reached only through access_patient, with audit); the same content is also
edited in the pages under /followup/templates/, /followup/questionnaires/ and /followup/education/."""

from django.contrib import admin

from smartcare.followup.models import CarePlanTemplate, EducationItem, Questionnaire, TemplateTask


class TemplateTaskInline(admin.TabularInline):
    model = TemplateTask
    extra = 1
    fields = (
        "offset_days",
        "kind",
        "title_zh",
        "title_en",
        "responsible_role",
        "remind_days_before",
        "grace_days",
        "questionnaire",
        "education_item",
        "lab_code",
    )


@admin.register(CarePlanTemplate)
class CarePlanTemplateAdmin(admin.ModelAdmin):
    list_display = ("key", "name_zh", "name_en", "category", "trigger", "is_active", "origin")
    list_filter = ("category", "trigger", "is_active", "origin")
    search_fields = ("key", "name_zh", "name_en")
    inlines = [TemplateTaskInline]


@admin.register(Questionnaire)
class QuestionnaireAdmin(admin.ModelAdmin):
    list_display = ("key", "name_zh", "name_en", "kind", "occasion", "is_active", "origin")
    list_filter = ("kind", "is_active", "origin")
    search_fields = ("key", "name_zh", "name_en")
    # Questions are edited in the builder (/followup/questionnaires/<id>/), which checks that
    # patients can answer them (options, scales, conditions on earlier questions).


@admin.register(EducationItem)
class EducationItemAdmin(admin.ModelAdmin):
    list_display = ("key", "title_zh", "title_en", "kind", "is_published", "origin")
    list_filter = ("kind", "is_published", "origin")
    search_fields = ("key", "title_zh", "title_en")
