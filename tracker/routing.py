"""The tracker's one WebSocket route, /tracker/socket (any query string: Node clients use
?client=N to get a socket each).

Not Channels' URLRouter: it keeps a copy of the scope, with its url_route dicts, for the life
of every socket (about 1 KB each, bench/tracker_bench.py RSS per open socket), and answers an
unknown path with an exception and a traceback in the log."""

from .consumers import TrackerConsumer

SOCKET_PATH = "/tracker/socket"


class TrackerSocketRoute:
    def __init__(self) -> None:
        self.consumer = TrackerConsumer.as_asgi()

    async def __call__(self, scope, receive, send) -> None:
        if scope["path"] == SOCKET_PATH:
            await self.consumer(scope, receive, send)
            return
        # Closing before accepting refuses the upgrade: the server answers 403 (ASGI spec).
        if (await receive())["type"] == "websocket.connect":
            await send({"type": "websocket.close"})
