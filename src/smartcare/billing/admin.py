"""Admin for the reference data only (catalog, schemes, policies). Bills, charges, settlements,
payments and the ledger hold patient and money data: they are never edited by hand and are not
listed here."""

from django.contrib import admin

from smartcare.billing.models import CatalogItem, InsurancePolicy, InsuranceScheme, PolicyRule, Price


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0
    fields = ("amount", "valid_from", "reason", "created_by")
    readonly_fields = ("created_by",)

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # a price version is history


@admin.register(CatalogItem)
class CatalogItemAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "kind", "insurance_category", "is_active")
    list_filter = ("kind", "insurance_category", "is_active")
    search_fields = ("code", "name_zh", "name_en", "match")
    inlines = [PriceInline]


class PolicyRuleInline(admin.TabularInline):
    model = PolicyRule
    extra = 0


@admin.register(InsurancePolicy)
class InsurancePolicyAdmin(admin.ModelAdmin):
    list_display = (
        "scheme",
        "year",
        "class_b_self_pay_share",
        "outpatient_annual_cap",
        "inpatient_annual_cap",
    )
    list_filter = ("scheme", "year")
    filter_horizontal = ("excluded_items",)
    inlines = [PolicyRuleInline]


@admin.register(InsuranceScheme)
class InsuranceSchemeAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "is_active")
