"""Curation of the knowledge graph in the admin.

Every change made here is written to the audit chain by the admin LogEntry hook
(``accounts.signals.audit_admin_change``). Releases are read-only: they record imports. A
change to a node or edge of a dataset lasts until that dataset's next release rewrites it;
lasting changes to the seed belong in ``data/seed.json``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from smartcare.knowledge.models import Edge, FollowUpQuestion, KnowledgeRelease, Node, RedFlag

CURATED = "local-curation"  # the dataset of nodes and edges added by hand


@admin.register(KnowledgeRelease)
class KnowledgeReleaseAdmin(admin.ModelAdmin):
    list_display = ("origin", "version", "format", "status", "imported_at", "imported_by")
    list_filter = ("origin", "format", "status")
    search_fields = ("origin", "version", "file_name", "checksum")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # releases come from imports (the releases page, the API, knowledge-import)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OutEdgeInline(admin.TabularInline):
    model = Edge
    fk_name = "source"
    extra = 0
    fields = ("type", "target", "frequency", "rank", "severity", "provenance", "origin")
    autocomplete_fields = ("target",)
    show_change_link = True

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.base_fields["origin"].initial = CURATED
        return formset


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("key", "name_zh", "name_en", "type", "icd10", "atc", "origin", "is_active")
    list_filter = ("type", "origin", "is_active")
    search_fields = ("key", "name_zh", "name_en", "search_text")
    readonly_fields = ("release", "created_at", "updated_at")
    autocomplete_fields = ("department",)
    inlines = (OutEdgeInline,)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"origin": CURATED, **super().get_changeform_initial_data(request)}


@admin.register(Edge)
class EdgeAdmin(admin.ModelAdmin):
    list_display = ("source", "type", "target", "frequency", "rank", "severity", "origin")
    list_filter = ("type", "origin")
    list_select_related = ("source", "target")
    search_fields = ("source__key", "source__name_zh", "target__key", "target__name_zh", "provenance")
    autocomplete_fields = ("source", "target")
    readonly_fields = ("release",)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"origin": CURATED, **super().get_changeform_initial_data(request)}


@admin.register(RedFlag)
class RedFlagAdmin(admin.ModelAdmin):
    list_display = ("key", "name_zh", "name_en", "action", "origin", "is_active")
    list_filter = ("action", "origin", "is_active")
    search_fields = ("key", "name_zh", "name_en")
    readonly_fields = ("release",)
    autocomplete_fields = ("conditions",)


@admin.register(FollowUpQuestion)
class FollowUpQuestionAdmin(admin.ModelAdmin):
    list_display = ("key", "question_zh", "symptom", "origin", "is_active")
    list_filter = ("origin", "is_active")
    search_fields = ("key", "question_zh", "question_en", "symptom__key")
    list_select_related = ("symptom",)
    autocomplete_fields = ("symptom",)
    readonly_fields = ("release",)
