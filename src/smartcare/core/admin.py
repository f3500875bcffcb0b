"""The admin site is for IT administrators' master data; access follows the role capability."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from smartcare.core.permissions import has_capability


def _admin_permission(request: HttpRequest) -> bool:
    user: Any = request.user
    return user.is_active and (user.is_superuser or has_capability(user, "admin.master_data"))


admin.site.has_permission = _admin_permission  # type: ignore[method-assign]
admin.site.site_header = _("smartcare administration")
admin.site.site_title = _("smartcare")
