"""Admin for accounts. Patient data is deliberately not in the admin: it is reached only through
the audited access helpers."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from smartcare.accounts.models import ApiToken, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "display_name", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("username", "display_name")
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("smartcare"), {"fields": ("role", "display_name", "preferred_language", "elderly_mode")}),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("user", "prefix", "token_hash", "last_used_at")
    list_filter = ("revoked_at",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # created with `smartcare api-token create`, so the secret is shown once
