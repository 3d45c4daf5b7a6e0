"""Real WebTorrent peers (headless Chromium, webtorrent 2.8.5) against the live /tracker/socket.

Two browser contexts are two peers. The tracker is private: a browser can only join the swarm of
a catalogue video, so the seeder rebuilds the catalogue's torrent from the video's bytes.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser import PeerPage, chromium, chromium_available, new_peer_context, open_test_page
from tests.conftest import get_json
from tracker.core import bdecode

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium"),
]

UNKNOWN_INFOHASH = "Unknown infoHash"
# Loopback transfers of a few MB take about a second; these only bound a failure.
DOWNLOAD_TIMEOUT_MS = 20_000
TRACKER_REPLY_TIMEOUT_MS = 5_000


@dataclass(frozen=True)
class CatalogueFile:
    info_hash: str
    name: str
    piece_length: int
    data: bytes


@pytest.fixture(scope="module")
def catalogue_file(live_instance) -> CatalogueFile:
    """A demo video's bytes and the name and piece length of its catalogue torrent."""
    video_file = get_json(f"{live_instance.url}/api/v1/videos")["data"][0]["files"][0]
    data = httpx.get(video_file["fileUrl"], timeout=10).raise_for_status().content
    torrent = bdecode(httpx.get(video_file["torrentUrl"], timeout=10).raise_for_status().content)
    info = torrent[b"info"]
    # webtorrent's seed() writes exactly these keys: anything more (say `private`) could not be
    # reproduced by a browser, and its infohash would differ.
    assert set(info) == {b"length", b"name", b"piece length", b"pieces"}
    assert info[b"length"] == len(data) == video_file["size"]
    name = info[b"name"].decode()
    assert name == urlsplit(video_file["fileUrl"]).path.rsplit("/", 1)[-1]
    return CatalogueFile(video_file["infoHash"], name, info[b"piece length"], data)


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def open_peer(browser, live_instance) -> Iterator:
    """Opens the test page in a fresh browser context: each call is one more peer."""
    contexts = []

    def open_peer() -> PeerPage:
        context = new_peer_context(browser, live_instance.url)
        contexts.append(context)
        return open_test_page(context, f"{live_instance.url}/tracker/test-page")

    yield open_peer
    for context in contexts:
        context.close()


def record_requests(peer: PeerPage) -> list[str]:
    """A list that fills with the URL of every HTTP request the page makes from now on."""
    urls: list[str] = []
    peer.page.on("request", lambda request: urls.append(request.url))
    return urls


def diagnostics(*peers: PeerPage) -> str:
    lines = []
    for number, peer in enumerate(peers):
        lines.append(f"peer {number}: status {peer.status()}")
        lines += [f"  warning: {w['message']}" for w in peer.tracker_warnings()]
        lines += [f"  {d}: {p[:200]!r}" for d, _, p in peer.log.frames[-20:]]
        lines += [f"  page error: {e}" for e in peer.log.errors]
    return "\n".join(lines)


def test_two_browsers_exchange_a_catalogue_video_over_webrtc_with_only_the_websocket_tracker(
    live_instance, catalogue_file, open_peer
):
    tracker = live_instance.ws_tracker
    seeder, leecher = open_peer(), open_peer()

    seeded = seeder.seed_bytes(
        catalogue_file.name,
        catalogue_file.data,
        [tracker],
        pieceLength=catalogue_file.piece_length,
    )
    # The browser rebuilt the very torrent of the catalogue, so the private tracker admits it.
    assert seeded["infoHash"] == catalogue_file.info_hash
    try:
        seeder.wait_for_tracker_reply(seeded["infoHash"], TRACKER_REPLY_TIMEOUT_MS)
    except Exception as error:
        raise AssertionError(f"no announce reply:\n{diagnostics(seeder)}") from error

    # A bare magnet: no webseed, no .torrent URL, no tracker but ours. Metadata and bytes can
    # only come from the seeder, through an offer and answer relayed by /tracker/socket.
    leecher_requests = record_requests(leecher)
    magnet = f"magnet:?xt=urn:btih:{catalogue_file.info_hash}"
    try:
        got = leecher.download(magnet, [tracker], timeoutMs=DOWNLOAD_TIMEOUT_MS)
    except Exception as error:
        raise AssertionError(f"{error}\n{diagnostics(seeder, leecher)}") from error

    assert got["infoHash"] == catalogue_file.info_hash
    assert got["name"] == catalogue_file.name
    assert got["sha1"] == hashlib.sha1(catalogue_file.data).hexdigest()
    assert got["wireTypes"] and set(got["wireTypes"]) == {"webrtc"}
    assert got["downloaded"] >= len(catalogue_file.data)
    assert leecher_requests == []
    assert set(seeder.log.websockets) == set(leecher.log.websockets) == {tracker}
    # The tracker only signalled: the seeder's answer to one of the leecher's offers came
    # through it, and no peer list (no address) ever did.
    received = [json.loads(frame) for frame in leecher.log.received(tracker)]
    assert any("answer" in frame for frame in received)
    assert not any("peers" in frame or "failure reason" in frame for frame in received)


def test_browser_announcing_an_unknown_infohash_receives_the_failure_reason(
    open_peer, live_instance
):
    tracker = live_instance.ws_tracker
    peer = open_peer()
    seeded = peer.seed_random("not-in-the-catalogue.bin", 64 * 1024, [tracker])

    try:
        warnings = peer.wait_for_warning(UNKNOWN_INFOHASH, TRACKER_REPLY_TIMEOUT_MS)
    except Exception as error:
        raise AssertionError(f"no refusal:\n{diagnostics(peer)}") from error

    assert any(
        w["infoHash"] == seeded["infoHash"] and UNKNOWN_INFOHASH in w["message"] for w in warnings
    )
    failures = [json.loads(frame) for frame in peer.log.received(tracker)]
    failures = [f for f in failures if "failure reason" in f]
    assert failures
    for failure in failures:
        assert failure["failure reason"] == UNKNOWN_INFOHASH
        assert failure["action"] == "announce"
        assert failure["info_hash"].encode("latin-1").hex() == seeded["infoHash"]
    # Refused, not admitted: the page never got an announce reply for it.
    assert seeded["infoHash"] not in peer.page.evaluate("window.trackerAnnounces")
