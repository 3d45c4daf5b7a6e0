"""The instance's public HTTP surface: pages, the read-only API, webseeds, torrents, assets.

The redundancy copies' route is the redundancy app's (instance/redundancy/views.py)."""

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_http_methods, require_safe

from tracker.crowd import crowd_of

from .api import video_json, with_api_relations
from .file_serving import file_response, find_asset, resolve_file, serve_file
from .models import InstanceSettings, StreamingPlaylist, Video, VideoFile
from .player import player_context
from .torrents import render_torrent

API_DEFAULT_COUNT = 15
API_MAX_COUNT = 100
API_MAX_START = 10**9
# What a page with the player reads of a video (instance/player.py).
PLAYER_VIDEOS = Video.objects.prefetch_related("files").select_related("hls_playlist")


def problem(status: int, detail: str) -> JsonResponse:
    """An error in PeerTube's shape (RFC 7807 problem details)."""
    titles = {400: "Bad Request", 404: "Not Found"}
    return JsonResponse(
        {"status": status, "title": titles.get(status, ""), "detail": detail}, status=status
    )


@require_safe
def home(request):
    videos = Video.objects.all()[:50]
    return render(request, "instance/home.html", {"videos": videos})


@require_safe
def watch(request, uuid):
    video = get_object_or_404(PLAYER_VIDEOS, uuid=uuid)
    if request.method == "GET":
        video.record_view()  # counts per day for the trending redundancy strategy
    return render(request, "instance/watch.html", player_context(video, request, embedded=False))


@require_safe
@xframe_options_exempt  # other sites show the embed in an iframe
def embed(request, uuid):
    video = get_object_or_404(PLAYER_VIDEOS, uuid=uuid)
    return render(request, "instance/embed.html", player_context(video, request, embedded=True))


def _bounded_int(raw: str | None, default: int, high: int) -> int | None:
    """A whole number from 0 to `high` written in ASCII digits, else None. str.isdigit() alone
    also takes "²" and other scripts' digits; a number longer than `high` is out of bounds
    before int() pays for it (and fails past 4300 digits)."""
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(high)):
        return None
    value = int(digits)
    return value if value <= high else None


@require_safe
def api_video_list(request):
    start = _bounded_int(request.GET.get("start"), 0, API_MAX_START)
    count = _bounded_int(request.GET.get("count"), API_DEFAULT_COUNT, API_MAX_COUNT)
    if start is None or count is None:
        return problem(
            400,
            f"start must be a whole number from 0 to {API_MAX_START} "
            f"and count from 0 to {API_MAX_COUNT}",
        )
    instance_p2p = InstanceSettings.load().p2p_enabled
    videos = with_api_relations(Video.objects.all())
    page = videos[start : start + count]
    return JsonResponse(
        {"total": videos.count(), "data": [video_json(v, instance_p2p) for v in page]}
    )


@require_safe
def api_video_detail(request, uuid):
    video = with_api_relations(Video.objects.filter(uuid=uuid)).first()
    if video is None:
        return problem(404, "Video not found")
    return JsonResponse(video_json(video, InstanceSettings.load().p2p_enabled))


@require_safe
def api_video_crowd(request, uuid):
    """The video's crowd threshold and distinct viewers now (counts only), which the watch
    page's threshold line refreshes from: the viewer sees the count that turns P2P on."""
    video = Video.objects.filter(uuid=uuid).first()
    if video is None:
        return problem(404, "Video not found")
    response = JsonResponse(crowd_of(video).as_json())
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def web_video(request, filename: str):
    video_file = VideoFile.objects.filter(file=f"web-videos/{filename}").first()
    if video_file is None:
        raise Http404("No such video file")
    return serve_file(request, video_file.file.storage.location, video_file.file.name, cors=True)


# Segments never change under their name while their playlist exists; playlists and the SHA-256
# list are re-read sooner, in case a video's HLS is removed and built again.
HLS_SEGMENT_CACHE = "public, max-age=86400"
HLS_PLAYLIST_CACHE = "public, max-age=60"


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def hls_file(request, uuid, filename: str):
    """A published HLS playlist, segment or SHA-256 list (PeerTube's path), with Range and
    CORS: embeds on other sites play it, and hls.js may ask for byte ranges."""
    if not StreamingPlaylist.objects.filter(video__uuid=uuid).exists():
        raise Http404("No such streaming playlist")
    response = serve_file(request, settings.HLS_ROOT, f"{uuid}/{filename}", cors=True)
    media = filename.endswith((".m4s", ".mp4"))
    response["Cache-Control"] = HLS_SEGMENT_CACHE if media else HLS_PLAYLIST_CACHE
    return response


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def torrent_file(request, filename: str):
    video_file = VideoFile.objects.filter(torrent=f"torrents/{filename}").first()
    stored = video_file and resolve_file(
        video_file.torrent.storage.location, video_file.torrent.name
    )
    if stored is None:
        raise Http404("No such torrent")
    response = HttpResponse(
        b""
        if request.method == "OPTIONS"
        else render_torrent(stored.read_bytes(), webseeds=video_file.webseeds),
        content_type="application/x-bittorrent",
        status=204 if request.method == "OPTIONS" else 200,
    )
    # Players on other origins (embeds) fetch the torrent too.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_http_methods(["GET", "HEAD"])
def asset(request, path: str):
    """Static assets (collected, or found in the apps and STATICFILES_DIRS when not collected)."""
    found = find_asset(path)
    if found is None:
        raise Http404("No such asset")
    response = file_response(request, found)
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_safe
def webtorrent_service_worker(request):
    """webtorrent's service worker, which file.streamTo(<video>) needs, from the site root.

    Under /assets/ it could not take the scope "/" and control the watch pages: a service worker
    controls only pages under the folder of its script (Service Workers, "scope").
    """
    response = render(request, "instance/webtorrent-sw.js", content_type="application/javascript")
    response["Cache-Control"] = "no-cache"
    return response
