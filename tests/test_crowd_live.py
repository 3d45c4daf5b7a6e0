"""The crowd threshold on the served tracker: with P2P only from 5 viewers, real clients from
distinct 127.x addresses (web peers announcing with offers and answering them, HTTP peers) get
nothing relayed or listed until the fifth comes; two leaving turn it off again. Five sockets of
one address are one viewer. The watch page's count and its JSON come from the same tracker.
"""

from urllib.parse import quote_from_bytes

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from tests.conftest import get_json
from tests.live import LiveInstance
from tests.tracker_helpers import make_info_hash
from tracker.core import bdecode

pytestmark = pytest.mark.e2e

VIDEO = make_info_hash("crowd live")
WARNING = "P2P starts when 5 people watch this video"
QUIET = 0.5  # seconds a socket is watched for a message that must not come


@pytest.fixture(scope="module")
def crowd_instance(tmp_path_factory):
    live = LiveInstance(tmp_path_factory.mktemp("crowd"))
    live.manage("migrate", "--noinput")
    seed = (
        "from tests.tracker_helpers import add_video\n"
        "from instance.models import Video\n"
        "add_video('crowd live')\n"
        "Video.objects.filter(name='crowd live').update(p2p_min_viewers=5)\n"
    )
    live.manage("shell", "-c", seed)
    live.start("--no-worker")
    yield live
    live.stop()


class WebViewer:
    """A browser's socket from its own address: announces with offers, answers offers."""

    def __init__(self, live, address: str, name: str) -> None:
        # Entered at once (a socket held across the test's steps), closed by close().
        self.socket = connect(
            f"{live.ws_tracker}?c={name}", source_address=(address, 0)
        ).__enter__()
        self.peer_id = (f"-WW0208-{name}" + "." * 20)[:20]
        self.offers = 0
        self.inbox: list[dict] = []  # messages that came while it waited for a reply

    def announce(self, offers: int = 5) -> dict:
        """Announces, returns the reply (other messages meanwhile are kept)."""
        sdp = {"type": "offer", "sdp": f"v=0 {self.peer_id}"}
        message = {"action": "announce", "info_hash": VIDEO.decode("latin-1"),
                   "peer_id": self.peer_id, "numwant": offers, "left": 0, "event": "started",
                   "offers": [{"offer": sdp, "offer_id": f"{self.offers + n:020d}"}
                              for n in range(offers)]}  # fmt: skip
        self.offers += offers
        self.socket.send(orjson.dumps(message).decode())
        while True:
            reply = orjson.loads(self.socket.recv(timeout=5))
            if "interval" in reply or "failure reason" in reply:
                return reply
            self.inbox.append(reply)

    def received(self, wait: float = QUIET) -> list[dict]:
        """Offers and answers relayed to it (within `wait` seconds for a first one)."""
        try:
            while True:
                self.inbox.append(orjson.loads(self.socket.recv(timeout=wait)))
                wait = 0.2
        except TimeoutError:
            pass
        got, self.inbox = self.inbox, []
        return [m for m in got if "offer" in m or "answer" in m]

    def answer(self, offer: dict) -> None:
        self.socket.send(orjson.dumps({
            "action": "announce", "info_hash": offer["info_hash"], "peer_id": self.peer_id,
            "to_peer_id": offer["peer_id"], "offer_id": offer["offer_id"],
            "answer": {"type": "answer", "sdp": f"v=0 answer {self.peer_id}"},
        }).decode())  # fmt: skip

    def close(self) -> None:
        self.socket.close()


def http_announce(live, address: str, n: int, event: str = "started") -> dict:
    peer_id = f"-LT2010-{n:012d}".encode()
    query = (
        f"info_hash={quote_from_bytes(VIDEO)}&peer_id={quote_from_bytes(peer_id)}&port={6881 + n}"
        f"&uploaded=0&downloaded=0&left=0&compact=1&numwant=50&event={event}"
    )
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=10) as client:
        return bdecode(client.get(f"{live.url}/tracker/announce?{query}").content)


def crowd(live) -> dict:
    video = get_json(f"{live.url}/api/v1/videos")["data"][0]
    return get_json(f"{live.url}/api/v1/videos/{video['uuid']}/crowd")


def test_one_address_with_five_sockets_is_one_viewer_and_gets_nothing_relayed(crowd_instance):
    tabs = [WebViewer(crowd_instance, "127.88.9.9", f"tab{n}") for n in range(5)]
    try:
        for tab in tabs:
            assert tab.announce()["warning message"] == WARNING
        assert crowd(crowd_instance) == {"threshold": 5, "viewers": 1, "reached": False}
        assert all(tab.received() == [] for tab in tabs)
    finally:
        for tab in tabs:
            tab.close()


def test_four_viewers_get_nothing_the_fifth_turns_relaying_on_two_leaving_turn_it_off(
    crowd_instance,
):
    live = crowd_instance
    a, b = WebViewer(live, "127.88.0.1", "a"), WebViewer(live, "127.88.0.2", "b")
    try:
        # Four viewers: web peers a and b, HTTP peers c and d.
        assert a.announce()["warning message"] == WARNING
        assert b.announce()["warning message"] == WARNING
        assert http_announce(live, "127.88.0.3", 3)[b"warning message"] == WARNING.encode()
        d = http_announce(live, "127.88.0.4", 4)
        assert d[b"peers"] == b"" and d[b"complete"] == 4  # c is there, and not listed
        assert a.received() == [] and b.received() == []
        assert crowd(live)["viewers"] == 4

        e = WebViewer(live, "127.88.0.5", "e")  # the fifth: its own offers go out at once
        try:
            assert "warning message" not in e.announce()
            assert crowd(live) == {"threshold": 5, "viewers": 5, "reached": True}
            offers = a.received(wait=5)
            assert [m["peer_id"] for m in offers] == [e.peer_id]
            assert [m["peer_id"] for m in b.received(wait=5)] == [e.peer_id]
            a.answer(offers[0])
            assert [m["peer_id"] for m in e.received(wait=5)] == [a.peer_id]
            listed = http_announce(live, "127.88.0.4", 4)
            assert len(listed[b"peers"]) == 6 and b"warning message" not in listed  # c

            # Two leave: a closes its tab, c stops. Three remain: off at once.
            a.close()
            http_announce(live, "127.88.0.3", 3, event="stopped")
            assert crowd(live)["viewers"] == 3
            assert e.announce()["warning message"] == WARNING
            assert b.received() == []
            assert http_announce(live, "127.88.0.4", 4)[b"peers"] == b""
        finally:
            e.close()
    finally:
        b.close()
