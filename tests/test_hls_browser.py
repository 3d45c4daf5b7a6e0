"""Viewers of the watch page on the HLS path (hls.js 1.7.4 and p2p-media-loader 2.3.1, as
PeerTube 6 plays) in real Chromium, against the live demo instance and its /tracker/socket.

Each browser context is one viewer. The byte split is measured at the normal rate: at 2x the
second of two viewers got anywhere from 31% to 71% of its media from the first (p2p-media-loader
fetches the segments within 15 media seconds of the playhead over HTTP, and they come twice as
fast), at 1x 43-47%. The corrupted-peer test, which needs no split, plays at PLAYBACK_RATE.
"""

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Route

from tests.browser import chromium_available
from tests.conftest import get_json
from tests.fmp4 import corrupted, video_track_id
from tests.viewer import (  # noqa: F401 (browser: a fixture)
    TRACKER_SOCKET,
    Viewer,
    ViewerPage,
    browser,
    viewer_factory,
    watch_path,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium"),
]

LONG_DEMO = "Demo: long drift"  # 64 s: long enough for a peer to matter
SHORT_DEMO = "Demo: lanterns"
PLAYBACK_RATE = 2
SCREENS = Path("/tmp/peerveil-screens")
# A viewer's first 15 s (p2p-media-loader's high-demand window) come over HTTP before a peer
# connects; segments from here on may come from the first viewer.
CORRUPT_FROM_SEGMENT = 8
HLS_BUNDLE = "/assets/vendor/hls.js/hls.min.mjs"
WEBTORRENT_BUNDLE = "/assets/vendor/webtorrent/webtorrent.min.js"


@pytest.fixture(scope="module")
def demo_videos(live_instance) -> dict[str, dict]:
    return {v["name"]: v for v in get_json(f"{live_instance.url}/api/v1/videos")["data"]}


@pytest.fixture
def new_viewer(browser, live_instance) -> Iterator:  # noqa: F811
    yield from viewer_factory(browser, live_instance.url)


def hls_url(instance, video: dict, name: str = "") -> str:
    return f"{instance.url}/static/streaming-playlists/hls/{video['uuid']}/{name}"


def renditions(instance, uuid: str) -> list[dict]:
    """The video's HLSRendition rows, read from the live instance's database."""
    code = (
        "import json; from instance.models import HLSRendition as R; print(json.dumps(list("
        f"R.objects.filter(playlist__video__uuid='{uuid}').values("
        "'resolution', 'width', 'bandwidth', 'codecs', 'frame_rate', 'info_hash'))))"
    )
    return json.loads(instance.manage("shell", "-c", code).strip().splitlines()[-1])


def open_sharing(viewer: Viewer, path: str, rate: float = 1) -> ViewerPage:
    """The page, with P2P accepted and the video at `rate`."""
    page = viewer.open(path)
    page.page.click("#p2p-accept")
    set_rate(page, rate)
    return page


def set_rate(page: ViewerPage, rate: float) -> None:
    """The default rate too: loading a source (hls.js attaching its MediaSource) resets the
    rate to the default one."""
    page.page.evaluate(
        f"""() => {{ const video = document.getElementById("player");
            video.defaultPlaybackRate = video.playbackRate = {rate}; }}"""
    )


def announced(page: ViewerPage) -> list[str]:
    """The info_hash of each announce the page sent to the tracker, in order."""
    sent = [p for d, url, p in page.log.frames if d == "sent" and TRACKER_SOCKET in url]
    frames = [json.loads(payload) for payload in sent]
    return [f["info_hash"] for f in frames if f.get("action") == "announce"]


def segment_bytes_over_http(page: ViewerPage) -> dict[str, int]:
    """Bytes of each media segment the page fetched from the server (Content-Length of each
    response: an aborted download counts whole, so this errs towards HTTP)."""
    fetched: dict[str, int] = {}
    for response in page.responses:
        name = response.url.rsplit("/", 1)[-1]
        if name.endswith(".m4s") and response.status in (200, 206):
            fetched[name] = fetched.get(name, 0) + int(response.headers["content-length"])
    return fetched


