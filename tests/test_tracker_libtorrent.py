"""A classic BitTorrent client, libtorrent, against the live tracker's HTTP announce.

Two libtorrent sessions in this process, each on its own loopback address, meet through
/tracker/announce only: the torrents they get have the HTTP tracker and nothing else (no
WebSocket tracker, which libtorrent cannot use, no web seed, no DHT, LSD or port mapping), so
every byte the downloader has came from the other session.
"""

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import libtorrent as lt
import orjson
import pytest
from websockets.sync.client import connect

from tests.conftest import get_json

pytestmark = pytest.mark.e2e

DEADLINE = 60.0  # seconds; each step normally takes well under one
SEEDER_ADDRESS = "127.0.0.2"
# The unknown-infohash test's own address: the others have asked about two videos already, and
# a third new one at once is refused by the guard (video_burst) before the tracker reads it.
PROBER_ADDRESS = "127.0.0.5"
DOWNLOADER_ADDRESS = "127.0.0.3"
ANNOUNCER_ADDRESS = "127.0.0.4"
WEB_PEER_ID = b"-WW0208-LTWEBPEER001"
ANNOUNCER_PEER_ID = b"-PV0001-LTANNOUNCER1"
ALERTS = (
    lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.tracker
    | lt.alert_category.connect
    | lt.alert_category.peer
    | lt.alert_category.storage
)
# Loopback would move the file in milliseconds, faster than the peer lists can be watched.
SEEDER_LIMITS = {"upload_rate_limit": 4_000_000, "ignore_limits_on_local_network": False}


class Client:
    """One libtorrent session listening on `address`, with every alert kept for diagnostics."""

    def __init__(self, name: str, address: str, save_path: Path, **settings: object) -> None:
        self.name = name
        self.save_path = save_path
        self.save_path.mkdir(parents=True, exist_ok=True)
        self.session = lt.session(
            {
                "listen_interfaces": f"{address}:0",
                # Peer connections from that address too (the tracker's announce already is).
                "outgoing_interfaces": address,
                "enable_dht": False,
                "enable_lsd": False,
                "enable_upnp": False,
                "enable_natpmp": False,
                # Both sessions are on this host.
                "allow_multiple_connections_per_ip": True,
                # TCP only: one transport to reason about on failure.
                "enable_incoming_utp": False,
                "enable_outgoing_utp": False,
                # On: libtorrent refuses a loopback tracker whose path is not /announce.
                "ssrf_mitigation": False,
                "stop_tracker_timeout": 2,
                "alert_mask": ALERTS,
                **settings,
            }
        )
        self.log: list[str] = []
        # Copied out of the alerts, which are freed on the next pop_alerts().
        self.replies: list[int] = []  # peers listed in each tracker reply
        self.tracker_errors: list[str] = []  # each failure reason the tracker sent
        self.endpoint: tuple[str, int] | None = None
        self.handle: lt.torrent_handle | None = None

    def poll(self) -> None:
        for alert in self.session.pop_alerts():
            self.log.append(f"{self.name} {alert.what()}: {alert.message()}")
            if isinstance(alert, lt.tracker_reply_alert):
                self.replies.append(alert.num_peers)
            elif isinstance(alert, lt.tracker_error_alert):
                self.tracker_errors.append(alert.failure_reason())
            elif isinstance(alert, lt.listen_succeeded_alert):
                self.endpoint = (alert.address, alert.port)

    def add(self, torrent: lt.torrent_info) -> lt.torrent_handle:
        params = lt.add_torrent_params()
        params.ti = torrent
        params.save_path = str(self.save_path)
        self.handle = self.session.add_torrent(params)
        # What the session uses: no web seed, and the torrent's one tracker.
        assert self.handle.url_seeds() == []
        (tracker,) = self.handle.trackers()
        assert tracker["url"].startswith("http://"), tracker["url"]
        assert tracker["url"].endswith("/tracker/announce"), tracker["url"]
        return self.handle

    def peers(self) -> list[tuple[str, int]]:
        return [tuple(peer.ip) for peer in self.handle.get_peer_info()] if self.handle else []

    def describe(self) -> str:
        lines = [f"{self.name}: listening on {self.endpoint}"]
        if self.handle:
            status = self.handle.status()
            lines.append(
                f"{self.name}: state={status.state} progress={status.progress:.3f}"
                f" peers={status.num_peers} seeds={status.num_seeds}"
                f" down={status.total_payload_download} up={status.total_payload_upload}"
                f" peer list={self.peers()} current tracker={status.current_tracker!r}"
            )
        return "\n".join(lines + self.log[-40:])


@contextmanager
def clients(tmp_path: Path, *specs: tuple[str, str, dict]) -> Iterator[list[Client]]:
    started = [Client(name, address, tmp_path / name, **extra) for name, address, extra in specs]
    try:
        wait_until(started, lambda: all(client.endpoint for client in started), "listening")
        yield started
    finally:
        for client in started:
            if client.handle:
                # Sends the "stopped" announce; the session waits for it on shutdown.
                client.session.remove_torrent(client.handle)
        for client in started:
            del client.session


