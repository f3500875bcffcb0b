from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class StopSessionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, min_length=3)


class ReplaceSessionForm(forms.Form):
    practitioner = forms.IntegerField(label=_("Substitute doctor"))
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason (optional)"), max_length=300, required=False)
