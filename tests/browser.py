"""Headless Chromium for end-to-end tests: launch flags, peer contexts, the WebTorrent test page.

Uses Debian's Chromium at /usr/bin/chromium through Playwright's sync API; Playwright never
downloads a browser here. Two browser contexts of one browser are two WebTorrent peers.

    with chromium() as browser:
        page_url = f"{live.url}/tracker/test-page"
        seeder = open_test_page(new_peer_context(browser, live.url), page_url)
        leecher = open_test_page(new_peer_context(browser, live.url), page_url)
        seeded = seeder.seed_random("f.bin", 2**21, [live.ws_tracker])
        got = leecher.download(seeded["magnetURI"], [live.ws_tracker])
        assert got["sha1"] == seeded["sha1"] and "webrtc" in got["wireTypes"]

The page's JavaScript API is described in templates/tracker/webtorrent_test.html.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    WebSocket,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")

# Playwright (1.65) passes its own --disable-features switch, and Chromium honours only the last
# such switch: drop Playwright's and pass one that lists its features and ours. Should a later
# Playwright change its list, its switch stays but ours still comes last and wins.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)
# ICE candidates with real loopback addresses instead of mDNS names nobody resolves here.
DISABLED_FEATURES = (*PLAYWRIGHT_DISABLED_FEATURES, "WebRtcHideLocalIpsWithMdns")

CHROMIUM_ARGS = (
    "--no-sandbox",  # tests run as root
    "--allow-loopback-in-peer-connection",
    "--disable-features=" + ",".join(DISABLED_FEATURES),
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)
IGNORED_DEFAULT_ARGS = ("--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES),)

# With only loopback, Chromium gathers no ICE candidates unless the origin may use these.
PEER_PERMISSIONS = ("camera", "microphone")

PAGE_READY_TIMEOUT_MS = 15_000


def chromium_available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


# A viewer's browser as on the internet: host candidates hidden behind mDNS names (Chromium's
# default), so only a STUN server's answer lets two viewers on different networks connect.
INTERNET_CHROMIUM_ARGS = (
    *(arg for arg in CHROMIUM_ARGS if not arg.startswith(("--disable-features=", "--allow-loop"))),
    "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES),
)


def launch_chromium(
    playwright: Playwright,
    *,
    headless: bool = True,
    extra_args: Sequence[str] = (),
    executable: Path = CHROMIUM,
    as_on_the_internet: bool = False,
) -> Browser:
    """Debian's headless Chromium with the flags WebRTC between local contexts needs, or
    (`as_on_the_internet`) with Chromium's own defaults for ICE. `executable` may be a wrapper
    that runs /usr/bin/chromium elsewhere (in a network namespace)."""
    if not chromium_available():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    for arg in extra_args:
        if arg.startswith("--disable-features="):
            raise ValueError("add features to DISABLED_FEATURES: Chromium honours one switch only")
    return playwright.chromium.launch(
        executable_path=str(executable),
        headless=headless,
        args=[*(INTERNET_CHROMIUM_ARGS if as_on_the_internet else CHROMIUM_ARGS), *extra_args],
        ignore_default_args=list(IGNORED_DEFAULT_ARGS),
    )


@contextmanager
def chromium(*, headless: bool = True, extra_args: Sequence[str] = ()) -> Iterator[Browser]:
    """A browser for the length of the block (Playwright's sync API: not inside an event loop)."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, headless=headless, extra_args=extra_args)
        try:
            yield browser
        finally:
            browser.close()


def new_peer_context(browser: Browser, origin: str) -> BrowserContext:
    """A fresh context (its own storage: one peer) that may gather ICE candidates on `origin`."""
    context = browser.new_context()
    context.grant_permissions(list(PEER_PERMISSIONS), origin=origin.rstrip("/"))
    return context


@dataclass
class PageLog:
    """What a page did: WebSocket URLs it opened, tracker frames, console lines, page errors."""

    websockets: list[str] = field(default_factory=list)
    frames: list[tuple[str, str, str]] = field(default_factory=list)  # (direction, url, payload)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def received(self, url_prefix: str = "") -> list[str]:
        return [p for d, u, p in self.frames if d == "received" and u.startswith(url_prefix)]

    def sent(self, url_prefix: str = "") -> list[str]:
        return [p for d, u, p in self.frames if d == "sent" and u.startswith(url_prefix)]


def watch_page(page: Page, *, frames: bool = True) -> PageLog:
    """Start recording `page` (before it navigates, to see every socket)."""
    log = PageLog()

    def on_websocket(ws: WebSocket) -> None:
        log.websockets.append(ws.url)
        if frames:
            ws.on("framesent", lambda payload: log.frames.append(("sent", ws.url, _text(payload))))
            ws.on(
                "framereceived",
                lambda payload: log.frames.append(("received", ws.url, _text(payload))),
            )

    def on_console(message: ConsoleMessage) -> None:
        log.console.append(f"{message.type}: {message.text}")

    page.on("websocket", on_websocket)
    page.on("console", on_console)
    page.on("pageerror", lambda error: log.errors.append(str(error)))
    return log


def collect_websockets(page: Page) -> list[str]:
    """A list that fills with the URL of every WebSocket the page opens from now on."""
    urls: list[str] = []
    page.on("websocket", lambda ws: urls.append(ws.url))
    return urls


@dataclass
class PeerPage:
    page: Page
    log: PageLog

    def call(self, function: str, *args: Any) -> Any:
        """Await `window[function](...args)` in the page and return its JSON result."""
        return self.page.evaluate("([name, args]) => window[name](...args)", [function, list(args)])

    def seed_random(self, name: str, size: int, announce: Sequence[str], **options: Any) -> dict:
        """`options` go to webtorrent's seed() (e.g. pieceLength) and the page (timeoutMs)."""
        return self.call("seedRandom", name, size, list(announce), options)

    def seed_bytes(self, name: str, data: bytes, announce: Sequence[str], **options: Any) -> dict:
        """`options` go to webtorrent's seed() (e.g. pieceLength) and the page (timeoutMs)."""
        encoded = base64.b64encode(data).decode()
        return self.call("seedBytes", name, encoded, list(announce), options)

    def download(self, torrent_id: str, announce: Sequence[str], **options: Any) -> dict:
        return self.call("download", torrent_id, list(announce), options)

    def tracker_warnings(self) -> list[dict]:
        return self.page.evaluate("window.trackerWarnings")

    def wait_for_tracker_reply(self, info_hash: str, timeout_ms: float = 5_000) -> None:
        """Until a tracker has answered an announce of `info_hash` (hex) from this page."""
        self.page.wait_for_function(
            "(h) => (window.trackerAnnounces[h] || 0) > 0", arg=info_hash, timeout=timeout_ms
        )

    def wait_for_warning(self, text: str, timeout_ms: float = 5_000) -> list[dict]:
        """Until a warning or error whose message contains `text` arrives; returns them all."""
        self.page.wait_for_function(
            "(t) => window.trackerWarnings.some((w) => w.message.includes(t))",
            arg=text,
            timeout=timeout_ms,
        )
        return self.tracker_warnings()

    def status(self) -> list[dict]:
        return self.page.evaluate("window.torrentStatus()")


def open_test_page(context: BrowserContext, url: str, *, frames: bool = True) -> PeerPage:
    """Open the WebTorrent test page in `context` and wait until its API is on `window`."""
    page = context.new_page()
    log = watch_page(page, frames=frames)
    page.goto(url)
    try:
        page.wait_for_function("window.webtorrentReady === true", timeout=PAGE_READY_TIMEOUT_MS)
    except Exception as error:
        details = "\n".join([*log.errors, *log.console]) or "no console output"
        raise RuntimeError(f"test page {url} did not get ready:\n{details}") from error
    return PeerPage(page=page, log=log)


def _text(payload: str | bytes) -> str:
    return payload if isinstance(payload, str) else payload.decode("latin-1")