def wait_until(watched: list[Client], condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        for client in watched:
            client.poll()
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"not {what} after {DEADLINE:.0f} s:\n" + "\n".join(c.describe() for c in watched))


# The catalogue and the tracker


def demo_file(live_instance, index: int) -> dict:
    """A demo video's file; each test takes its own video, so swarms do not mix."""
    return get_json(f"{live_instance.url}/api/v1/videos")["data"][index]["files"][0]


def announce_url(live_instance) -> str:
    return f"{live_instance.url}/tracker/announce"


def tracker_only(torrent_bytes: bytes, tracker: str) -> lt.torrent_info:
    """The same torrent (same info dictionary, same infohash) with only the HTTP tracker."""
    metainfo = lt.bdecode(torrent_bytes)
    assert [tracker] in [[url.decode() for url in tier] for tier in metainfo[b"announce-list"]]
    return lt.torrent_info(lt.bencode({b"announce": tracker.encode(), b"info": metainfo[b"info"]}))


def seeded_torrent(live_instance, video_file: dict, seeder: Client) -> lt.torrent_info:
    torrent = tracker_only(httpx.get(video_file["torrentUrl"]).content, announce_url(live_instance))
    assert str(torrent.info_hash()) == video_file["infoHash"]
    content = httpx.get(video_file["fileUrl"]).content
    assert len(content) == video_file["size"] == torrent.total_size()
    (seeder.save_path / torrent.name()).write_bytes(content)
    return torrent


def seeder_and_downloader(tmp_path: Path):
    return clients(
        tmp_path,
        ("seeder", SEEDER_ADDRESS, SEEDER_LIMITS),
        ("downloader", DOWNLOADER_ADDRESS, {}),
    )


def start_seeding(seeder: Client, torrent: lt.torrent_info) -> None:
    """Add the torrent to the seeder, which checks its file, and wait for the tracker's reply."""
    handle = seeder.add(torrent)
    wait_until([seeder], lambda: handle.status().is_seeding, "seeding after the check")
    wait_until([seeder], lambda: seeder.replies, "answered by the tracker")


def download(seeder: Client, downloader: Client, torrent: lt.torrent_info) -> dict:
    """Add the torrent to the downloader and wait until it has it all; returns, for each
    session, every peer it had while downloading ((address, port) -> peer_info.source)."""
    handle = downloader.add(torrent)
    wait_until([downloader], lambda: downloader.replies, "answered by the tracker")
    # The first reply already lists the seeder: no waiting for a re-announce.
    assert downloader.replies[0] == 1, downloader.describe()
    seen: dict[str, dict[tuple[str, int], int]] = {"seeder": {}, "downloader": {}}

    def done() -> bool:
        for client in (seeder, downloader):
            for peer in client.handle.get_peer_info():
                seen[client.name][tuple(peer.ip)] = peer.source
        return handle.status().is_seeding

    wait_until([seeder, downloader], done, "done downloading")
    return seen


def http_get(live_instance, path: str, query: str, source: str = ANNOUNCER_ADDRESS) -> dict:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport) as client:
        response = client.get(f"{live_instance.url}{path}?{query}")
    assert response.status_code == 200
    return lt.bdecode(response.content)


def announce(live_instance, info_hash: bytes, **params: object) -> dict:
    query = f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(ANNOUNCER_PEER_ID)}"
    query += "".join(f"&{key}={value}" for key, value in params.items())
    return http_get(live_instance, "/tracker/announce", query)


def scrape(live_instance, info_hash: bytes) -> dict:
    return http_get(live_instance, "/tracker/scrape", f"info_hash={quote_from_bytes(info_hash)}")


def counts(live_instance, info_hash: bytes) -> dict:
    files = scrape(live_instance, info_hash)[b"files"]
    return {key.decode(): value for key, value in files[info_hash].items()}


def compact_peers(blob: bytes) -> set[tuple[str, int]]:
    assert len(blob) % 6 == 0
    return {
        (".".join(str(byte) for byte in blob[at : at + 4]), int.from_bytes(blob[at + 4 : at + 6]))
        for at in range(0, len(blob), 6)
    }


@contextmanager
def web_peer(live_instance, info_hash: bytes) -> Iterator[dict]:
    """A WebSocket (webtorrent) seeder in the swarm while the block runs; yields its reply."""
    with connect(live_instance.ws_tracker) as socket:
        socket.send(
            orjson.dumps(
                {
                    "action": "announce",
                    "event": "started",
                    "info_hash": info_hash.decode("latin-1"),
                    "peer_id": WEB_PEER_ID.decode("latin-1"),
                    "numwant": 0,
                    "left": 0,
                    "offers": [],
                }
            ).decode()
        )
        reply = orjson.loads(socket.recv(timeout=5))
        assert "failure reason" not in reply, reply
        yield reply


# The tests


