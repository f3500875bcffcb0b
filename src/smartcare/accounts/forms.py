from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        "invalid_login": _("ACCT-010: The username or password is not correct."),
        "inactive": _("ACCT-011: This account is disabled."),
    }


class OtpForm(forms.Form):
    token = forms.RegexField(
        label=_("6-digit code"),
        regex=r"^\d{6}$",
        max_length=6,
        error_messages={"invalid": _("Enter the 6 digits shown in your authenticator app.")},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )
