"""No IP at rest: traffic from known addresses (webtorrent, HTTP and p2p-media-loader's HLS
announces), alarms and blocks included, and then not one of those addresses in the database,
the log or any file the instance wrote.

A server of its own (blocks are destructive), with alarms e-mailed to the log (console backend)
and posted to a webhook. Each client binds its own 127.x.y.z source address (Linux routes all of
127.0.0.0/8 to loopback).
"""

import contextlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote_from_bytes

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.live import LiveInstance
from tests.test_core_hls_swarms import pm_announce, pm_answer, pm_peer_id
from tests.tracker_helpers import make_info_hash
from tracker.core.addresses import daily_key, source_hash
from tracker.core.guard import REFUSED_BLOCKED, REFUSED_VIDEOS

pytestmark = pytest.mark.e2e

SEEDER, LEECHER, HTTP_PEER = "127.42.1.2", "127.42.3.4", "127.42.5.6"
HLS_FIRST, HLS_SECOND = "127.42.7.8", "127.42.9.10"
WS_SPY, HTTP_SPY, SOCKET_SPY, EARLY_SPY = (
    "127.61.23.45",
    "127.61.77.88",
    "127.61.99.111",
    "127.61.55.66",
)
SPIES = [WS_SPY, HTTP_SPY, SOCKET_SPY, EARLY_SPY]
ADDRESSES = [SEEDER, LEECHER, HTTP_PEER, HLS_FIRST, HLS_SECOND, *SPIES]
VIDEOS = 16


@dataclass
class SpyInstance(LiveInstance):
    extra: dict = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(**self.extra, **extra)


class Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        Webhook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def alarmed_instance(tmp_path) -> tuple[SpyInstance, ThreadingHTTPServer]:
    """A migrated instance with an admin, whose alarms go by e-mail and to a webhook served
    here (Webhook.received, emptied); the caller starts it, and shuts the hook down."""
    Webhook.received = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    live = SpyInstance(
        tmp_path / "data",
        extra={
            "PEERVEIL_ADMIN_EMAIL": "admins@example.org",
            "PEERVEIL_ALARM_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_port}/alarms",
        },
    )
    live.data_dir.mkdir()
    live.manage("migrate", "--noinput")
    live.manage("ensure_admin")
    return live, hook


def info_hash(n: int) -> bytes:
    return make_info_hash(f"spy test {n}")


def sdp(address: str) -> str:
    # A host candidate, as a browser without mDNS obfuscation would send.
    return (
        f"v=0\r\nc=IN IP4 {address}\r\na=candidate:1 1 udp 2122260223 {address} 50000 typ host\r\n"
    )


def announce(socket_, n: int, peer: str, **extra) -> None:
    message = {"action": "announce", "info_hash": info_hash(n).decode("latin-1"),
               "peer_id": (f"-WW0208-{peer}" + "0" * 20)[:20], "left": 0, "numwant": 0,
               "offers": [], "event": "started"}  # fmt: skip
    message.update(extra)
    socket_.send(orjson.dumps(message).decode())


def http(address: str, path: str, query: str, url: str) -> int:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(f"{url}/tracker/{path}?{query}").status_code


def announce_query(n: int, peer: bytes, event: str = "started") -> str:
    return (
        f"info_hash={quote_from_bytes(info_hash(n))}&peer_id={quote_from_bytes(peer)}"
        f"&port=6881&uploaded=0&downloaded=0&left=0&event={event}"
    )


def honest_traffic(live) -> None:
    """A web seeder and leecher exchanging an offer and an answer, and an HTTP peer."""
    with (
        connect(live.ws_tracker, source_address=(SEEDER, 0)) as seeder,
        connect(f"{live.ws_tracker}?client=2", source_address=(LEECHER, 0)) as leecher,
    ):
        announce(seeder, 0, "SEEDER", event="completed")
        assert "failure reason" not in orjson.loads(seeder.recv(timeout=5))
        offer = {"offer": {"type": "offer", "sdp": sdp(LEECHER)}, "offer_id": "o" * 20}
        announce(leecher, 0, "LEECHER", numwant=1, offers=[offer], left=10)
        assert "failure reason" not in orjson.loads(leecher.recv(timeout=5))
        relayed = orjson.loads(seeder.recv(timeout=5))
        assert LEECHER in relayed["offer"]["sdp"]
        seeder.send(orjson.dumps({
            "action": "announce", "info_hash": relayed["info_hash"],
            "peer_id": ("-WW0208-SEEDER" + "0" * 20)[:20], "to_peer_id": relayed["peer_id"],
            "offer_id": relayed["offer_id"], "answer": {"type": "answer", "sdp": sdp(SEEDER)},
        }).decode())  # fmt: skip
        assert SEEDER in orjson.loads(leecher.recv(timeout=5))["answer"]["sdp"]
    assert http(HTTP_PEER, "announce", announce_query(1, b"-LT2010-HONESTHTTP01"), live.url) == 200


