"""The crowd threshold in the tracker core: below N distinct viewers (guard keys) in a swarm no
offer is relayed, no answer either, no peer listed; the announce reply says so."""

import random
from urllib.parse import quote_from_bytes

import orjson

from tracker.core import (
    InMemorySwarmStore,
    Policy,
    TrackerCore,
    bdecode,
    encode_http,
    web_json,
    wire_id,
)
from tracker.core.guard import GuardConfig
from tracker.core.outgoing import CROWD_WARNING

VIDEO = bytes(range(100, 120))
SMALL = bytes(range(120, 140))  # a video without a threshold
HLS = b"Ao59IgvVwrsGFMMsvVGg"  # an HLS rendition's swarm: 20 ASCII characters
RNG = random.Random(3)
# Plenty of room: these tests are about the threshold, not the request limits.
ROOMY = GuardConfig(socket_messages_per_minute=10_000, source_messages_per_minute=10_000)


def core(threshold: int = 5, **more) -> TrackerCore:
    p2p = {VIDEO: True, SMALL: True, HLS: True}
    min_viewers = {VIDEO: threshold, HLS: threshold, **more}
    return TrackerCore(InMemorySwarmStore(), Policy(guard=ROOMY, p2p=p2p, min_viewers=min_viewers))


class Viewer:
    """One socket of one address: a browser tab."""

    def __init__(self, tracker: TrackerCore, address: str, name: str) -> None:
        self.tracker = tracker
        self.meter, _ = tracker.open_socket(address, 0.0)
        self.peer_id = (b"-WW0208-" + name.encode() + b"." * 12)[:20]
        self.offers = 0

    def announce(self, now: float, info_hash: bytes = VIDEO, offers: int = 5) -> list[tuple]:
        message = {
            "action": "announce",
            "info_hash": wire_id(info_hash),
            "peer_id": wire_id(self.peer_id),
            "numwant": offers,
            "left": 0,
            "event": "started",
            "offers": [
                {
                    "offer": {"type": "offer", "sdp": "v=0 sdp"},
                    "offer_id": wire_id((f"{self.offers + n}".encode() + b"#" * 20)[:20]),
                }
                for n in range(offers)
            ],
        }
        self.offers += offers
        result = self.tracker.receive_web(self, self.meter, orjson.dumps(message), now, RNG)
        return [(to, web_json(sent)) for to, sent in result.messages]

    def answer(self, offer: dict, now: float) -> list[tuple]:
        message = {
            "action": "announce",
            "info_hash": offer["info_hash"],
            "peer_id": wire_id(self.peer_id),
            "to_peer_id": offer["peer_id"],
            "offer_id": offer["offer_id"],
            "answer": {"type": "answer", "sdp": "v=0 answer"},
        }
        result = self.tracker.receive_web(self, self.meter, orjson.dumps(message), now, RNG)
        return [(to, web_json(sent)) for to, sent in result.messages]

    def leave(self, now: float) -> None:
        self.tracker.disconnect(self, self.meter, now)


def relayed(out: list[tuple]) -> list[tuple]:
    return [(to, m) for to, m in out if "offer" in m or "answer" in m]


def reply(out: list[tuple], viewer: Viewer) -> dict:
    return next(m for to, m in out if to is viewer and "interval" in m)


def test_four_viewers_below_five_get_no_offer_relayed_and_a_warning_the_fifth_turns_it_on():
    tracker = core(5)
    viewers = [Viewer(tracker, f"127.0.0.{n + 10}", f"v{n}") for n in range(5)]
    for n, viewer in enumerate(viewers[:4]):
        out = viewer.announce(float(n))
        assert relayed(out) == []
        assert reply(out, viewer)["warning message"] == CROWD_WARNING.format(threshold=5)
    assert tracker.viewers([VIDEO]) == {VIDEO: 4}

    out = viewers[4].announce(10.0)  # the fifth: its own offers go out at once
    assert tracker.viewers([VIDEO]) == {VIDEO: 5}
    assert "warning message" not in reply(out, viewers[4])
    offers = relayed(out)
    assert len(offers) == 4 and {to for to, _ in offers} == set(viewers[:4])
    # The others' next announces are relayed too.
    assert len(relayed(viewers[0].announce(80.0))) == 4


def test_one_address_with_five_sockets_counts_once_and_stays_below():
    tracker = core(5)
    tabs = [Viewer(tracker, "127.0.0.20", f"tab{n}") for n in range(5)]
    for n, tab in enumerate(tabs):
        assert relayed(tab.announce(float(n))) == []
    assert tracker.viewers([VIDEO]) == {VIDEO: 1}
    others = [Viewer(tracker, f"127.0.0.{n + 30}", f"o{n}") for n in range(3)]
    for other in others:
        assert relayed(other.announce(5.0)) == []  # 4 distinct addresses, 8 sockets
    fifth = Viewer(tracker, "127.0.0.40", "fifth")
    assert relayed(fifth.announce(6.0)) != []


