"""Rules in the admin: editing a rule saves a new version (the old one is kept, retired)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _

from smartcare.cdss.errors import InvalidExpression, InvalidRule
from smartcare.cdss.models import Rule, RuleFiring
from smartcare.cdss.services import EDITABLE, new_rule_version, validate_rule_fields


class RuleForm(forms.ModelForm):
    source_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Rule
        fields = (
            "key",
            "kind",
            "enabled",
            "title_zh",
            "title_en",
            "detail_zh",
            "detail_en",
            "indicator",
            "source_label",
            "source_url",
            "evidence_level",
            "departments",
            "hooks",
            "parameters",
            "condition",
            "change_note",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is None and Rule.objects.filter(key=cleaned.get("key", "")).exists():
            message = _("A rule with this key exists; edit it to create a new version.")
            raise ValidationError({"key": f"CDSS-006: {message}"})
        try:
            validate_rule_fields({k: v for k, v in cleaned.items() if k in EDITABLE})
        except (InvalidExpression, InvalidRule) as exc:
            field = "condition" if isinstance(exc, InvalidExpression) else None
            raise ValidationError(
                {field: f"{exc.code}: {exc.detail}"} if field else f"{exc.code}: {exc.detail}"
            ) from exc
        return cleaned


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("key", "version", "kind", "indicator", "is_active", "enabled", "condition_errors")
    list_filter = ("kind", "indicator", "is_active", "enabled")
    search_fields = ("key", "title_zh", "title_en")
    readonly_fields = (
        "key",
        "version",
        "is_active",
        "kind",
        "origin",
        "created_at",
        "created_by",
        # Run-time failures of the condition, with cel-python's message for the IT administrator.
        "condition_errors",
        "last_condition_error",
        "last_condition_error_at",
    )

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user if request.user.is_authenticated else None
            super().save_model(request, obj, form, change)
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE}
        if changes:
            new = new_rule_version(
                request.user, obj.key, changes, note=form.cleaned_data.get("change_note", "")
            )
            obj.pk = new.pk

    def get_readonly_fields(self, request: HttpRequest, obj: Rule | None = None) -> Any:
        return (
            self.readonly_fields
            if obj is not None
            else ("version", "is_active", "origin", "created_at", "created_by")
        )


@admin.register(RuleFiring)
class RuleFiringAdmin(admin.ModelAdmin):
    list_display = ("fired_at", "rule", "hook", "indicator", "outcome", "override_reason", "department_code")
    list_filter = ("hook", "indicator", "outcome")
    fields = (
        "fired_at",
        "rule",
        "hook",
        "indicator",
        "summary",
        "outcome",
        "override_reason",
        "comment",
        "department_code",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
