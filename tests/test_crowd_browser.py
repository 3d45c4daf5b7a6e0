"""The crowd threshold on the watch page, in real Chromium: below N the page says when P2P
starts and plays from the server with no byte from a peer; from N on two viewers exchange bytes
over WebRTC.

Every browser context connects from 127.0.0.1, one address, which the threshold would count
once. So this instance trusts 127.0.0.1 as a reverse proxy and each viewer's context sends its
own X-Forwarded-For (127.0.0.21, .22...), as viewers behind a proxy are told apart; Chromium
sends a context's extra headers on its WebSocket upgrades too.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium, chromium_available, new_peer_context
from tests.conftest import get_json
from tests.live import LiveInstance, remove_hls
from tests.test_watch_browser import SEED_TIMEOUT_MS, changed_in_database
from tests.viewer import Viewer, watch_path

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium"),
]

LINE = "#p2p-crowd"
SCREENS = Path("/tmp/peerveil-screens")


@pytest.fixture(scope="module")
def proxied_instance(tmp_path_factory):
    live = LiveInstance(
        tmp_path_factory.mktemp("crowd-browser"),
        settings={"PEERVEIL_TRUSTED_PROXIES": "127.0.0.1/32"},
    )
    live.manage("migrate", "--noinput")
    live.manage("create_demo_content")
    live.start("--no-worker")
    # The webtorrent path, whose page stats count a whole file's progress; the HLS swarms are
    # held to the same threshold in the tracker (tests/test_core_crowd.py).
    remove_hls(live, [video["uuid"] for video in get_json(f"{live.url}/api/v1/videos")["data"]])
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def viewer_from(browser, proxied_instance) -> Iterator:
    contexts = []

    def viewer_from(address: str) -> Viewer:
        context = new_peer_context(browser, proxied_instance.url)
        context.set_extra_http_headers({"X-Forwarded-For": address})
        contexts.append(context)
        return Viewer(context, proxied_instance.url)

    yield viewer_from
    for context in contexts:
        context.close()


def threshold(live, video: dict, n: int):
    """The video's own threshold, saved as the panel saves it (the tracker reloads it)."""
    return changed_in_database(
        live, "Video", f"objects.get(uuid='{video['uuid']}')", "p2p_min_viewers", n
    )


def crowd_of(live, video: dict) -> dict:
    return get_json(f"{live.url}/api/v1/videos/{video['uuid']}/crowd")


def wait_for_viewers(live, video: dict, viewers: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while crowd_of(live, video)["viewers"] != viewers:
        if time.monotonic() > deadline:
            raise AssertionError(f"the tracker never counted {viewers}: {crowd_of(live, video)}")
        time.sleep(0.1)


def test_below_n_the_page_says_when_p2p_starts_and_plays_from_the_server(
    proxied_instance, viewer_from
):
    live = proxied_instance
    video = get_json(f"{live.url}/api/v1/videos")["data"][0]
    with threshold(live, video, 3):
        first = viewer_from("127.0.0.21").open(watch_path(video))
        first.page.click("#p2p-accept")
        line = first.page.text_content(LINE)
        assert line == "P2P starts when 3 people watch this video (now: 0)"
        first.wait_for_stats("s.mode === 'p2p' && s.http > 0")
        first.wait_until_playing()
        # The webseed may play before the tracker socket's first announce is in.
        wait_for_viewers(live, video, 1)

        second = viewer_from("127.0.0.22").open(watch_path(video))
        second.page.click("#p2p-accept")
        # The first viewer counts: rendered with the page, from the tracker of this process.
        assert (
            second.page.text_content(LINE) == "P2P starts when 3 people watch this video (now: 1)"
        )
        second.wait_for_stats("s.mode === 'p2p' && s.progress === 1")
        second.wait_until_playing(1.0)
        assert crowd_of(live, video) == {"threshold": 3, "viewers": 2, "reached": False}
        # The line refreshes (crowd.js) and counts both; no byte came from a peer.
        first.page.wait_for_function(
            "() => document.getElementById('p2p-crowd').textContent.endsWith('(now: 2)')"
        )
        for viewer in (first, second):
            stats = viewer.stats()
            assert stats["p2p"] == 0 and stats["peers"] == 0, viewer.diagnostics()
            assert stats["http"] > 0
        SCREENS.mkdir(parents=True, exist_ok=True)
        first.page.screenshot(path=str(SCREENS / "watch-below-threshold.png"), full_page=True)


def test_from_n_on_two_viewers_exchange_bytes_over_p2p(proxied_instance, viewer_from):
    live = proxied_instance
    video = get_json(f"{live.url}/api/v1/videos")["data"][1]
    with threshold(live, video, 2):
        first = viewer_from("127.0.0.31").open(watch_path(video))
        first.page.click("#p2p-accept")
        assert first.page.is_visible(LINE)
        first.wait_for_stats("s.mode === 'p2p' && s.progress === 1", SEED_TIMEOUT_MS)
        first.wait_until_playing()

        second = viewer_from("127.0.0.32").open(watch_path(video))
        second.page.click("#p2p-accept")
        got = second.wait_for_stats("s.mode === 'p2p' && s.p2p > 0 && s.peers >= 1")
        second.wait_until_playing(1.0)
        assert first.stats()["up"] > 0
        assert crowd_of(live, video) == {"threshold": 2, "viewers": 2, "reached": True}
        second.page.wait_for_function(
            "() => document.getElementById('p2p-crowd').dataset.reached === 'true'"
        )
        assert second.page.text_content(LINE) == (
            "P2P is on: 2 people watch this video (it starts from 2)"
        )
        print(f"second viewer: {got['p2p']} bytes from its peer, {got['http']} from the server")


def test_without_a_threshold_the_page_has_no_line(proxied_instance, viewer_from):
    video = get_json(f"{proxied_instance.url}/api/v1/videos")["data"][2]
    page = viewer_from("127.0.0.41").open(watch_path(video))
    page.wait_until_playing()
    assert page.page.locator(LINE).count() == 0