def test_libtorrent_peers_find_each_other_through_http_announce_and_transfer_the_video(
    live_instance, tmp_path
):
    video_file = demo_file(live_instance, 1)
    info_hash = bytes.fromhex(video_file["infoHash"])
    before = counts(live_instance, info_hash)
    with seeder_and_downloader(tmp_path) as (seeder, downloader):
        torrent = seeded_torrent(live_instance, video_file, seeder)
        start_seeding(seeder, torrent)
        assert counts(live_instance, info_hash)["complete"] == before["complete"] + 1

        started = time.monotonic()
        seen = download(seeder, downloader, torrent)
        elapsed = time.monotonic() - started
        # Its one peer, learnt from the tracker, is where the downloader got its bytes from.
        assert list(seen["downloader"]) == [seeder.endpoint]
        assert seen["downloader"][seeder.endpoint] & lt.peer_info.tracker
        downloaded = (downloader.save_path / torrent.name()).read_bytes()
        assert downloaded == httpx.get(video_file["fileUrl"]).content
        assert downloader.handle.status().total_payload_download >= video_file["size"]
        assert seeder.handle.status().total_payload_upload >= video_file["size"]

        # The downloader's "completed" announce: one more download, and two seeds.
        wait_until(
            [seeder, downloader],
            lambda: counts(live_instance, info_hash)["downloaded"] == before["downloaded"] + 1,
            "counted as a completed download",
        )
        assert counts(live_instance, info_hash)["complete"] == before["complete"] + 2
        print(f"downloaded {len(downloaded)} bytes from the peer in {elapsed:.2f} s")
    # Both sessions sent "stopped" on the way out: the swarm is as it was.
    after = counts(live_instance, info_hash)
    assert (after["complete"], after["incomplete"]) == (before["complete"], before["incomplete"])


def test_web_peers_are_counted_but_never_listed_to_libtorrent_or_http_announces(
    live_instance, tmp_path
):
    video_file = demo_file(live_instance, 2)
    info_hash = bytes.fromhex(video_file["infoHash"])
    before = counts(live_instance, info_hash)
    with (
        web_peer(live_instance, info_hash) as web_reply,
        seeder_and_downloader(tmp_path) as (seeder, downloader),
    ):
        assert web_reply["complete"] == before["complete"] + 1
        torrent = seeded_torrent(live_instance, video_file, seeder)
        start_seeding(seeder, torrent)

        # A plain HTTP announce sees the web peer counted, and only the seeder listed.
        leecher = {"port": 6881, "uploaded": 0, "downloaded": 0, "left": video_file["size"]}
        compact = announce(
            live_instance, info_hash, **leecher, event="started", numwant=50, compact=1
        )
        assert compact[b"complete"] == before["complete"] + 2  # the web peer and the seeder
        assert compact[b"incomplete"] == before["incomplete"] + 1  # this announcer
        assert compact_peers(compact[b"peers"]) == {seeder.endpoint}
        assert compact.get(b"peers6", b"") == b""
        listed = announce(live_instance, info_hash, **leecher, numwant=50, compact=0)
        assert (listed[b"complete"], listed[b"incomplete"]) == (
            compact[b"complete"],
            compact[b"incomplete"],
        )
        assert [(peer[b"ip"].decode(), peer[b"port"]) for peer in listed[b"peers"]] == [
            seeder.endpoint
        ]
        assert WEB_PEER_ID not in [peer[b"peer id"] for peer in listed[b"peers"]]
        announce(live_instance, info_hash, **leecher, event="stopped")

        # libtorrent is told of the seeder alone, and the two sessions see only each other.
        seen = download(seeder, downloader, torrent)
        assert list(seen["downloader"]) == [seeder.endpoint]
        # The seeder sees the downloader's connection: its address, from another port.
        assert [address for address, _ in seen["seeder"]] == [DOWNLOADER_ADDRESS]
        assert counts(live_instance, info_hash)["complete"] == before["complete"] + 3


def test_libtorrent_announcing_an_unknown_infohash_gets_unknown_infohash(live_instance, tmp_path):
    content = tmp_path / "client" / "not-in-the-catalogue.bin"
    content.parent.mkdir()
    content.write_bytes(hashlib.sha256(str(tmp_path).encode()).digest() * 4096)
    creator = lt.create_torrent(lt.list_files(str(content)), 16384)
    creator.add_tracker(announce_url(live_instance))
    lt.set_piece_hashes(creator, str(content.parent))
    torrent = lt.torrent_info(lt.bencode(creator.generate()))
    info_hash = bytes.fromhex(str(torrent.info_hash()))

    with clients(tmp_path, ("client", PROBER_ADDRESS, {})) as (client,):
        client.add(torrent)
        wait_until([client], lambda: client.tracker_errors, "refused by the tracker")
        assert client.tracker_errors[0] == "Unknown infoHash", client.describe()
        assert client.replies == []

    # Nothing was kept for it: a scrape of it is refused the same way.
    query = f"info_hash={quote_from_bytes(info_hash)}"
    refused = http_get(live_instance, "/tracker/scrape", query, source=PROBER_ADDRESS)
    assert refused == {b"failure reason": b"Unknown infoHash"}