def hls_traffic(live, swarms: list[bytes]) -> None:
    """Two HLS players (p2p-media-loader's messages, a peer id per rendition) on a socket each,
    exchanging an offer and an answer in each rendition's swarm, their addresses in the SDP."""
    with (
        connect(live.ws_tracker, source_address=(HLS_FIRST, 0)) as first,
        connect(f"{live.ws_tracker}?client=2", source_address=(HLS_SECOND, 0)) as second,
    ):
        for n, swarm in enumerate(swarms):
            message = pm_announce(swarm, pm_peer_id(n), seed=1)
            for offer in message["offers"]:
                offer["offer"]["sdp"] = sdp(HLS_FIRST)
            first.send(orjson.dumps(message).decode())
            assert orjson.loads(first.recv(timeout=5))["incomplete"] == 1
        for n, swarm in enumerate(swarms):
            message = pm_announce(swarm, pm_peer_id(10 + n), seed=2)
            for offer in message["offers"]:
                offer["offer"]["sdp"] = sdp(HLS_SECOND)
            second.send(orjson.dumps(message).decode())
            assert orjson.loads(second.recv(timeout=5))["incomplete"] == 2
            relayed = orjson.loads(first.recv(timeout=5))
            assert HLS_SECOND in relayed["offer"]["sdp"]
            answer = pm_answer(swarm, pm_peer_id(n), relayed["peer_id"], relayed["offer_id"])
            answer["answer"]["sdp"] = sdp(HLS_FIRST)
            first.send(orjson.dumps(answer).decode())
            assert HLS_FIRST in orjson.loads(second.recv(timeout=5))["answer"]["sdp"]


def spy_traffic(live) -> dict:
    """A crawler on a socket (unknown infohashes too), one over HTTP, one opening many
    sockets, one re-announcing far too fast. Returns what each one saw."""
    seen: dict = {"ws_reasons": []}
    with connect(live.ws_tracker, source_address=(WS_SPY, 0)) as spy:
        try:
            for n in [100, 101, 102, *range(VIDEOS)]:
                announce(spy, n, "WSSPY")
                seen["ws_reasons"].append(orjson.loads(spy.recv(timeout=5)).get("failure reason"))
            spy.recv(timeout=5)
        except ConnectionClosed as closed:
            seen["ws_close"] = closed.rcvd.code if closed.rcvd else None
    with pytest.raises(InvalidStatus) as refused:
        connect(live.ws_tracker, source_address=(WS_SPY, 0))
    seen["ws_reconnect"] = refused.value.response.status_code
    seen["ws_spy_http"] = http(
        WS_SPY, "announce", announce_query(0, b"-LT2010-WSSPYHTTP001"), live.url
    )
    seen["http_spy"] = [
        http(HTTP_SPY, "scrape", f"info_hash={quote_from_bytes(info_hash(n))}", live.url)
        for n in range(VIDEOS)
    ]
    with contextlib.ExitStack() as sockets:
        for _ in range(16):
            sockets.enter_context(connect(live.ws_tracker, source_address=(SOCKET_SPY, 0)))
        with pytest.raises(InvalidStatus) as too_many:
            connect(live.ws_tracker, source_address=(SOCKET_SPY, 0))
    seen["socket_spy"] = too_many.value.response.status_code
    peer = b"-LT2010-EARLYSPY0001"
    seen["early_spy"] = [
        http(EARLY_SPY, "announce", announce_query(2, peer, event=""), live.url) for _ in range(12)
    ]
    return seen


