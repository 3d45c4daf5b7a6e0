"""Viewers on the watch and embed pages in real Chromium, against the live instance.

Each browser context is one viewer with its own storage (webtorrent keeps pieces there, and the
page keeps the viewer's P2P choice in localStorage). "Plays" means the picture decodes
(videoWidth > 0) and currentTime advances (a media clock alone can run without a decoded frame).
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import BrowserContext, Page, WebSocket

from tests.browser import PageLog, chromium, chromium_available, new_peer_context, watch_page
from tests.conftest import get_json

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium"),
]

# Loopback playback starts within about a second (measured in Chromium); these only bound a failure.
PLAY_TIMEOUT_MS = 15_000
SEED_TIMEOUT_MS = 20_000
TRACKER_SOCKET = "/tracker/socket"
WEBTORRENT_BUNDLE = "/assets/vendor/webtorrent/webtorrent.min.js"

READ_STATS = """() => {
  const d = document.getElementById("p2p-stats").dataset;
  return {mode: d.mode, progress: Number(d.progress), peers: Number(d.peers),
          p2p: Number(d.bytesP2p), http: Number(d.bytesHttp), up: Number(d.bytesUp)};
}"""


@dataclass
class ViewerPage:
    page: Page
    log: PageLog
    sockets: list[WebSocket] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def stats(self) -> dict:
        return self.page.evaluate(READ_STATS)

    def tracker_sockets(self) -> list[WebSocket]:
        return [ws for ws in self.sockets if TRACKER_SOCKET in ws.url]

    def wait_for_tracker_socket(self, timeout_ms: float = PLAY_TIMEOUT_MS) -> WebSocket:
        deadline = time.monotonic() + timeout_ms / 1000
        while not self.tracker_sockets():
            if time.monotonic() > deadline:
                raise AssertionError(f"no tracker socket: {self.diagnostics()}")
            self.page.wait_for_timeout(50)
        return self.tracker_sockets()[-1]

    def loaded_webtorrent(self) -> bool:
        return any(WEBTORRENT_BUNDLE in url for url in self.requests)

    def wait_for_stats(self, condition: str, timeout_ms: float = PLAY_TIMEOUT_MS) -> dict:
        """Until `condition`, a JS expression over `s` (the stats), holds."""
        try:
            self.page.wait_for_function(f"(s => {condition})(({READ_STATS})())", timeout=timeout_ms)
        except Exception as error:
            raise AssertionError(f"stats never met {condition}: {self.diagnostics()}") from error
        return self.stats()

    def wait_until_playing(self, seconds: float = 0.5) -> float:
        """Until the picture decodes and currentTime advanced `seconds`; returns currentTime."""
        start = self.page.evaluate("document.getElementById('player').currentTime")
        try:
            self.page.wait_for_function(
                """([start, seconds]) => {
                     const video = document.getElementById("player");
                     return video.videoWidth > 0 && video.currentTime >= start + seconds;
                   }""",
                arg=[start, seconds],
                timeout=PLAY_TIMEOUT_MS,
            )
        except Exception as error:
            raise AssertionError(f"the video did not play: {self.diagnostics()}") from error
        return self.page.evaluate("document.getElementById('player').currentTime")

    def diagnostics(self) -> str:
        state = self.page.evaluate(
            """() => { const v = document.getElementById("player");
                return {src: v.currentSrc, time: v.currentTime, width: v.videoWidth,
                        error: v.error && v.error.message, ready: v.readyState}; }"""
        )
        details = {"video": state, "stats": self.stats(), "status": self.status()}
        return json.dumps(details) + "\n" + "\n".join(self.log.console + self.log.errors)

    def status(self) -> str:
        return self.page.text_content("#p2p-status") or ""


@dataclass
class Viewer:
    """One person's browser: pages opened here share localStorage and webtorrent's storage."""

    context: BrowserContext
    base_url: str

    def open(self, path: str) -> ViewerPage:
        page = self.context.new_page()
        viewer_page = ViewerPage(page, watch_page(page, frames=False))
        page.on("websocket", lambda ws: viewer_page.sockets.append(ws))
        page.on("request", lambda request: viewer_page.requests.append(request.url))
        page.goto(f"{self.base_url}{path}")
        return viewer_page


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def new_viewer(browser, live_instance) -> Iterator:
    contexts = []

    def new_viewer() -> Viewer:
        context = new_peer_context(browser, live_instance.url)
        contexts.append(context)
        return Viewer(context, live_instance.url)

    yield new_viewer
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def videos(live_instance) -> list[dict]:
    return get_json(f"{live_instance.url}/api/v1/videos")["data"]


def watch_path(video: dict, query: str = "") -> str:
    return f"/videos/watch/{video['uuid']}{query}"


@contextmanager
def changed_in_database(live_instance, model: str, lookup: str, field_name: str, value) -> Iterator:
    """Sets one field of one row through the ORM (save(): signals fire), then restores it."""

    def run(code: str) -> str:
        return live_instance.manage("shell", "-c", f"from instance.models import *; {code}")

    read_and_set = (
        f"row = {model}.{lookup}; print(repr(row.{field_name})); "
        f"row.{field_name} = {value!r}; row.save()"
    )
    previous = run(read_and_set).strip().splitlines()[-1]
    try:
        yield
    finally:
        run(f"row = {model}.{lookup}; row.{field_name} = {previous}; row.save()")


def test_second_viewer_receives_bytes_from_the_first_and_plays(new_viewer, videos):
    path = watch_path(videos[1])
    started = time.monotonic()
    first = new_viewer().open(path)
    first.page.click("#p2p-accept")
    # The first viewer holds every piece and seeds before the second arrives, so the second
    # finds a peer with everything; its webseed runs too, and the race is left to webtorrent.
    first.wait_for_stats("s.mode === 'p2p' && s.progress === 1", SEED_TIMEOUT_MS)
    first.wait_until_playing()
    seeded_at = time.monotonic()

    second = new_viewer().open(path)
    second.page.click("#p2p-accept")
    got = second.wait_for_stats("s.mode === 'p2p' && s.p2p > 0 && s.peers >= 1")
    peer_bytes_at = time.monotonic()
    second.wait_until_playing(1.0)
    assert "webrtc" not in second.status()  # nothing technical leaks into the status line
    assert first.stats()["up"] > 0
    later = second.wait_for_stats(f"s.p2p >= {got['p2p']} && s.progress === 1")
    print(
        f"first seeding after {seeded_at - started:.1f} s; second got peer bytes "
        f"{peer_bytes_at - seeded_at:.1f} s after opening; final {later}"
    )
    assert second.tracker_sockets() and first.tracker_sockets()


def test_lone_p2p_viewer_plays_from_the_webseed_and_seeks_to_the_middle(new_viewer, videos):
    viewer = new_viewer()
    # Consent given on one video holds for every video of the instance.
    viewer.open(watch_path(videos[0])).page.click("#p2p-accept")
    viewer.context.pages[0].close()
    page = viewer.open(watch_path(videos[2]))
    assert page.page.is_hidden("#p2p-notice")
    stats = page.wait_for_stats("s.mode === 'p2p' && s.http > 0")
    page.wait_until_playing()
    assert stats["p2p"] == 0 or stats["peers"] > 0
    duration = page.page.evaluate("document.getElementById('player').duration")
    page.page.evaluate(f"document.getElementById('player').currentTime = {duration / 2}")
    resumed = page.wait_until_playing()
    assert resumed > duration / 2, page.diagnostics()
    assert page.page.evaluate("document.getElementById('player').currentSrc").startswith(
        page.page.url.split("/videos/")[0] + "/webtorrent/"
    ), page.diagnostics()


def test_before_consent_the_video_plays_over_http_and_p2p_starts_only_on_accept(new_viewer, videos):
    page = new_viewer().open(watch_path(videos[0]))
    assert page.page.is_visible("#p2p-notice")
    assert page.page.get_attribute("#p2p-notice a", "href").endswith("/about/privacy")
    page.wait_until_playing()
    assert page.stats()["mode"] == "http" and page.stats()["http"] > 0
    assert page.tracker_sockets() == [] and not page.loaded_webtorrent()

    page.page.click("#p2p-accept")
    page.wait_for_stats("s.mode === 'p2p'")
    page.page.wait_for_function(
        "() => document.getElementById('player').currentSrc.includes('/webtorrent/')"
    )
    page.wait_until_playing()
    assert page.page.is_hidden("#p2p-notice")
    page.wait_for_tracker_socket()
    assert page.loaded_webtorrent()


def test_viewer_who_turned_p2p_off_plays_over_http_with_no_tracker_socket(new_viewer, videos):
    viewer = new_viewer()
    first = viewer.open(watch_path(videos[0]))
    first.page.click("#p2p-decline")
    assert first.page.is_hidden("#p2p-notice")
    first.page.close()

    page = viewer.open(watch_path(videos[1]))  # the choice holds for every video
    page.wait_until_playing()
    assert page.page.is_hidden("#p2p-notice")
    assert page.stats()["mode"] == "http" and page.stats()["http"] > 0
    assert "turned P2P off" in page.status()
    assert page.tracker_sockets() == [] and not page.loaded_webtorrent()
    assert first.tracker_sockets() == [] and not first.loaded_webtorrent()


@pytest.mark.parametrize("page_path", ["/videos/watch/", "/videos/embed/"])
def test_p2p_0_view_plays_over_http_with_no_tracker_socket(new_viewer, videos, page_path):
    viewer = new_viewer()
    accepted = viewer.open(watch_path(videos[0]))
    accepted.page.click("#p2p-accept")  # this viewer would use P2P, but not in this view
    accepted.wait_for_stats("s.mode === 'p2p'")
    accepted.page.close()

    page = viewer.open(f"{page_path}{videos[1]['uuid']}?p2p=0")
    page.page.evaluate("document.getElementById('player').play()")
    page.wait_until_playing()
    assert page.stats()["mode"] == "http"
    assert page.tracker_sockets() == [] and not page.loaded_webtorrent()


def test_video_with_p2p_off_plays_over_http_with_no_tracker_socket(
    new_viewer, videos, live_instance
):
    viewer = new_viewer()
    viewer.open(watch_path(videos[0])).page.click("#p2p-accept")
    viewer.context.pages[0].close()
    uuid = videos[2]["uuid"]
    with changed_in_database(live_instance, "Video", f"objects.get(uuid='{uuid}')", "p2p", "off"):
        page = viewer.open(watch_path(videos[2]))
        page.wait_until_playing()
        assert page.stats()["mode"] == "http"
        assert page.page.is_hidden("#p2p-notice") and page.page.is_hidden("#p2p-toggle")
        assert "off for this video" in page.status()
        assert page.tracker_sockets() == [] and not page.loaded_webtorrent()


def test_turning_p2p_off_on_the_page_leaves_the_tracker_and_keeps_playing(new_viewer, videos):
    viewer = new_viewer()
    page = viewer.open(watch_path(videos[0]))
    page.page.click("#p2p-accept")
    page.wait_for_stats("s.mode === 'p2p'")
    page.wait_until_playing()
    socket = page.wait_for_tracker_socket()

    page.page.click("#p2p-toggle")
    page.wait_for_stats("s.mode === 'http'")
    page.page.wait_for_function("() => !document.getElementById('player').paused")
    page.wait_until_playing()
    assert socket.is_closed()
    assert page.page.text_content("#p2p-toggle") == "Turn P2P on"

    again = viewer.open(watch_path(videos[0]))
    again.wait_until_playing()
    assert again.stats()["mode"] == "http" and again.tracker_sockets() == []
    again.page.click("#p2p-toggle")  # and on again: consent was given, so P2P starts
    again.wait_for_stats("s.mode === 'p2p'")
    again.wait_for_tracker_socket()


def test_without_required_consent_p2p_starts_at_once_and_the_notice_only_informs(
    new_viewer, videos, live_instance
):
    with changed_in_database(
        live_instance, "InstanceSettings", "load()", "p2p_requires_consent", False
    ):
        page = new_viewer().open(watch_path(videos[0]))
        page.wait_for_stats("s.mode === 'p2p'")
        page.wait_until_playing()
        page.wait_for_tracker_socket()
        assert page.page.is_visible("#p2p-notice")
        page.page.click("#p2p-accept")
        assert page.page.is_hidden("#p2p-notice") and page.stats()["mode"] == "p2p"
