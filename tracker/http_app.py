"""The tracker's HTTP routes as a bare ASGI application in front of the instance's Django app.

GET /tracker/announce and /tracker/scrape are answered here, on the event loop, without Django's
handler: its middleware chain hopped to a thread for every sync middleware, about 2 ms per
announce against the 0.1 ms of the whole tracker work (bench/tracker_bench.py). What that chain
would add to a bencoded text/plain body read by BitTorrent clients is only headers that mean
nothing to them (X-Frame-Options, Referrer-Policy, COOP); X-Content-Type-Options is kept.
Nor is the Host header checked against ALLOWED_HOSTS: it guards pages that build links from
it, and no tracker reply does. Every other request goes to Django unchanged.
"""

from tracker import http_shell
from tracker.service import service
from tracker.sources import NODE_HEADER, scope_peer

ROUTES = {"/tracker/announce": http_shell.announce, "/tracker/scrape": http_shell.scrape}
_NODE_HEADER = NODE_HEADER.lower().encode()  # as ASGI spells header names
_TEXT = [(b"content-type", b"text/plain"), (b"x-content-type-options", b"nosniff")]
_NOT_ALLOWED = [(b"allow", b"GET"), (b"content-length", b"0")]


def tracker_request(scope) -> http_shell.TrackerRequest:
    node = None
    for name, value in scope["headers"]:
        if name == _NODE_HEADER:
            node = value.decode("latin-1")
    peer, forwarded = scope_peer(scope)
    return http_shell.TrackerRequest(
        query=scope.get("query_string", b""), peer=peer, forwarded_for=forwarded, node_token=node
    )


class TrackerHttp:
    """Serves the tracker's HTTP routes; passes everything else to `app`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        handler = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "GET":
            await send({"type": "http.response.start", "status": 405, "headers": _NOT_ALLOWED})
            await send({"type": "http.response.body", "body": b""})
            return
        if service.stale:
            await service.ensure_policy()
        status, body = handler(tracker_request(scope))
        headers = [*_TEXT, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
