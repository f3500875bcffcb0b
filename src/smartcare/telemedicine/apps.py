from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelemedicineConfig(AppConfig):
    name = "smartcare.telemedicine"
    label = "telemedicine"
    verbose_name = _("Remote consultation")

    def ready(self) -> None:
        from smartcare.core.periodic import register
        from smartcare.core.websockets import websocket_urlpatterns
        from smartcare.telemedicine import roles  # noqa: F401
        from smartcare.telemedicine.routing import urlpatterns
        from smartcare.telemedicine.tasks import escalate_deadlines

        for pattern in urlpatterns:
            if pattern not in websocket_urlpatterns:
                websocket_urlpatterns.append(pattern)
        register("telemedicine.escalate_deadlines", escalate_deadlines.enqueue, every_seconds=5 * 60)
