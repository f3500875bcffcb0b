from __future__ import annotations

import base64
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from smartcare.accounts.errors import InvalidOtp
from smartcare.accounts.forms import LoginForm, OtpForm
from smartcare.accounts.services import break_glass_reviewable, review_break_glass
from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core.errors import InvalidInput
from smartcare.core.permissions import require_capability


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["expired"] = self.request.GET.get("expired") == "1"
        return context


class LogoutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"

    def get_success_url(self) -> str:
        from django.urls import reverse

        return reverse("accounts:profile")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        record(
            self.request.user, AuditAction.UPDATE, obj=self.request.user, detail={"event": "password changed"}
        )
        messages.success(self.request, _("Your password was changed."))
        return response


def lockout_response(
    request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    minutes = int(settings.AXES_COOLOFF_TIME * 60)
    return render(request, "accounts/locked.html", {"minutes": minutes}, status=429)


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Second step of staff sign-in: verify a TOTP code, enrolling a device first if needed."""
    user: Any = request.user
    if not getattr(user, "is_staff_member", False):
        return redirect("web:home")
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device, _created = TOTPDevice.objects.get_or_create(
            user=user, confirmed=False, defaults={"name": "authenticator"}
        )
    form = OtpForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                record(user, AuditAction.UPDATE, obj=device, detail={"event": "totp_enrolled"})
            otp_login(request, device)
            messages.success(request, _("Two-factor verification complete."))
            return redirect("web:home")
        error = InvalidOtp()
        record(user, AuditAction.LOGIN_FAILED, obj=device, detail={"event": "totp_rejected"})
    context: dict[str, Any] = {"form": form, "enrolling": enrolling, "error": error}
    if enrolling:
        context["qr_svg"] = segno.make(device.config_url, error="m").svg_inline(scale=4)
        context["secret"] = base64.b32encode(device.bin_key).decode()
    refused = error is not None or (request.method == "POST" and not form.is_valid())
    return render(request, "accounts/two_factor.html", context, status=400 if refused else 200)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if request.method == "POST":
        user.elderly_mode = request.POST.get("elderly_mode") == "on"
        language = request.POST.get("preferred_language", "")
        if language in dict(settings.LANGUAGES):
            user.preferred_language = language
        user.save(update_fields=["elderly_mode", "preferred_language"])
        messages.success(request, _("Your settings were saved."))
        return redirect("accounts:profile")
    has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    return render(request, "accounts/profile.html", {"has_device": has_device})


@login_required
def break_glass_review(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, "audit.break_glass_review")
    if request.method == "POST":
        try:
            grant_id = int(request.POST.get("grant", ""))
        except ValueError:
            raise InvalidInput(field="grant") from None
        review_break_glass(
            request.user,
            grant_id,
            justified=request.POST.get("decision") == "justified",
            comment=request.POST.get("comment", ""),
        )
        messages.success(request, _("Review saved."))
        return redirect("accounts:break_glass_review")
    grants: Any = break_glass_reviewable(request.user).order_by("status", "-created_at")
    return render(request, "accounts/break_glass_review.html", {"grants": grants[:200]})
