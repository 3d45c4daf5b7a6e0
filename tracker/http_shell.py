"""The HTTP tracker: /tracker/announce and /tracker/scrape (bencoded, BEP 3/48), for any server.

Two adapters call it after `await service.ensure_policy()`: tracker/http_app.py, the bare ASGI
route of the served instance, and tracker/views.py (Django's test client, WSGI). Django's ASGI
handler cost about 2 ms per announce here: each sync middleware hops to a thread and back
(bench/tracker_bench.py, py-spy). Every check is in the core (tracker/core/gate.py): the
guard's block and request budgets, the parser, the video limits, the tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.core import ProtocolError, bencode, parse_http_announce, parse_http_scrape
from tracker.core.http_query import first_values, parse_query
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


def _refused(verdict) -> Reply:
    """A request the guard refused: 403 while the source is blocked, else 429 (too many)."""
    status = 403 if verdict.blocked_until is not None else 429
    return status, bencode({"failure reason": verdict.refusal})


def _failure(error: ProtocolError) -> Reply:
    # Trackers answer failures with 200 and a "failure reason" (BEP 3): clients read the body.
    return 200, bencode({"failure reason": error.reason})


def _answer(reply: dict, verdict) -> Reply:
    if verdict is not None and verdict.refusal is not None:
        return _refused(verdict)
    return 200, bencode(reply)


def _admit(request: TrackerRequest):
    """The request's address, its guard source (None: exempt) and a refusal, if any."""
    address, key = source_of(request.peer, request.forwarded_for)
    if is_node_token(request.node_token):
        key = None
    source, verdict = service.admit_http(key)
    refusal = _refused(verdict) if verdict is not None and verdict.refusal else None
    return address, source, refusal


def announce(request: TrackerRequest) -> Reply:
    address, source, refusal = _admit(request)
    if refusal is not None:
        return refusal
    try:
        params = first_values(request.query)
        message = parse_http_announce(params, address or request.peer or "", service.policy.config)
    except ProtocolError as error:
        return _failure(error)
    return _answer(*service.http_announce(source, message))


def scrape(request: TrackerRequest) -> Reply:
    _, source, refusal = _admit(request)
    if refusal is not None:
        return refusal
    try:
        message = parse_http_scrape(parse_query(request.query), service.policy.config)
    except ProtocolError as error:
        return _failure(error)
    return _answer(*service.http_scrape(source, message))
