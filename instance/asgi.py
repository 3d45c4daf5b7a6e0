"""ASGI entry point: the tracker's HTTP routes, then Django for HTTP; the tracker's consumer for
WebSocket; on one port."""

import gc
import os

from django.core.asgi import get_asgi_application

# The server holds ~110 GC-tracked objects per open socket, and every relayed offer leaves a few
# that live for the offer's minute. Measured at 10,000 sockets, 1,000 announces/s
# (bench/tracker_bench.py --gc-probe): with the default thresholds full collections paused the
# loop 0.3-1.2 s; with (700, 10, 1000) the middle generation held ~30,000 survivors and each of
# its collections paused 6 ms on average, up to 185 ms: p99 33-59 ms. Collecting the young
# generations 7 and 70 times as often keeps each pause short (p99 3.9-4.4 ms, CPU per announce
# unchanged; 200/2/5000 gave 3.8-11 ms); a full collection is considered after 2 million net
# allocations (7 million before) and still runs only once the old heap grew by a quarter.
gc.set_threshold(100, 1, 20000)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instance.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from tracker.http_app import TrackerHttp  # noqa: E402
from tracker.lifespan import lifespan  # noqa: E402
from tracker.routing import TrackerSocketRoute  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The tracker's two HTTP routes are answered before Django's handler (its middleware
        # chain cost 20 times the tracker's own work per announce).
        "http": TrackerHttp(django_asgi_app),
        # No origin check: PeerTube embeds play on other sites and still use this tracker.
        "websocket": TrackerSocketRoute(),
        # The tracker's sweeper and policy poller start and stop with the server.
        "lifespan": lifespan,
    }
)
