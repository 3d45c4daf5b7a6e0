"""uvicorn's httptools HTTP protocol with a deadline for request headers and a per-address cap
on connections that have not sent one.

uvicorn arms no timer on a new connection and disarms its keep-alive timer at the first byte of
the next request, so a connection that sends nothing, or half a request line, is held for ever:
five silent connections and one with a half-sent header were still open after 330 s, and every
one costs a socket and memory. Here the headers of each request must be complete within
HEADER_SECONDS of the connection (or of the request's first byte; checked every WATCH_SECONDS),
and an address may hold at most the tracker's per-address socket limit of such unproven
connections at once; one more is closed on arrival. A connection that completed a request is
governed by uvicorn's keep-alive timeout, and a WebSocket by the tracker's own limits (the guard
counts upgraded sockets).

The count is in memory (never stored), keyed by the address's source key (tracker.sources).
Trusted proxies are not counted: every client behind them shares their address, and the
client's own address is known only once the headers (X-Forwarded-For) are in.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A browser sends its request line and headers in the first packet after the handshake;
# a few seconds leave room for a slow mobile link.
HEADER_SECONDS = 5.0
# How often one watchdog per process looks for connections past their deadline. A timer armed
# and cancelled per request cost about 6 us of a 70 us HTTP announce (make bench); a stamp per
# request and one pass over the open connections twice a second cost next to nothing.
WATCH_SECONDS = 0.5

# Open connections without a complete request, per source key.
_unproven: dict[str, int] = {}


def _unproven_limit() -> int:
    # Imported late: uvicorn loads this class before the Django app (and its settings).
    from tracker.service import service

    return service.sockets_per_source()


def _counted_key(client: tuple[str, int] | None) -> str | None:
    from django.conf import settings

    from tracker.core.addresses import in_networks, parse_address
    from tracker.sources import source_key

    if client is None or in_networks(parse_address(client[0]), settings.TRUSTED_PROXIES):
        return None
    return source_key(client[0])


_watchdogs: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}


def _watch(loop: asyncio.AbstractEventLoop, connections: set) -> None:
    """Drop the connections whose request headers are late; runs again in WATCH_SECONDS."""
    horizon = loop.time() - HEADER_SECONDS
    for protocol in list(connections):
        waiting_since = getattr(protocol, "waiting_since", None)
        if waiting_since is not None and waiting_since < horizon:
            protocol.waiting_since = None
            protocol.transport.abort()
    _watchdogs[loop] = loop.call_later(WATCH_SECONDS, _watch, loop, connections)


class GuardedHttpProtocol(HttpToolsProtocol):
    # When the connection, or its current request, started waiting for complete headers.
    waiting_since: float | None = None
    unproven_key: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        key = _counted_key(self.client)
        if key is not None:
            count = _unproven.get(key, 0)
            if count >= _unproven_limit():
                transport.abort()
                return
            _unproven[key] = count + 1
            self.unproven_key = key
        self.waiting_since = self.loop.time()
        if self.loop not in _watchdogs:
            _watch(self.loop, self.connections)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.waiting_since is None:
            self.waiting_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.waiting_since = None
        self._release()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The parser holds this protocol's callbacks and the protocol holds the parser: a
        # reference cycle that uvicorn breaks in connection_lost, which an upgraded connection
        # never calls here (the WebSocket protocol gets it). Left alone, every WebSocket left
        # this protocol, its transport and about twenty objects more for a full collection,
        # which the raised thresholds (instance/asgi.py) make rare: RSS grew by 31% over four
        # cycles of 2,000 sockets opened and closed (tests/test_memory_cycles_live.py). Broken,
        # they are freed by reference counting: the parser is never fed again once the
        # transport has the WebSocket protocol.
        self.parser = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting_since = None
        self._release()
        super().connection_lost(exc)

    def _release(self) -> None:
        key, self.unproven_key = self.unproven_key, None
        if key is not None:
            count = _unproven.get(key, 0) - 1
            if count > 0:
                _unproven[key] = count
            else:
                _unproven.pop(key, None)
