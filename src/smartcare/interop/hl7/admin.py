"""The IT administrator registers connected systems (master data) in the Django admin. The message
log holds patient data and is shown on its own page (/interop/hl7/), not here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from smartcare.accounts.choices import Role
from smartcare.interop.models import ConnectedSystem


class ConnectedSystemForm(forms.ModelForm):
    class Meta:
        model = ConnectedSystem
        fields = (
            "name",
            "kind",
            "user",
            "sending_application",
            "sending_facility",
            "assigning_authority",
            "allowed_networks",
            "language",
            "is_active",
        )

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        if user is not None and user.role != Role.CHANNEL:
            raise forms.ValidationError(_("Choose an external-channel machine identity."))
        return user

    def clean_allowed_networks(self) -> str:
        text = self.cleaned_data.get("allowed_networks", "")
        probe = ConnectedSystem(allowed_networks=text)
        if len(probe.networks()) != len([p for p in text.split(",") if p.strip()]):
            raise forms.ValidationError(
                _("Enter addresses or networks such as 10.1.2.0/24, separated by commas.")
            )
        return text


@admin.register(ConnectedSystem)
class ConnectedSystemAdmin(admin.ModelAdmin):
    form = ConnectedSystemForm
    list_display = ("name", "kind", "sending_application", "sending_facility", "user", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "sending_application", "sending_facility")
