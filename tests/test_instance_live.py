"""The instance as `make run` serves it: a real server process and real HTTP clients."""

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.conftest import get_json
from tests.live import LiveInstance

pytestmark = pytest.mark.e2e


def test_served_instance_lists_demo_videos_with_infohashes(live_instance):
    body = get_json(f"{live_instance.url}/api/v1/videos")
    assert body["total"] >= 3
    for video in body["data"]:
        assert video["name"].startswith("Demo: ")
        (video_file,) = video["files"]
        assert len(video_file["infoHash"]) == 40
        int(video_file["infoHash"], 16)


def test_creating_demo_content_again_keeps_the_catalogue_as_it_is(live_instance):
    before = get_json(f"{live_instance.url}/api/v1/videos")
    live_instance.manage("create_demo_content")
    after = get_json(f"{live_instance.url}/api/v1/videos")
    assert after == before


def first_file(live_instance) -> dict:
    return get_json(f"{live_instance.url}/api/v1/videos")["data"][0]["files"][0]


def test_webseed_serves_identical_bytes_over_several_range_requests(live_instance):
    video_file = first_file(live_instance)
    url = video_file["fileUrl"]
    whole = httpx.get(url).content
    assert len(whole) == video_file["size"]
    piece = 100_000
    with httpx.Client() as client:
        parts = []
        for first in range(0, len(whole), piece):
            last = min(first + piece, len(whole)) - 1
            response = client.get(url, headers={"Range": f"bytes={first}-{last}"})
            assert response.status_code == 206
            assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(whole)}"
            assert response.headers["Accept-Ranges"] == "bytes"
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            parts.append(response.content)
        assert b"".join(parts) == whole
        suffix = client.get(url, headers={"Range": "bytes=-1000"})
        assert suffix.status_code == 206 and suffix.content == whole[-1000:]
        open_ended = client.get(url, headers={"Range": f"bytes={len(whole) - 10}-"})
        assert open_ended.content == whole[-10:]


@pytest.mark.parametrize(
    ("range_header", "status"),
    [
        ("bytes=999999999-", 416),
        ("bytes=999999999-1000000000", 416),
        ("bytes=-0", 416),
        ("bytes=abc", 200),  # not a byte range: ignored, as RFC 9110 allows
        ("bytes=5-2", 200),
        ("items=0-10", 200),
        ("bytes=0-1,5-9", 200),  # several ranges: the whole file
    ],
)
def test_webseed_answers_bad_ranges_clearly(live_instance, range_header, status):
    video_file = first_file(live_instance)
    response = httpx.get(video_file["fileUrl"], headers={"Range": range_header})
    assert response.status_code == status
    if status == 416:
        assert response.headers["Content-Range"] == f"bytes */{video_file['size']}"
    else:
        assert len(response.content) == video_file["size"]


def test_webseed_answers_the_cors_preflight_webtorrent_sends(live_instance):
    response = httpx.options(
        first_file(live_instance)["fileUrl"],
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range,cache-control,user-agent",
        },
    )
    assert response.status_code == 204
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("range", "cache-control", "user-agent"):
        assert header in allowed
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in response.headers["Access-Control-Expose-Headers"]


def test_head_of_a_webseed_gives_size_without_body(live_instance):
    video_file = first_file(live_instance)
    response = httpx.head(video_file["fileUrl"])
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == video_file["size"]
    assert response.content == b""


def test_unknown_files_and_videos_are_404(live_instance):
    for path in (
        "/static/web-videos/nothing.mp4",
        "/lazy-static/torrents/nothing.torrent",
        "/static/web-videos/..%2Fdb.sqlite3",
    ):
        assert httpx.get(live_instance.url + path).status_code == 404
    with pytest.raises(urllib.error.HTTPError) as error:
        get_json(f"{live_instance.url}/api/v1/videos/7d0c6a40-0000-4000-8000-000000000000")
    assert error.value.code == 404
    assert json.load(error.value)["detail"] == "Video not found"


def pgrep(*args: str) -> list[str]:
    return subprocess.run(["pgrep", *args], capture_output=True, text=True).stdout.split()


def test_serve_runs_server_and_celery_and_ctrl_c_stops_everything(tmp_path):
    instance = LiveInstance(tmp_path)
    instance.manage("migrate", "--noinput")
    instance.start()
    try:
        deadline = time.monotonic() + 60
        while "ready" not in instance.log() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "celery@" in instance.log() and "ready" in instance.log(), instance.log()
        children = pgrep("-P", str(instance.process.pid))
        assert len(children) == 2  # uvicorn and the Celery worker
        family = [pid for child in children for pid in pgrep("-g", child)]
        assert len(family) >= 4  # plus Celery's pool process and embedded beat
    finally:
        instance.process.send_signal(signal.SIGINT)
        instance.process.wait(30)
    time.sleep(0.5)
    assert [pid for pid in family if Path(f"/proc/{pid}").exists()] == []
