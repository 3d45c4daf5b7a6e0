"""What the tracker does on its own in a served instance, with no traffic to prompt it: a P2P
switch made by another process reaches the open sockets, and silent HTTP peers are forgotten
with no WebSocket open."""

import time
from urllib.parse import quote_from_bytes

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from tests.live import LiveInstance
from tests.tracker_helpers import make_info_hash
from tracker.access import POLICY_PROPAGATION_SECONDS
from tracker.core import P2P_DISABLED, bdecode
from tracker.service import SWEEP_SECONDS

pytestmark = pytest.mark.e2e

INTERVAL = 5  # HTTP peers expire after two intervals without an announce


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    instance = LiveInstance(tmp_path_factory.mktemp("housekeeping"))
    instance.settings = {"PEERVEIL_ANNOUNCE_INTERVAL": str(INTERVAL)}
    instance.manage("migrate", "--noinput")
    instance.manage(
        "shell", "-c",
        "from tests.tracker_helpers import add_video\n"
        "add_video('switched'); add_video('expiring')",
    )  # fmt: skip
    instance.start("--no-worker")
    yield instance
    instance.stop()


def uuid_of(live, label: str) -> str:
    videos = httpx.get(f"{live.url}/api/v1/videos?count=100").json()["data"]
    return next(v["uuid"] for v in videos if v["name"] == label)


def ws_announce(info_hash: bytes, peer: str) -> str:
    return orjson.dumps({
        "action": "announce", "event": "started", "info_hash": info_hash.decode("latin-1"),
        "peer_id": (f"-WW0208-{peer}" + "0" * 20)[:20], "left": 10, "numwant": 0, "offers": [],
    }).decode()  # fmt: skip


def scrape(live, info_hash: bytes) -> dict:
    reply = httpx.get(f"{live.url}/tracker/scrape?info_hash={quote_from_bytes(info_hash)}")
    return bdecode(reply.content)


def test_switching_p2p_off_from_another_process_tells_an_open_socket_at_once(live):
    info_hash = make_info_hash("switched")
    with connect(live.ws_tracker) as viewer:
        viewer.send(ws_announce(info_hash, "VIEWER"))
        assert "failure reason" not in orjson.loads(viewer.recv(timeout=5))
        live.manage("p2p", "off", "--video", uuid_of(live, "switched"))
        switched = time.monotonic()
        # The viewer sends nothing more: the server tells it by itself.
        told = orjson.loads(viewer.recv(timeout=POLICY_PROPAGATION_SECONDS + 5))
        told_after = time.monotonic() - switched
        assert told == {
            "action": "announce",
            "failure reason": P2P_DISABLED,
            "info_hash": info_hash.decode("latin-1"),
        }
        assert told_after <= POLICY_PROPAGATION_SECONDS, f"told after {told_after:.2f} s"
        viewer.send(ws_announce(info_hash, "VIEWER"))
        assert orjson.loads(viewer.recv(timeout=5))["failure reason"] == P2P_DISABLED
    assert scrape(live, info_hash) == {b"failure reason": P2P_DISABLED.encode()}


def test_silent_http_peers_are_forgotten_with_no_websocket_open(live):
    info_hash = make_info_hash("expiring")
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(b'-LT2010-EXPIRING0001')}"
        "&port=6881&uploaded=0&downloaded=0&left=0"
    )
    assert b"failure reason" not in httpx.get(f"{live.url}/tracker/announce?{query}").content
    announced = time.monotonic()
    files = scrape(live, info_hash)[b"files"]
    assert files[info_hash][b"complete"] == 1
    # Two intervals of silence, found by the next sweep; no socket is open all along.
    deadline = announced + 2 * INTERVAL + SWEEP_SECONDS + 2
    while scrape(live, info_hash)[b"files"][info_hash][b"complete"] and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)
    assert scrape(live, info_hash)[b"files"][info_hash][b"complete"] == 0
    assert time.monotonic() - announced > 2 * INTERVAL  # not before its time
