"""The HTTP shell of the tracker: /tracker/announce and /tracker/scrape (bencoded, BEP 3/48)."""

from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tracker import http_limits
from tracker.core import ProtocolError, bencode, parse_http_announce, parse_http_scrape
from tracker.service import service
from tracker.sources import from_node, guard_key, hashed, request_address

# Longest query string read: a scrape of the most infohashes allowed, percent-encoded.
MAX_QUERY_BYTES = 8192


def raw_query(request) -> dict[bytes, list[bytes]]:
    """The query string as raw bytes: info_hash and peer_id are binary, not UTF-8."""
    query = request.META.get("QUERY_STRING", "")
    if len(query) > MAX_QUERY_BYTES:
        raise ProtocolError("request too large")
    params: dict[bytes, list[bytes]] = {}
    for pair in query.encode("latin-1", "replace").split(b"&"):
        if not pair:
            continue
        key, _, value = pair.partition(b"=")
        params.setdefault(unquote_to_bytes(key), []).append(unquote_to_bytes(value))
    return params


def bencoded(reply: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(bencode(reply), content_type="text/plain", status=status)


def failure(error: ProtocolError) -> HttpResponse:
    # Trackers answer failures with 200 and a "failure reason" (BEP 3): clients read the body.
    return bencoded({"failure reason": error.reason})


def refused(verdict) -> HttpResponse:
    """A request the guard refused: 403 while the source is blocked, else 429 (too many)."""
    status = 403 if verdict.blocked_until is not None else 429
    return bencoded({"failure reason": verdict.refusal}, status)


def answer(reply: dict, verdict) -> HttpResponse:
    if verdict is not None and verdict.refusal is not None:
        return refused(verdict)
    return bencoded(reply)


class Admission:
    """Who sent an HTTP request and whether the guard lets it through."""

    def __init__(self, request) -> None:
        self.request = request
        self.address = request_address(request)
        key = None if from_node(request) else guard_key(self.address)
        self.source, verdict = service.admit_http(key)
        # Counters of the shared cache are keyed by the keyed hash, never by the address.
        self.hash = hashed(self.source.key) if self.source is not None else ""
        self.refusal = refused(verdict) if verdict is not None else None
        limits = service.policy.http_limits
        if (
            self.refusal is None
            and self.source is not None
            and http_limits.address_exceeded(request, self.hash, limits)
        ):
            self.refusal = refused(service.breach(self.source))

    def video_refusal(self, info_hash: bytes) -> HttpResponse | None:
        limits = service.policy.http_limits
        if self.source is not None and http_limits.video_exceeded(
            self.request, self.hash, info_hash, limits
        ):
            return refused(service.breach(self.source))
        return None


@require_GET
async def announce(request):
    # Async: the sync view cost a thread hop per request (measured by bench/tracker_bench.py);
    # nothing below blocks but the policy reload, which ensure_policy runs in a thread.
    await service.ensure_policy()
    admission = Admission(request)
    if admission.refusal is not None:
        return admission.refusal
    try:
        params = {key: values[0] for key, values in raw_query(request).items()}
        address = admission.address or request.META["REMOTE_ADDR"]
        message = parse_http_announce(params, address, service.policy.config)
    except ProtocolError as error:
        return failure(error)
    refusal = admission.video_refusal(message.info_hash)
    if refusal is not None:
        return refusal
    return answer(*service.http_announce(admission.source, message))


@require_GET
async def scrape(request):
    await service.ensure_policy()
    admission = Admission(request)
    if admission.refusal is not None:
        return admission.refusal
    try:
        message = parse_http_scrape(raw_query(request), service.policy.config)
    except ProtocolError as error:
        return failure(error)
    return answer(*service.http_scrape(admission.source, message))


@require_GET
def test_page(request):
    """A bare WebTorrent page for the end-to-end tests (PEERVEIL_TRACKER_TEST_PAGE=1 only)."""
    if not settings.TRACKER_TEST_PAGE:
        raise Http404
    return render(request, "tracker/webtorrent_test.html")
