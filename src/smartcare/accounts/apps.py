from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "smartcare.accounts"
    label = "accounts"
    verbose_name = _("Accounts and access")

    def ready(self) -> None:
        from smartcare.accounts import roles, signals  # noqa: F401  (capabilities, login audit receivers)
