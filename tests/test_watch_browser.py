"""Viewers on the watch and embed pages of videos without HLS (webtorrent's path) in real
Chromium, against a live instance.

A video imported before the instance made HLS has only its MP4: the page streams it over
webtorrent, which keeps pieces in the browser's storage. These tests import their own videos and
take their HLS away, which leaves them as such a video (tests/test_hls_browser.py covers the
HLS path).
"""

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from instance.demo_media import generate_demo_video
from tests.browser import chromium_available
from tests.conftest import get_json
from tests.live import remove_hls
from tests.viewer import browser, viewer_factory, watch_path  # noqa: F401 (browser: a fixture)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium"),
]

SEED_TIMEOUT_MS = 20_000
WEBTORRENT_BUNDLE = "/assets/vendor/webtorrent/webtorrent.min.js"
# Like the demo videos: (seconds, seed); the seeds differ from theirs, so do the infohashes.
WEB_VIDEOS = [(8, 20), (6, 21), (10, 22)]
DEMO_BIT_RATE = 400_000


@pytest.fixture(scope="module")
def videos(import_instance) -> list[dict]:
    """Three videos with only their MP4 (as imported before HLS), in the API's shape."""
    uuids = []
    with tempfile.TemporaryDirectory() as folder:
        for seconds, seed in WEB_VIDEOS:
            path = generate_demo_video(
                Path(folder) / f"web-{seed}.mp4", seconds=seconds, seed=seed, bit_rate=DEMO_BIT_RATE
            )
            out = import_instance.manage("import_video", str(path), "--name", f"Web video {seed}")
            uuids.append(out.split()[0])
    remove_hls(import_instance, uuids)
    return [get_json(f"{import_instance.url}/api/v1/videos/{uuid}") for uuid in uuids]


@pytest.fixture
def new_viewer(browser, import_instance) -> Iterator:  # noqa: F811
    yield from viewer_factory(browser, import_instance.url)


def loaded_webtorrent(page) -> bool:
    return page.loaded(WEBTORRENT_BUNDLE)


@contextmanager
def changed_in_database(instance, model: str, lookup: str, field_name: str, value) -> Iterator:
    """Sets one field of one row through the ORM (save(): signals fire), then restores it."""

    def run(code: str) -> str:
        return instance.manage("shell", "-c", f"from instance.models import *; {code}")

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
    assert page.tracker_sockets() == [] and not loaded_webtorrent(page)

    page.page.click("#p2p-accept")
    page.wait_for_stats("s.mode === 'p2p'")
    page.page.wait_for_function(
        "() => document.getElementById('player').currentSrc.includes('/webtorrent/')"
    )
    page.wait_until_playing()
    assert page.page.is_hidden("#p2p-notice")
    page.wait_for_tracker_socket()
    assert loaded_webtorrent(page)


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
    assert page.tracker_sockets() == [] and not loaded_webtorrent(page)
    assert first.tracker_sockets() == [] and not loaded_webtorrent(first)


@pytest.mark.parametrize("page_path", ["/videos/watch/", "/videos/embed/"])
def test_p2p_0_view_plays_over_http_with_no_tracker_socket(new_viewer, videos, page_path):
    viewer = new_viewer()
    accepted = viewer.open(watch_path(videos[0]))
    accepted.page.click("#p2p-accept")  # this viewer would use P2P, but not in this view
    accepted.wait_for_stats("s.mode === 'p2p'")
    accepted.page.close()

    page = viewer.open(f"{page_path}{videos[1]['uuid']}?p2p=0")
    # The player's modules load after the page; a play() before they set the source is aborted
    # by that load ("interrupted by a new load request").
    page.page.wait_for_function("() => document.getElementById('player').currentSrc !== ''")
    page.page.evaluate("document.getElementById('player').play()")
    page.wait_until_playing()
    assert page.stats()["mode"] == "http"
    assert page.tracker_sockets() == [] and not loaded_webtorrent(page)


def test_video_with_p2p_off_plays_over_http_with_no_tracker_socket(
    new_viewer, videos, import_instance
):
    viewer = new_viewer()
    viewer.open(watch_path(videos[0])).page.click("#p2p-accept")
    viewer.context.pages[0].close()
    uuid = videos[2]["uuid"]
    with changed_in_database(import_instance, "Video", f"objects.get(uuid='{uuid}')", "p2p", "off"):
        page = viewer.open(watch_path(videos[2]))
        page.wait_until_playing()
        assert page.stats()["mode"] == "http"
        assert page.page.is_hidden("#p2p-notice") and page.page.is_hidden("#p2p-toggle")
        assert "off for this video" in page.status()
        assert page.tracker_sockets() == [] and not loaded_webtorrent(page)


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
    new_viewer, videos, import_instance
):
    with changed_in_database(
        import_instance, "InstanceSettings", "load()", "p2p_requires_consent", False
    ):
        page = new_viewer().open(watch_path(videos[0]))
        page.wait_for_stats("s.mode === 'p2p'")
        page.wait_until_playing()
        page.wait_for_tracker_socket()
        assert page.page.is_visible("#p2p-notice")
        page.page.click("#p2p-accept")
        assert page.page.is_hidden("#p2p-notice") and page.stats()["mode"] == "p2p"
