from django.contrib import admin
from django.urls import include, path, re_path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("videos/watch/<uuid:uuid>", views.watch, name="watch"),
    path("w/<uuid:uuid>", views.watch, name="watch-short"),
    path("videos/embed/<uuid:uuid>", views.embed, name="embed"),
    path("webtorrent-sw.js", views.webtorrent_service_worker, name="webtorrent-service-worker"),
    path("api/v1/videos", views.api_video_list, name="api-video-list"),
    path("api/v1/videos/<uuid:uuid>", views.api_video_detail, name="api-video-detail"),
    path("api/v1/videos/<uuid:uuid>/crowd", views.api_video_crowd, name="api-video-crowd"),
    re_path(
        r"^static/web-videos/(?P<filename>[A-Za-z0-9._-]+)$", views.web_video, name="web-video"
    ),
    # Exactly a uuid's shape (Django's <uuid:> converter's): the playlist lookup cannot convert
    # anything looser ("-" * 36) and would fail with a 500.
    re_path(
        r"^static/streaming-playlists/hls/"
        r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/"
        r"(?P<filename>[A-Za-z0-9._-]+)$",
        views.hls_file,
        name="hls-file",
    ),
    # /static/redundancy/<file>: the redundancy app's published copies.
    path("", include("instance.redundancy.urls")),
    re_path(
        r"^lazy-static/torrents/(?P<filename>[A-Za-z0-9._-]+\.torrent)$",
        views.torrent_file,
        name="torrent-file",
    ),
    re_path(r"^assets/(?P<path>.+)$", views.asset, name="asset"),
    path("tracker/", include("tracker.urls")),
    # The staff panel (/admin-panel/) and the public privacy FAQ (/about/privacy).
    path("", include("adminpanel.urls")),
    path("admin/", admin.site.urls),
]