def played_to_the_end(page: ViewerPage, duration: float) -> dict:
    # Bounds a failure only: as long as the video at the normal rate, and a margin.
    return page.wait_for_video("v.ended && v.width > 0 && !v.error", (duration + 30) * 1000)


def screenshot(page: ViewerPage, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=str(SCREENS / name), full_page=True)


def test_second_viewer_gets_a_third_of_its_media_from_the_first_and_p2p_0_stays_off_tracker(
    new_viewer, demo_videos, live_instance
):
    video = demo_videos[LONG_DEMO]
    started = time.monotonic()
    first = open_sharing(new_viewer(), watch_path(video))
    first.wait_for_video("v.width > 0 && v.time >= 5")  # a few seconds ahead of the second
    second_opened = time.monotonic()
    second = open_sharing(new_viewer(), watch_path(video))
    third = new_viewer().open(watch_path(video, "?p2p=0"))

    second.wait_for_stats("s.p2p > 0 && s.peers >= 1", timeout_ms=30_000)
    first_peer_bytes = time.monotonic()
    screenshot(second, "hls-watch-playing-with-stats.png")
    for page in (first, second, third):
        played_to_the_end(page, video["duration"])
    ended = time.monotonic()

    # The share from the peer, measured outside the page: what the second did not fetch from
    # the server, of the media segments of the level it played.
    level = second.page.evaluate("window.peerveilPlayer.hls.levels.at(-1).height")
    assert (
        second.page.evaluate("window.peerveilPlayer.hls.currentLevel")
        == len(second.page.evaluate("window.peerveilPlayer.hls.levels")) - 1
    ), "the second viewer left the top level: the measure below assumes one level"
    over_http = segment_bytes_over_http(second)
    assert {name.split("-")[0] for name in over_http} == {str(level)}
    playlist = httpx.get(hls_url(live_instance, video, f"{level}.m3u8")).text
    names = [line for line in playlist.splitlines() if line.endswith(".m4s")]
    total = sum(len(httpx.get(hls_url(live_instance, video, name)).content) for name in names)
    from_peer = 1 - sum(over_http.values()) / total
    stats = second.stats()
    print(
        f"\nHLS {LONG_DEMO} ({video['duration']} s, {level}p, {total} B of "
        f"segments): second viewer got {from_peer:.0%} from the peer (page stats: {stats['p2p']} B "
        f"from peers, {stats['http']} B from the server incl. init segments, "
        f"{stats['rejected']} rejected); first peer bytes {first_peer_bytes - second_opened:.1f} s "
        f"after opening; all three ended {ended - started:.1f} s after the first opened"
    )
    assert from_peer >= 0.30
    assert first.stats()["up"] > 0 and stats["rejected"] == 0
    # The peers found each other through this instance's tracker: the WebRTC offer and answer
    # went over /tracker/socket, and no other socket was opened.
    signalling = [f for f in first.log.received() + second.log.received() if '"answer"' in f]
    assert signalling and all(TRACKER_SOCKET in ws.url for ws in first.sockets + second.sockets)
    assert third.sockets == [], "a ?p2p=0 view opened a WebSocket"
    third_stats = third.stats()
    assert third_stats["mode"] == "http" and third_stats["p2p"] == third_stats["up"] == 0
    assert third_stats["http"] > 0


