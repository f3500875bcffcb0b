from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    READ = "read", _("Read")
    CREATE = "create", _("Create")
    UPDATE = "update", _("Update")
    DELETE = "delete", _("Delete")
    EXPORT = "export", _("Export")
    SEARCH = "search", _("Search")
    DENIED = "denied", _("Access denied")
    BREAK_GLASS = "break_glass", _("Break the glass")
    LOGIN = "login", _("Sign-in")
    LOGIN_FAILED = "login_failed", _("Failed sign-in")
    LOCKOUT = "lockout", _("Account locked")
    LOGOUT = "logout", _("Sign-out")
    TOKEN = "token", _("API token change")
    SYSTEM = "system", _("System operation")
