"""ASGI entry point: Django for HTTP, the tracker's consumer for WebSocket, on one port."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instance.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from adminpanel.swarm_history import start_sampling  # noqa: E402
from tracker.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # No origin check: PeerTube embeds play on other sites and still use this tracker.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# The server process samples swarm sizes for the admin panel's charts (counts only, in memory).
start_sampling()
