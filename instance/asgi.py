"""ASGI entry point: the tracker's HTTP routes, then Django for HTTP; the tracker's consumer for
WebSocket; on one port."""

import gc
import os

from django.core.asgi import get_asgi_application

# The server holds ~110 GC-tracked objects per open socket; with the default thresholds full
# collections of that heap paused it 0.3-1.2 s at 10,000 sockets (bench/gc_probe.py), which is
# the benchmark's p99. Fewer full collections; young generations are collected as before.
gc.set_threshold(700, 10, 1000)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instance.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from adminpanel.swarm_history import start_sampling  # noqa: E402
from tracker.http_app import TrackerHttp  # noqa: E402
from tracker.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The tracker's two HTTP routes are answered before Django's handler (its middleware
        # chain cost 20 times the tracker's own work per announce).
        "http": TrackerHttp(django_asgi_app),
        # No origin check: PeerTube embeds play on other sites and still use this tracker.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# The server process samples swarm sizes for the admin panel's charts (counts only, in memory).
start_sampling()
