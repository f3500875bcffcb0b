from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VisitsConfig(AppConfig):
    name = "smartcare.visits"
    label = "visits"
    verbose_name = _("Check-in and queues")

    def ready(self) -> None:
        from smartcare.core.websockets import websocket_urlpatterns
        from smartcare.patients.access import register_visibility_rule
        from smartcare.visits import roles  # noqa: F401
        from smartcare.visits.access import kiosk_visibility
        from smartcare.visits.routing import urlpatterns

        register_visibility_rule(kiosk_visibility)
        for pattern in urlpatterns:
            if pattern not in websocket_urlpatterns:
                websocket_urlpatterns.append(pattern)