def test_a_peer_s_corrupted_segment_is_rejected_fetched_from_the_server_and_played(
    new_viewer, demo_videos, live_instance
):
    """The first viewer is a bad peer: the route below hands it altered copies of segments
    (bytes flipped inside a video sample of the mdat) and a hash list that matches them, so it
    plays them and shares them as good."""
    video = demo_videos[LONG_DEMO]
    hashes = httpx.get(hls_url(live_instance, video, "segments-sha256.json")).json()
    track_ids = {}
    altered = {}
    for name in hashes:
        height, index = name.removesuffix(".m4s").split("-")
        if int(index) < CORRUPT_FROM_SEGMENT:
            continue
        if height not in track_ids:
            init = httpx.get(hls_url(live_instance, video, f"{height}-init.mp4")).content
            track_ids[height] = video_track_id(init)
        altered[name] = corrupted(
            httpx.get(hls_url(live_instance, video, name)).content, track_ids[height]
        )
    bad_hashes = hashes | {name: hashlib.sha256(data).hexdigest() for name, data in altered.items()}
    served_altered = []

    def bad_server(route: Route) -> None:
        name = route.request.url.rsplit("/", 1)[-1]
        if name in altered:
            served_altered.append(name)
            headers = {"Access-Control-Allow-Origin": "*", "Content-Type": "video/iso.segment"}
            route.fulfill(status=200, body=altered[name], headers=headers)
        elif name == "segments-sha256.json":
            route.fulfill(status=200, json=bad_hashes)
        else:
            route.fallback()

    bad_viewer = new_viewer()
    bad_viewer.context.route(f"{hls_url(live_instance, video)}*", bad_server)
    first = open_sharing(bad_viewer, watch_path(video), PLAYBACK_RATE)
    deadline = time.monotonic() + 20
    while len(served_altered) < 4:  # it holds altered segments the second will want
        assert time.monotonic() < deadline, first.diagnostics()
        first.page.wait_for_timeout(50)
    second = open_sharing(new_viewer(), watch_path(video), PLAYBACK_RATE)
    played_to_the_end(second, video["duration"])

    stats = second.stats()
    rejected = {
        line.split(" failed its SHA-256")[0].rsplit("/", 1)[-1]
        for line in second.log.console
        if "failed its SHA-256 check" in line
    }
    over_http = segment_bytes_over_http(second)
    print(
        f"\ncorrupted peer: the second viewer rejected {stats['rejected']} segment(s) "
        f"{sorted(rejected)}, got {stats['p2p']} B from the peer, {stats['http']} B from the server"
    )
    assert first.stats()["up"] > 0, "the bad peer never shared"
    assert stats["rejected"] > 0 and rejected and rejected <= set(altered)
    assert rejected <= set(over_http), "a rejected segment was not fetched from the server"
    assert not second.video()["error"]


def test_the_infohash_a_browser_announces_is_the_instance_s_for_every_rendition(
    new_viewer, demo_videos, live_instance
):
    video = demo_videos[SHORT_DEMO]
    rows = {row["width"]: row for row in renditions(live_instance, video["uuid"])}
    page = new_viewer().open(watch_path(video))
    page.wait_until_playing()
    page.page.evaluate("document.getElementById('player').pause()")
    page.page.click("#p2p-accept")
    core = page.page.evaluate("window.peerveilPlayer.hls.p2pEngine.getConfig().core.mainStream")
    assert core["announceTrackers"] == [live_instance.ws_tracker]
    assert core["rtcConfig"] == {"iceServers": []}  # PEERVEIL_ICE_SERVERS unset: none at all
    assert core["swarmId"] == video["uuid"]

    levels = page.page.evaluate("window.peerveilPlayer.hls.levels.map(l => l.width)")
    current = page.page.evaluate("window.peerveilPlayer.hls.currentLevel")
    by_width = {}
    # The current level last: forcing a level reloads its segments through p2p-media-loader,
    # which then joins (announces) that level's swarm.
    for index in sorted(range(len(levels)), key=lambda i: i == current):
        seen = set(announced(page))
        page.page.evaluate(f"window.peerveilPlayer.hls.currentLevel = {index}")
        deadline = time.monotonic() + 10
        while not (new := set(announced(page)) - seen):
            assert time.monotonic() < deadline, (
                f"no announce for level {index}: {page.diagnostics()}"
            )
            page.page.wait_for_timeout(50)
        assert len(new) == 1
        by_width[levels[index]] = new.pop()

    print(
        f"\n{'rendition':>10} {'instance (HLSRendition.info_hash)':>34} {'browser announced':>20}"
    )
    for width, row in sorted(rows.items()):
        print(f"{row['resolution']:>9}p {row['info_hash']:>34} {by_width.get(width, '-'):>20}")
    assert by_width == {width: row["info_hash"] for width, row in rows.items()}
    # And the tracker took each of them (a reply with its interval, no failure reason); the
    # reply to the last level's announce may still be on its way when it was seen sent.
    deadline = time.monotonic() + 10
    while True:
        replies = [json.loads(f) for f in page.log.received() if f.startswith("{")]
        answered = {r.get("info_hash") for r in replies if "interval" in r}
        if set(by_width.values()) <= answered or time.monotonic() > deadline:
            break
        page.page.wait_for_timeout(50)
    for info_hash in by_width.values():
        answers = [r for r in replies if r.get("info_hash") == info_hash]
        assert any("interval" in r for r in answers), replies
        assert not any("failure reason" in r for r in answers), replies


