"""The HTTP tracker: /tracker/announce and /tracker/scrape (bencoded, BEP 3/48), for any server.

Two adapters call it after the policy is loaded: tracker/http_app.py, the bare ASGI route of the
served instance, and tracker/views.py (Django's test client, WSGI). Django's ASGI handler cost
about 2 ms per announce here: each sync middleware hops to a thread and back. This module only
names the request's source (its address and source key, or None for an exempt one); parsing and
every check are in the core's front door.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.service import service
from tracker.sources import is_node_token, source_of

Reply = tuple[int, bytes]  # HTTP status, bencoded body


@dataclass(frozen=True, slots=True)
class TrackerRequest:
    """What the tracker reads of an HTTP request."""

    query: bytes  # the raw query string: info_hash and peer_id are binary, not UTF-8
    peer: str | None  # the direct peer's address
    forwarded_for: str | None  # X-Forwarded-For, all headers joined (RFC 9110 section 5.3)
    node_token: str | None  # tracker.sources.NODE_HEADER


def _source(request: TrackerRequest) -> tuple[str, str | None]:
    """The request's address and its source key (None: exempt, as the instance's own seeders)."""
    address, key = source_of(request.peer, request.forwarded_for)
    if is_node_token(request.node_token):
        key = None
    return address or request.peer or "", key


def announce(request: TrackerRequest) -> Reply:
    address, key = _source(request)
    return service.announce_http(request.query, address, key)


def scrape(request: TrackerRequest) -> Reply:
    _, key = _source(request)
    return service.scrape_http(request.query, key)
