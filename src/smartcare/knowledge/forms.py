from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Knowledge file"))
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[
            ("auto", _("Recognise from the file")),
            ("smartcare", _("smartcare knowledge JSON")),
            ("jsonl", _("JSON lines, one disease per line")),
        ],
        initial="auto",
    )
    origin = forms.CharField(
        label=_("Dataset"),
        max_length=80,
        required=False,
        help_text=_("A new release of the same dataset replaces what its previous release wrote."),
    )
    version = forms.CharField(label=_("Version"), max_length=40, required=False)
    force = forms.BooleanField(
        label=_("Import even if the release retires red flags or more than half of the dataset"),
        required=False,
    )