def test_switching_p2p_off_and_on_during_hls_playback_keeps_playing(new_viewer, demo_videos):
    video = demo_videos[LONG_DEMO]
    viewer = new_viewer()
    page = open_sharing(viewer, watch_path(video))
    page.wait_for_stats("s.mode === 'p2p'")
    page.wait_until_playing()
    socket = page.wait_for_tracker_socket()
    page.page.evaluate("window.hlsAtStart = window.peerveilPlayer.hls")
    source = page.video()["src"]

    page.page.click("#p2p-toggle")
    page.wait_for_stats("s.mode === 'http'")
    at_switch = page.video()["time"]
    deadline = time.monotonic() + 5
    while not socket.is_closed():
        assert time.monotonic() < deadline, "the tracker socket stayed open with P2P off"
        page.page.wait_for_timeout(50)
    assert page.wait_until_playing() > at_switch  # went on from where it was, not reloaded
    assert page.page.text_content("#p2p-toggle") == "Turn P2P on"

    page.page.click("#p2p-toggle")
    page.wait_for_stats("s.mode === 'p2p'")
    deadline = time.monotonic() + 10
    while len(page.tracker_sockets()) < 2:
        assert time.monotonic() < deadline, "P2P on again opened no tracker socket"
        page.page.wait_for_timeout(50)
    page.wait_until_playing()
    assert page.page.evaluate("window.peerveilPlayer.hls === window.hlsAtStart")
    assert page.video()["src"] == source and not page.video()["error"]

    page.page.click("#p2p-toggle")  # off again, and remembered for the next page
    again = viewer.open(watch_path(demo_videos[SHORT_DEMO]))
    again.wait_until_playing()
    assert again.stats()["mode"] == "http" and again.sockets == []


def test_hls_page_plays_from_the_server_until_the_viewer_accepts_p2p(new_viewer, demo_videos):
    # A long video: p2p-media-loader joins a swarm only to load a segment, so a viewer who
    # accepts once the whole video is buffered (a short one, over HTTP) never announces.
    page = new_viewer().open(watch_path(demo_videos[LONG_DEMO]))
    assert page.page.is_visible("#p2p-notice")
    page.wait_until_playing()
    stats = page.stats()
    assert stats["mode"] == "http" and stats["http"] > 0 and page.sockets == []
    assert page.page.evaluate("window.peerveilPlayer.engine") == "HlsEngine"
    assert page.loaded(HLS_BUNDLE) and not page.loaded(WEBTORRENT_BUNDLE)
    screenshot(page, "hls-watch-notice.png")

    page.page.click("#p2p-accept")
    page.wait_for_stats("s.mode === 'p2p'")
    page.wait_for_tracker_socket()
    assert page.page.is_hidden("#p2p-notice")
    assert "P2P on" in page.status()


def test_hls_embed_with_p2p_0_plays_from_the_server_with_no_socket(new_viewer, demo_videos):
    viewer = new_viewer()
    viewer.open(watch_path(demo_videos[SHORT_DEMO])).page.click("#p2p-accept")  # would share
    page = viewer.open(f"/videos/embed/{demo_videos[SHORT_DEMO]['uuid']}?p2p=0")
    page.page.evaluate("document.getElementById('player').play()")
    page.wait_until_playing()
    assert page.page.evaluate("window.peerveilPlayer.engine") == "HlsEngine"
    assert page.stats()["mode"] == "http" and page.sockets == []
    assert page.status() == "P2P is off for this view."
