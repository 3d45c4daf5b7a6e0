"""Django views of the tracker: the HTTP tracker for Django's own handlers (test client, WSGI,
runserver's URLconf) and the end-to-end test page. The served instance answers the tracker's two
HTTP routes before Django (tracker/http_app.py); both call tracker/http_shell.py."""

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tracker import http_shell
from tracker.service import service
from tracker.sources import NODE_HEADER


def tracker_request(request) -> http_shell.TrackerRequest:
    return http_shell.TrackerRequest(
        # Django decodes the query string as latin-1 (ASGI, PEP 3333): this undoes it.
        query=request.META.get("QUERY_STRING", "").encode("latin-1", "replace"),
        peer=request.META.get("REMOTE_ADDR"),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
        node_token=request.headers.get(NODE_HEADER),
    )


def bencoded(reply: http_shell.Reply) -> HttpResponse:
    status, body = reply
    return HttpResponse(body, content_type="text/plain", status=status)


@require_GET
async def announce(request):
    if service.stale:
        await service.ensure_policy()
    return bencoded(http_shell.announce(tracker_request(request)))


@require_GET
async def scrape(request):
    if service.stale:
        await service.ensure_policy()
    return bencoded(http_shell.scrape(tracker_request(request)))


@require_GET
def test_page(request):
    """A bare WebTorrent page for the end-to-end tests (PEERVEIL_TRACKER_TEST_PAGE=1 only)."""
    if not settings.TRACKER_TEST_PAGE:
        raise Http404
    return render(request, "tracker/webtorrent_test.html")
