"""The HTTP shell of the tracker: /tracker/announce and /tracker/scrape (bencoded, BEP 3/48)."""

from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tracker.core import ProtocolError, bencode, parse_http_announce, parse_http_scrape
from tracker.service import service

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


def bencoded(reply: dict) -> HttpResponse:
    return HttpResponse(bencode(reply), content_type="text/plain")


def failure(error: ProtocolError) -> HttpResponse:
    # Trackers answer failures with 200 and a "failure reason" (BEP 3): clients read the body.
    return bencoded({"failure reason": error.reason})


@require_GET
def announce(request):
    service.apply_policy()
    try:
        params = {key: values[0] for key, values in raw_query(request).items()}
        message = parse_http_announce(params, request.META["REMOTE_ADDR"], service.policy.config)
    except ProtocolError as error:
        return failure(error)
    with service.lock:
        reply = service.tracker.handle_http_announce(message, service.now(), service.rng)
    return bencoded(reply)


@require_GET
def scrape(request):
    service.apply_policy()
    try:
        message = parse_http_scrape(raw_query(request), service.policy.config)
    except ProtocolError as error:
        return failure(error)
    with service.lock:
        reply = service.tracker.handle_http_scrape(message, service.now())
    return bencoded(reply)


@require_GET
def test_page(request):
    """A bare WebTorrent page for the end-to-end tests (PEERVEIL_TRACKER_TEST_PAGE=1 only)."""
    if not settings.TRACKER_TEST_PAGE:
        raise Http404
    return render(request, "tracker/webtorrent_test.html")
