"""ASGI entry point: HTTP through Django, websockets through Channels (routes added by apps)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartcare.settings")
django.setup(set_prefix=False)

# As django.core.asgi.get_asgi_application(), with the handler that runs each request's sync
# middleware and view in one thread hop (see smartcare.core.asgi).
from smartcare.core.asgi import SyncChainASGIHandler  # noqa: E402

django_asgi_app = SyncChainASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from smartcare.core.websockets import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
