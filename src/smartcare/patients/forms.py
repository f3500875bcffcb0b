from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from smartcare.patients.choices import InsuranceType


class PatientForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    national_id = forms.CharField(label=_("Resident ID"), max_length=18, min_length=18)
    phone = forms.CharField(label=_("Mobile phone"), max_length=20, required=False)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    emergency_contact_name = forms.CharField(label=_("Emergency contact"), max_length=100, required=False)
    emergency_contact_phone = forms.CharField(
        label=_("Emergency contact phone"), max_length=20, required=False
    )
    insurance_type = forms.ChoiceField(
        label=_("Insurance type"), choices=InsuranceType.choices, initial=InsuranceType.SELF_PAY
    )
    insurance_number = forms.CharField(label=_("Insurance number"), max_length=64, required=False)


class BreakGlassForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for emergency access"),
        min_length=15,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Your access is recorded and reviewed by your department head and the auditors."),
    )


class ScanForm(forms.Form):
    code = forms.CharField(
        label=_("One code or medical record number"),
        max_length=40,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