def test_falling_below_turns_relaying_off_at_once_and_drops_answers_to_earlier_offers():
    tracker = core(5)
    viewers = [Viewer(tracker, f"127.0.1.{n + 1}", f"w{n}") for n in range(5)]
    for n, viewer in enumerate(viewers):
        out = viewer.announce(float(n))
    offers = relayed(out)  # the fifth's offers, pending at the four others
    assert len(offers) == 4
    to, offer = next((to, m) for to, m in offers if to is viewers[0])
    viewers[2].leave(20.0)
    viewers[3].leave(20.0)  # the offerer (the fifth) stays: 3 remain
    assert tracker.viewers([VIDEO]) == {VIDEO: 3}
    # An answer to an offer relayed while the swarm was large enough goes nowhere now.
    assert to.answer(offer, 21.0) == []
    assert relayed(viewers[0].announce(100.0)) == []
    assert relayed(viewers[4].announce(101.0)) == []


def test_answers_are_relayed_while_the_swarm_stays_at_its_threshold():
    tracker = core(2)
    first, second = Viewer(tracker, "127.0.2.1", "a"), Viewer(tracker, "127.0.2.2", "b")
    assert relayed(first.announce(0.0)) == []
    to, offer = relayed(second.announce(1.0))[0]
    assert to is first
    delivered = first.answer(offer, 2.0)
    assert [(t, m["answer"]["sdp"]) for t, m in delivered] == [(second, "v=0 answer")]


def test_a_threshold_of_one_is_todays_behaviour_and_exempt_sources_do_not_count():
    tracker = core(5)
    a, b = Viewer(tracker, "127.0.3.1", "a"), Viewer(tracker, "127.0.3.2", "b")
    a.announce(0.0, SMALL)
    assert "warning message" not in reply(b.announce(1.0, SMALL), b)
    assert len(relayed(b.announce(2.0, SMALL))) == 1
    # An exempt source (the instance's own seeders: key None) is a peer but not a viewer.
    seeder_meter, _ = tracker.open_socket(None, 0.0)
    assert seeder_meter is None
    frame = {"action": "announce", "info_hash": wire_id(VIDEO), "peer_id": "-WW0208-node........",
             "numwant": 0, "left": 0, "event": "completed"}  # fmt: skip
    tracker.receive_web("node", None, orjson.dumps(frame), 3.0, RNG)
    assert tracker.counts()[VIDEO].web_seeders == 1
    assert tracker.viewers([VIDEO]) == {VIDEO: 0}


def test_hls_swarms_are_held_to_the_same_threshold():
    tracker = core(3)
    viewers = [Viewer(tracker, f"127.0.4.{n + 1}", f"h{n}") for n in range(3)]
    assert relayed(viewers[0].announce(0.0, HLS)) == []
    assert relayed(viewers[1].announce(1.0, HLS)) == []
    assert len(relayed(viewers[2].announce(2.0, HLS))) == 2


def http_query(info_hash: bytes, peer_id: bytes, port: int) -> bytes:
    return (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id)}"
        f"&port={port}&uploaded=0&downloaded=0&left=10&compact=1&numwant=50&event=started"
    ).encode()


def http_announce(tracker: TrackerCore, address: str, n: int) -> dict:
    peer_id = (b"-LT2010-" + f"{n:012d}".encode())[:20]
    result = tracker.announce_http(http_query(VIDEO, peer_id, 6881 + n), address, address, 0.0, RNG)
    return bdecode(encode_http(result.reply)[1])


def test_http_peers_get_an_empty_list_below_the_threshold_and_peers_from_it_on():
    tracker = core(3)
    first = http_announce(tracker, "127.0.5.1", 1)
    assert (
        first[b"peers"] == b""
        and first[b"warning message"] == b"P2P starts when 3 people watch this video"
    )
    # The same address with another client is still one viewer.
    assert http_announce(tracker, "127.0.5.1", 2)[b"peers"] == b""
    assert http_announce(tracker, "127.0.5.2", 3)[b"peers"] == b""
    third = http_announce(tracker, "127.0.5.3", 4)
    assert len(third[b"peers"]) == 3 * 6 and b"warning message" not in third
    # Web and HTTP peers of one address count once together.
    web = Viewer(tracker, "127.0.5.3", "web")
    assert tracker.viewers([VIDEO]) == {VIDEO: 3}
    assert "warning message" not in reply(web.announce(1.0), web)


def test_a_new_policy_changes_the_threshold_from_the_next_announce():
    tracker = core(3)
    a, b = Viewer(tracker, "127.0.6.1", "a"), Viewer(tracker, "127.0.6.2", "b")
    a.announce(0.0)
    assert relayed(b.announce(1.0)) == []
    tracker.apply(Policy(guard=ROOMY, p2p={VIDEO: True}, min_viewers={}))
    assert len(relayed(b.announce(70.0))) == 1
