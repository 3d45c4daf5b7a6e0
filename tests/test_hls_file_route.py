"""/static/streaming-playlists/hls/<uuid>/<file>: a published playlist's files with Range, CORS,
caching and their content types; anything else a 404."""

import uuid

import pytest

from tests.file_route_helpers import body
from tests.tracker_helpers import add_hls_video

pytestmark = pytest.mark.django_db

FILES = {
    "master.m3u8": b"#EXTM3U\n#EXT-X-VERSION:7\n",
    "720.m3u8": b'#EXTM3U\n#EXT-X-MAP:URI="720-init.mp4"\n',
    "720-init.mp4": b"\x00\x00\x00\x18ftypiso5" + bytes(range(256)),
    "720-000.m4s": bytes(range(256)) * 40,
    "segments-sha256.json": b'{"720-000.m4s": "00"}',
}


@pytest.fixture
def published(settings):
    video, _ = add_hls_video("hls files")
    folder = settings.HLS_ROOT / str(video.uuid)
    folder.mkdir(parents=True)
    for name, content in FILES.items():
        (folder / name).write_bytes(content)
    return video


def url(video, name: str) -> str:
    return f"/static/streaming-playlists/hls/{video.uuid}/{name}"


@pytest.mark.parametrize(
    ("name", "content_type", "cache"),
    [
        ("master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"),
        ("720.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"),
        ("segments-sha256.json", "application/json", "public, max-age=60"),
        ("720-init.mp4", "video/mp4", "public, max-age=86400"),
        ("720-000.m4s", "video/iso.segment", "public, max-age=86400"),
    ],
)
def test_each_kind_of_file_is_served_whole_with_its_type_caching_and_cors(
    client, published, name, content_type, cache
):
    response = client.get(url(published, name))
    assert response.status_code == 200
    assert body(response) == FILES[name]
    assert response["Content-Type"] == content_type
    assert response["Cache-Control"] == cache
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(FILES[name]))


@pytest.mark.parametrize("name", ["720-000.m4s", "master.m3u8", "segments-sha256.json"])
def test_a_range_gets_206_with_just_those_bytes(client, published, name):
    size = len(FILES[name])
    response = client.get(url(published, name), HTTP_RANGE="bytes=5-14")
    assert response.status_code == 206
    assert body(response) == FILES[name][5:15]
    assert response["Content-Range"] == f"bytes 5-14/{size}"
    assert response["Content-Length"] == "10"
    tail = client.get(url(published, name), HTTP_RANGE="bytes=-4")
    assert tail.status_code == 206 and body(tail) == FILES[name][-4:]
    beyond = client.get(url(published, name), HTTP_RANGE=f"bytes={size}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{size}"


def test_head_and_the_cors_preflight_of_a_player_on_another_site(client, published):
    head = client.head(url(published, "720-000.m4s"), HTTP_RANGE="bytes=0-99")
    assert head.status_code == 206 and head["Content-Length"] == "100" and not head.content
    preflight = client.options(
        url(published, "720-000.m4s"),
        HTTP_ORIGIN="https://elsewhere.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="range",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "Range" in preflight["Access-Control-Allow-Headers"]
    assert "Content-Range" in preflight["Access-Control-Expose-Headers"]


def test_unknown_uuids_files_and_unpublished_folders_are_404(client, published, settings):
    assert client.get(url(published, "missing.m4s")).status_code == 404
    assert client.get(url(published, "..")).status_code == 404
    stranger = uuid.uuid4()
    assert client.get(f"/static/streaming-playlists/hls/{stranger}/master.m3u8").status_code == 404
    # A folder without its playlist row (a build that never committed) is not published.
    orphan = settings.HLS_ROOT / str(stranger)
    orphan.mkdir()
    (orphan / "master.m3u8").write_bytes(b"#EXTM3U\n")
    assert client.get(f"/static/streaming-playlists/hls/{stranger}/master.m3u8").status_code == 404
    published.hls_playlist.delete()
    assert client.get(url(published, "master.m3u8")).status_code == 404


@pytest.mark.parametrize("fake", ["-" * 36, "0" * 36, "f" * 8 + "-" * 28])
def test_a_malformed_uuid_of_the_right_length_is_a_404_not_an_error(client, fake):
    response = client.get(f"/static/streaming-playlists/hls/{fake}/master.m3u8")
    assert response.status_code == 404


def test_only_get_head_and_options_are_allowed(client, published):
    assert client.post(url(published, "master.m3u8")).status_code == 405
