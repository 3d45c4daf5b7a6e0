"""A measurement prototype, not part of the app: the tracker's HTTP views served without Django's
request plumbing, to weigh that change before anyone makes it in the app.

    tracker_bench.py --app bench.http_fastpath:application

GET /tracker/announce and /tracker/scrape are answered by the very view functions of
tracker/views.py (so every check they make is made: the guard, django-ratelimit's per-address
and per-video counters, the query parser, the core), called on the event loop with a minimal
request object instead of going through Django's ASGI handler, its middleware chain and its
per-request thread. Everything else goes to the instance's ASGI application unchanged.

What the middleware chain would add to these two responses is only headers that mean nothing
for a bencoded text/plain body read by BitTorrent clients (X-Frame-Options, Referrer-Policy,
Cross-Origin-Opener-Policy); X-Content-Type-Options is kept.
"""

from asgiref.sync import sync_to_async

from instance.asgi import application as instance_application
from tracker import views
from tracker.service import service

ROUTES = {"/tracker/announce": views.announce, "/tracker/scrape": views.scrape}


class RawRequest:
    """What the tracker views read of a request: method, path and META."""

    def __init__(self, scope) -> None:
        self.method = scope["method"]
        self.path = scope["path"]
        client = scope.get("client")
        self.META = {
            "REQUEST_METHOD": self.method,
            # Django decodes the query string as latin-1 into QUERY_STRING; so does this.
            "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
            "REMOTE_ADDR": client[0] if client else "",
        }
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                key = "HTTP_X_FORWARDED_FOR"
                hops = value.decode("latin-1")
                self.META[key] = f"{self.META[key]},{hops}" if key in self.META else hops


async def application(scope, receive, send):
    view = ROUTES.get(scope.get("path")) if scope["type"] == "http" else None
    if view is None:
        await instance_application(scope, receive, send)
        return
    request = RawRequest(scope)
    if service.policy.stale:
        # The view reloads the policy from the database: in a thread, as Django would.
        response = await sync_to_async(view)(request)
    else:
        response = view(request)
    body = response.content
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    headers += [
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _NotLimited:
    """tracker.http_limits with both counters answering "not exceeded"."""

    @staticmethod
    def address_exceeded(*args) -> bool:
        return False

    @staticmethod
    def video_exceeded(*args) -> bool:
        return False


async def application_without_ratelimit(scope, receive, send):
    """The same, with django-ratelimit's two counters skipped: a measurement of their share of
    the cost (to be replaced by in-memory counters in the guard), not a way to run the tracker."""
    views.http_limits = _NotLimited
    await application(scope, receive, send)


FLOOR_REPLY = b"d8:completei1e10:incompletei9e8:intervali120e12:min intervali60e5:peers0:e"


async def application_floor(scope, receive, send):
    """uvicorn's own cost: every announce answered with a constant reply, no tracker at all.
    The floor under any tracker served by this server, for comparison only."""
    if scope["type"] != "http" or scope.get("path") not in ROUTES:
        await instance_application(scope, receive, send)
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(FLOOR_REPLY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": FLOOR_REPLY})
