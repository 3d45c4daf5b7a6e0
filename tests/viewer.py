"""Viewers of the watch and embed pages in real Chromium: what a page did and how it plays.

Each browser context is one viewer with its own storage (the page keeps the viewer's P2P choice
in localStorage). "Plays" means the picture decodes (videoWidth > 0) and currentTime advances (a
media clock alone can run without a decoded frame).
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import BrowserContext, Page, Response, WebSocket

from tests.browser import PageLog, chromium, new_peer_context, watch_page

# Loopback playback starts within about a second (measured in Chromium); these only bound a failure.
PLAY_TIMEOUT_MS = 15_000
TRACKER_SOCKET = "/tracker/socket"

READ_STATS = """() => {
  const d = document.getElementById("p2p-stats").dataset;
  return {mode: d.mode, progress: Number(d.progress), peers: Number(d.peers),
          p2p: Number(d.bytesP2p), http: Number(d.bytesHttp), up: Number(d.bytesUp),
          rejected: Number(d.rejected)};
}"""
READ_VIDEO = """() => { const v = document.getElementById("player");
  return {src: v.currentSrc, time: v.currentTime, duration: v.duration, width: v.videoWidth,
          ended: v.ended, paused: v.paused, error: v.error && v.error.message,
          ready: v.readyState, frames: v.getVideoPlaybackQuality().totalVideoFrames}; }"""


@dataclass
class ViewerPage:
    page: Page
    log: PageLog
    sockets: list[WebSocket] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    def stats(self) -> dict:
        return self.page.evaluate(READ_STATS)

    def video(self) -> dict:
        return self.page.evaluate(READ_VIDEO)

    def tracker_sockets(self) -> list[WebSocket]:
        return [ws for ws in self.sockets if TRACKER_SOCKET in ws.url]

    def wait_for_tracker_socket(self, timeout_ms: float = PLAY_TIMEOUT_MS) -> WebSocket:
        deadline = time.monotonic() + timeout_ms / 1000
        while not self.tracker_sockets():
            if time.monotonic() > deadline:
                raise AssertionError(f"no tracker socket: {self.diagnostics()}")
            self.page.wait_for_timeout(50)
        return self.tracker_sockets()[-1]

    def loaded(self, url_part: str) -> bool:
        return any(url_part in url for url in self.requests)

    def wait_for_stats(self, condition: str, timeout_ms: float = PLAY_TIMEOUT_MS) -> dict:
        """Until `condition`, a JS expression over `s` (the stats), holds."""
        try:
            self.page.wait_for_function(f"(s => {condition})(({READ_STATS})())", timeout=timeout_ms)
        except Exception as error:
            raise AssertionError(f"stats never met {condition}: {self.diagnostics()}") from error
        return self.stats()

    def wait_for_video(self, condition: str, timeout_ms: float = PLAY_TIMEOUT_MS) -> dict:
        """Until `condition`, a JS expression over `v` (READ_VIDEO's fields), holds."""
        try:
            self.page.wait_for_function(f"(v => {condition})(({READ_VIDEO})())", timeout=timeout_ms)
        except Exception as error:
            raise AssertionError(
                f"the video never met {condition}: {self.diagnostics()}"
            ) from error
        return self.video()

    def wait_until_playing(
        self, seconds: float = 0.5, timeout_ms: float = PLAY_TIMEOUT_MS
    ) -> float:
        """Until the picture decodes and currentTime advanced `seconds`; returns currentTime."""
        start = self.video()["time"]
        state = self.wait_for_video(f"v.width > 0 && v.time >= {start + seconds}", timeout_ms)
        return state["time"]

    def diagnostics(self) -> str:
        details = {"video": self.video(), "stats": self.stats(), "status": self.status()}
        return json.dumps(details) + "\n" + "\n".join(self.log.console + self.log.errors)

    def status(self) -> str:
        return self.page.text_content("#p2p-status") or ""


@dataclass
class Viewer:
    """One person's browser: pages opened here share localStorage and the HTTP cache."""

    context: BrowserContext
    base_url: str

    def open(self, path: str) -> ViewerPage:
        page = self.context.new_page()
        viewer_page = ViewerPage(page, watch_page(page))
        page.on("websocket", lambda ws: viewer_page.sockets.append(ws))
        page.on("request", lambda request: viewer_page.requests.append(request.url))
        page.on("response", lambda response: viewer_page.responses.append(response))
        page.goto(f"{self.base_url}{path}")
        return viewer_page


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def viewer_factory(browser, base_url: str) -> Iterator:
    """new_viewer() for a test; closes the viewers' contexts afterwards."""
    contexts = []

    def new_viewer() -> Viewer:
        context = new_peer_context(browser, base_url)
        contexts.append(context)
        return Viewer(context, base_url)

    yield new_viewer
    for context in contexts:
        context.close()


def watch_path(video: dict, query: str = "") -> str:
    return f"/videos/watch/{video['uuid']}{query}"