def log_in(live) -> httpx.Client:
    client = httpx.Client(base_url=live.url, timeout=10)
    form = client.get("/admin-panel/login/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    response = client.post(
        "/admin-panel/login/",
        data={"username": "admin", "password": "live-admin-password", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    return client


def incident_pages(panel: httpx.Client) -> dict[str, str]:
    """Each listed incident's page (its alarms, by source hash), by its title."""
    listing = panel.get("/admin-panel/alarms/").text
    pages = {}
    for pk in re.findall(r'<tr data-incident="(\d+)">', listing):
        page = panel.get(f"/admin-panel/alarms/{pk}/").text
        pages[re.search(r"<h1>(.*?) from <code>", page).group(1)] = page
    return pages


def needles(address: str) -> list[bytes]:
    packed = socket.inet_aton(address)
    return [address.encode(), packed, packed.hex().encode(), packed.hex().upper().encode()]


def test_known_addresses_leave_no_trace_after_traffic_alarms_and_blocks(tmp_path):
    live, hook = alarmed_instance(tmp_path)
    seed = "from tests.tracker_helpers import add_video\n"
    seed += f"for n in range({VIDEOS}): add_video(f'spy test {{n}}')"
    live.manage("shell", "-c", seed)
    hls_seed = "from tests.tracker_helpers import add_hls_video\n"
    hls_seed += "print(*(s.decode() for s in add_hls_video('hls privacy')[1]))"
    printed = live.manage("shell", "-c", hls_seed).splitlines()[-1]
    hls_swarms = [s.encode() for s in printed.split()]
    assert len(hls_swarms) == 2 and all(len(s) == 20 for s in hls_swarms)
    live.start("--no-worker")
    try:
        honest_traffic(live)
        hls_traffic(live, hls_swarms)
        seen = spy_traffic(live)
        key = daily_key(
            (live.data_dir / "secret_key").read_text().strip(), datetime.now(UTC).date()
        )
        spies = {address: source_hash(key, address) for address in SPIES}
        panel = log_in(live)
        # Alarms are stored by the server's alarm thread, which writes a locked database again
        # after a backoff, and each incident is told once its alarms stop coming: poll until
        # every spy is listed and every incident posted, with room for a loaded machine.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pages = incident_pages(panel)
            listed = "".join(pages.values())
            if all(h in listed for h in spies.values()) and len(Webhook.received) >= 5:
                break
            time.sleep(0.2)
        shown = {
            (re.search(r"<code>(\w+)</code>", row).group(1), title)
            for title, page in pages.items()
            for row in re.findall(r'<tr data-alarm="\d+">(.*?)</tr>', page, re.S)
        }
        page = panel.get("/admin-panel/alarms/").text
    finally:
        live.stop()
        hook.shutdown()

    # What the spies met: refusals with reasons, then blocks (sockets closed, 403 upgrades).
    # Unknown infohashes are refused as such (and ring) without taking a video slot; then 2
    # new videos at once, the rest refused, 8 asked about in all, then 5 breaches block.
    reasons = ["Unknown infoHash"] * 3 + [None] * 2 + [REFUSED_VIDEOS] * 10
    assert seen["ws_reasons"][:15] == reasons
    assert set(seen["ws_reasons"][15:]) == {REFUSED_BLOCKED}  # until the socket is closed
    assert seen["ws_close"] == 1008 and seen["ws_reconnect"] == 403 and seen["ws_spy_http"] == 403
    assert seen["http_spy"] == [200] * 2 + [429] * 10 + [403] * 4
    assert seen["socket_spy"] == 403 and seen["early_spy"] == [200] * 12
    # The panel lists each spy by its hash and /16, and no honest peer.
    assert {
        (spies[WS_SPY], "Probing unknown videos"),
        (spies[WS_SPY], "Many videos from one address"),
        (spies[WS_SPY], "Blocked after repeated limit breaches"),
        (spies[HTTP_SPY], "Blocked after repeated limit breaches"),
        (spies[SOCKET_SPY], "Many connections from one address"),
        (spies[EARLY_SPY], "Announces far faster than the interval"),
    } <= shown
    assert "127.61.0.0/16" in page and not {h for h, _ in shown} - set(spies.values())
    # One incident per kind (all spies are in 127.61.0.0/16), e-mailed (to the log, console
    # backend) and posted to the webhook once each, with counts only.
    log = live.log()
    assert log.count("Subject: [peerveil] Alarm:") == 5 and "network: 127.61.0.0/16" in log
    kinds = sorted(incident["kind"] for incident in Webhook.received)
    assert kinds == ["blocked", "early-announces", "sockets", "unknown-videos", "videos"]
    assert {i["network"] for i in Webhook.received} == {"127.61.0.0/16"}
    assert next(i for i in Webhook.received if i["kind"] == "blocked")["sources"] == 2
    assert not any(h in json.dumps(Webhook.received) + log for h in spies.values())

    written = [path for path in live.data_dir.rglob("*") if path.is_file()]
    assert {"db.sqlite3", "serve.log"} <= {path.name for path in written}
    found = [
        (path.name, needle)
        for path in written
        for address in ADDRESSES
        for needle in needles(address)
        if needle in path.read_bytes()
    ]
    assert found == []
    assert not any(address in json.dumps(Webhook.received) for address in ADDRESSES)
