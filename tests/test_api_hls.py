"""The API's `streamingPlaylists`: PeerTube's VideoStreamingPlaylists shape for HLS videos."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from instance.models import P2PSetting
from tests.tracker_helpers import add_hls_video, add_video

pytestmark = pytest.mark.django_db


def test_the_detail_of_an_hls_video_lists_its_playlist_and_renditions(client, settings):
    video, _ = add_hls_video("api hls")
    playlist = video.hls_playlist
    body = client.get(f"/api/v1/videos/{video.uuid}").json()
    base = f"{settings.PUBLIC_URL}/static/streaming-playlists/hls/{video.uuid}/"
    high, low = playlist.renditions.all()
    assert body["streamingPlaylists"] == [
        {
            "id": playlist.pk,
            "type": 1,
            "playlistUrl": base + "master.m3u8",
            "segmentsSha256Url": base + "segments-sha256.json",
            "files": [
                {
                    "id": high.pk,
                    "resolution": {"id": 720, "label": "720p"},
                    "size": high.size,
                    "fps": 24,
                    "width": 1280,
                    "height": 720,
                    "hasAudio": True,
                    "hasVideo": True,
                    "playlistUrl": base + "720.m3u8",
                },
                {
                    "id": low.pk,
                    "resolution": {"id": 480, "label": "480p"},
                    "size": low.size,
                    "fps": 24,
                    "width": 854,
                    "height": 480,
                    "hasAudio": True,
                    "hasVideo": True,
                    "playlistUrl": base + "480.m3u8",
                },
            ],
            "redundancies": [],
        }
    ]
    assert body["p2pEnabled"] is True
    assert len(body["files"]) == 1  # the web video stays where it was


def test_a_video_without_hls_has_no_streaming_playlist(client):
    add_video("api no hls")
    (listed,) = client.get("/api/v1/videos").json()["data"]
    assert listed["streamingPlaylists"] == []


def test_a_fractional_frame_rate_and_a_rendition_without_audio_are_told_as_such(client):
    video, _ = add_hls_video("api ntsc")
    video.hls_playlist.renditions.update(frame_rate="29.970", codecs="avc1.64001f")
    body = client.get(f"/api/v1/videos/{video.uuid}").json()
    files = body["streamingPlaylists"][0]["files"]
    assert {(f["fps"], f["hasAudio"]) for f in files} == {(29.97, False)}


def test_p2p_enabled_still_tells_the_switch_in_effect_for_an_hls_video(client):
    video, _ = add_hls_video("api hls off", p2p=P2PSetting.OFF)
    body = client.get(f"/api/v1/videos/{video.uuid}").json()
    assert body["p2pEnabled"] is False and body["streamingPlaylists"]


def test_the_list_reads_the_playlists_and_renditions_of_a_page_in_one_query_each(client):
    for n in range(3):
        add_hls_video(f"api page {n}")
    add_video("api page without hls")
    with CaptureQueriesContext(connection) as queries:
        data = client.get("/api/v1/videos").json()["data"]
    assert sum(bool(video["streamingPlaylists"]) for video in data) == 3
    assert all(
        len(v["streamingPlaylists"][0]["files"]) == 2 for v in data if v["streamingPlaylists"]
    )
    sql = [query["sql"] for query in queries.captured_queries]
    assert sum("instance_hlsrendition" in q for q in sql) == 1
    assert sum("instance_streamingplaylist" in q for q in sql) <= 2  # the join and the prefetch
