"""Session policy: idle timeout for everyone, and two-factor enforcement for staff."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

# Pages a signed-in user reaches before completing two-factor sign-in.
_OTP_EXEMPT_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/two-factor/",
    "/static/",
    "/i18n/",
    "/healthz",
)


class SessionPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            last = request.session.get("last_activity")
            idle_limit = settings.SMARTCARE_SESSION_IDLE_MINUTES * 60
            if last is not None and now - int(last) > idle_limit:
                logout(request)
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                return redirect(f"{reverse('accounts:login')}?expired=1")
            request.session["last_activity"] = now
            if self._needs_second_factor(request) and not request.path.startswith(_OTP_EXEMPT_PREFIXES):
                if request.path.startswith("/api/"):
                    logout(request)
                    return self.get_response(request)
                return redirect("accounts:two_factor")
        return self.get_response(request)

    @staticmethod
    def _needs_second_factor(request: HttpRequest) -> bool:
        user = request.user
        if not getattr(user, "is_staff_member", False):
            return False
        verified = getattr(user, "is_verified", lambda: False)()
        if verified:
            return False
        from django_otp import user_has_device

        if user_has_device(user, confirmed=True):
            return True
        return settings.SMARTCARE_STAFF_2FA == "required"
