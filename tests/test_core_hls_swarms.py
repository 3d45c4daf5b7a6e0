"""HLS swarms in the tracker core: p2p-media-loader 2.3.1's messages, exactly as it sends them
(../shared/interop-notes.md, "HLS with p2p-media-loader"), under every rule of the torrents.

Its announces carry no `left` key and zero counters; its infohash is 20 ASCII characters (a
truncated SHA-1 in base64); its peer ids are `-PM0203-` and 12 alphanumerics, one per swarm,
all on the page's one socket. It never scrapes.
"""

import base64
import hashlib
import random
import string

import orjson
import pytest

from tracker.core import (
    P2P_DISABLED,
    UNKNOWN_INFOHASH,
    InMemorySwarmStore,
    KindCounts,
    Policy,
    TrackerCore,
    web_json,
)
from tracker.core.guard import ALARM_UNKNOWN_VIDEOS, ALARM_VIDEOS, REFUSED_VIDEOS, GuardConfig

VIEWER = "203.0.113.20"
OTHER_VIEWER = "203.0.113.21"
SDP = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n"


def hls_swarm(video: str, level: int) -> bytes:
    """An infohash as p2p-media-loader makes it: base64 of 15 bytes of a SHA-1."""
    digest = hashlib.sha1(f"v2-{video}-main-{level}".encode()).digest()[:15]
    return base64.b64encode(digest)


def torrent(video: str) -> bytes:
    return hashlib.sha1(f"torrent {video}".encode()).digest()


def pm_peer_id(seed: int) -> str:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    return "-PM0203-" + "".join(rng.choice(alphabet) for _ in range(12))


def offer_id(seed: int, n: int) -> str:
    return bytes(random.Random(seed * 100 + n).randbytes(20)).decode("latin-1")


def pm_announce(info_hash: bytes, peer: str, *, event: str | None = "started", seed: int = 0):
    """A p2p-media-loader announce, keys in its order: `started` or periodic, numwant 5 and 5
    offers, zero counters, no `left`."""
    message = {"numwant": 5, "uploaded": 0, "downloaded": 0}
    if event is not None:
        message = {"event": event, **message}
    message |= {
        "action": "announce",
        "info_hash": info_hash.decode("latin-1"),
        "peer_id": peer,
        "offers": [
            {"offer": {"type": "offer", "sdp": SDP}, "offer_id": offer_id(seed, n)}
            for n in range(5)
        ],
    }
    return message


def pm_answer(info_hash: bytes, peer: str, to_peer: str, relayed_offer_id: str) -> dict:
    return {
        "action": "announce",
        "info_hash": info_hash.decode("latin-1"),
        "peer_id": peer,
        "to_peer_id": to_peer,
        "answer": {"type": "answer", "sdp": SDP},
        "offer_id": relayed_offer_id,
    }


# Two videos: "a" with two HLS renditions and a torrent, "b" with one rendition.
A_HIGH, A_LOW, A_TORRENT = hls_swarm("a", 0), hls_swarm("a", 1), torrent("a")
B_HIGH = hls_swarm("b", 0)
A_SWARMS = (A_HIGH, A_LOW, A_TORRENT)


class Front:
    """The front door with a policy of published swarms grouped into videos."""

    def __init__(self, grouped: bool = True, **guard) -> None:
        p2p = {swarm: True for swarm in (*A_SWARMS, B_HIGH)}
        videos = {swarm: "video a" for swarm in A_SWARMS} | {B_HIGH: "video b"}
        self.core = TrackerCore(
            InMemorySwarmStore(),
            Policy(guard=GuardConfig(**guard), p2p=p2p, videos=videos if grouped else {}),
        )
        self.rng = random.Random(5)

    def open(self, key: str | None = VIEWER, now: float = 0.0):
        meter, result = self.core.open_socket(key, now)
        assert not result.refused
        return meter

    def send(self, connection, meter, message: dict, now: float = 0.0):
        result = self.core.receive_web(connection, meter, orjson.dumps(message), now, self.rng)
        return [(to, web_json(sent)) for to, sent in result.messages], result

    def counts(self, info_hash: bytes) -> KindCounts:
        return self.core.swarms.store.count_by_kind(info_hash)


def test_a_p2p_media_loader_announce_without_left_is_accepted_and_counted_as_a_leecher():
    front = Front()
    meter = front.open()
    out, _ = front.send("tab", meter, pm_announce(A_HIGH, pm_peer_id(1)))
    assert out == [
        (
            "tab",
            {
                "action": "announce",
                "interval": 120,
                "info_hash": A_HIGH.decode(),
                "complete": 0,
                "incomplete": 1,
            },
        )
    ]
    assert front.counts(A_HIGH) == KindCounts(0, 1, 0, 0)
    # Its periodic announce (no event, five fresh offers) keeps it a leecher.
    out, _ = front.send("tab", meter, pm_announce(A_HIGH, pm_peer_id(1), event=None), 130.0)
    assert out[0][1]["incomplete"] == 1 and out[0][1]["complete"] == 0


def test_a_peer_without_left_becomes_a_seeder_only_when_it_says_so():
    front = Front()
    meter = front.open()
    front.send("tab", meter, pm_announce(A_HIGH, pm_peer_id(1)))
    completed = {**pm_announce(A_HIGH, pm_peer_id(1), event="completed"), "offers": []}
    out, _ = front.send("tab", meter, completed, 1.0)
    assert (out[0][1]["complete"], out[0][1]["incomplete"]) == (1, 0)
    left_zero = {**pm_announce(A_LOW, pm_peer_id(2)), "left": 0}
    front.send("tab", meter, left_zero, 2.0)
    assert front.counts(A_LOW) == KindCounts(1, 0, 0, 0)


def test_one_socket_holds_a_peer_id_per_rendition_and_offers_and_answers_flow_in_each():
    front = Front()
    first_meter, second_meter = front.open(VIEWER), front.open(OTHER_VIEWER)
    first = {A_HIGH: pm_peer_id(1), A_LOW: pm_peer_id(2)}
    second = {A_HIGH: pm_peer_id(3), A_LOW: pm_peer_id(4)}
    for swarm in (A_HIGH, A_LOW):
        out, _ = front.send("first", first_meter, pm_announce(swarm, first[swarm], seed=1))
        assert "failure reason" not in out[0][1]
    for swarm in (A_HIGH, A_LOW):
        out, _ = front.send("second", second_meter, pm_announce(swarm, second[swarm], seed=2))
        assert "failure reason" not in out[0][1]
        assert out[0][1]["incomplete"] == 2
        # One offer per other peer of that swarm: to the first socket's peer of that swarm.
        (to, relayed), *rest = out[1:]
        assert (to, relayed["peer_id"], relayed["info_hash"]) == (
            "first",
            second[swarm],
            swarm.decode(),
        )
        assert not rest
        answer = pm_answer(swarm, first[swarm], second[swarm], relayed["offer_id"])
        out, _ = front.send("first", first_meter, answer, 1.0)
        assert out == [
            (
                "second",
                {
                    "action": "announce",
                    "answer": {"type": "answer", "sdp": SDP},
                    "offer_id": relayed["offer_id"],
                    "peer_id": first[swarm],
                    "info_hash": swarm.decode(),
                },
            )
        ]
    front.core.disconnect("first", first_meter, 2.0)  # hls.destroy(): no "stopped"
    assert front.counts(A_HIGH) == front.counts(A_LOW) == KindCounts(0, 1, 0, 0)


def test_a_peer_id_of_a_rendition_swarm_is_bound_to_its_socket():
    front = Front()
    owner_meter, stranger_meter = front.open(VIEWER), front.open(OTHER_VIEWER)
    front.send("owner", owner_meter, pm_announce(A_HIGH, pm_peer_id(1)))
    for event in ("stopped", "started"):
        out, _ = front.send(
            "stranger", stranger_meter, pm_announce(A_HIGH, pm_peer_id(1), event=event)
        )
        assert out[0][1]["failure reason"] == "peer_id is in use by another connection"
    assert front.counts(A_HIGH) == KindCounts(0, 1, 0, 0)


def test_an_answer_in_a_rendition_swarm_goes_only_to_the_peer_whose_offer_it_answers():
    front = Front()
    victim_meter, stranger_meter = front.open(VIEWER), front.open(OTHER_VIEWER)
    front.send("victim", victim_meter, pm_announce(A_HIGH, pm_peer_id(1), seed=1))
    front.send("stranger", stranger_meter, pm_announce(A_HIGH, pm_peer_id(2), seed=2))
    # No offer of the victim's was ever relayed to the stranger (it joined after it).
    forged = pm_answer(A_HIGH, pm_peer_id(2), pm_peer_id(1), offer_id(1, 0))
    out, _ = front.send("stranger", stranger_meter, forged, 1.0)
    assert out == [
        (
            "stranger",
            {
                "action": "announce",
                "failure reason": "no pending offer",
                "info_hash": A_HIGH.decode(),
            },
        )
    ]
    # Nor may it answer under a peer id of another socket.
    stolen = pm_answer(A_HIGH, pm_peer_id(1), pm_peer_id(2), offer_id(2, 0))
    out, _ = front.send("stranger", stranger_meter, stolen, 2.0)
    assert out[0][1]["failure reason"] == "peer_id is in use by another connection"


@pytest.mark.parametrize(
    ("swarm", "p2p", "reason"),
    [(hls_swarm("never published", 0), None, UNKNOWN_INFOHASH), (A_LOW, False, P2P_DISABLED)],
)
def test_an_unknown_or_switched_off_hls_swarm_is_refused_as_a_torrent_is(swarm, p2p, reason):
    front = Front()
    if p2p is not None:
        front.core.switch({swarm: p2p})
    out, _ = front.send("tab", front.open(), pm_announce(swarm, pm_peer_id(1)))
    assert out == [
        ("tab", {"action": "announce", "failure reason": reason, "info_hash": swarm.decode()})
    ]
    assert front.core.stats()["web_peers"] == 0


def test_switching_a_video_off_empties_its_hls_swarms_and_tells_every_peer_at_once():
    front = Front()
    meter = front.open()
    for n, swarm in enumerate((A_HIGH, A_LOW)):
        front.send("tab", meter, pm_announce(swarm, pm_peer_id(n)))
    result = front.core.switch({swarm: False for swarm in A_SWARMS})
    told = sorted((to, web_json(message)["info_hash"]) for to, message in result.messages)
    assert told == sorted(("tab", swarm.decode()) for swarm in (A_HIGH, A_LOW))
    assert all(web_json(m)["failure reason"] == P2P_DISABLED for _, m in result.messages)
    assert front.core.counts() == {}


def test_at_most_five_offers_of_an_hls_announce_are_relayed():
    front = Front(max_sockets=20, alarm_sockets=20)
    for n in range(7):
        front.send(f"tab{n}", front.open(), pm_announce(A_HIGH, pm_peer_id(n), seed=n))
    message = {**pm_announce(A_HIGH, pm_peer_id(99), seed=99)}
    message["offers"] = message["offers"] * 2  # ten offers, as many as a message may carry
    for item, n in zip(message["offers"], range(10), strict=True):
        item["offer_id"] = offer_id(99, n)
    out, _ = front.send("late", front.open(), message)
    assert len(out) == 1 + 5


# The spy guard counts videos, not swarms


def abr_viewer(front: Front, meter, now: float = 0.0) -> list[tuple[object, dict]]:
    """A player that starts on the low rendition, moves up, and whose page also fetched the
    torrent: three swarms of one video, each with its own peer id."""
    replies = []
    for n, swarm in enumerate((A_LOW, A_HIGH, A_TORRENT)):
        out, result = front.send("tab", meter, pm_announce(swarm, pm_peer_id(n)), now + n)
        replies.append((out[0][1], result))
    return replies


def test_renditions_of_one_video_take_one_video_slot_and_ring_no_alarm():
    # The tightest limits: one video, and an alarm at the second one.
    front = Front(max_videos=1, video_burst=1, alarm_videos=2)
    for reply, result in abr_viewer(front, front.open()):
        assert "failure reason" not in reply
        assert not result.alarms
    assert front.core.stats()["web_peers"] == 3


def test_without_the_grouping_the_same_viewer_would_be_refused_and_alarmed():
    # What the grouping prevents: each swarm counted as a video of its own.
    front = Front(grouped=False, max_videos=1, video_burst=1, alarm_videos=2)
    (first, _), (second, result), _ = abr_viewer(front, front.open())
    assert "failure reason" not in first
    assert second["failure reason"] == REFUSED_VIDEOS
    assert [alarm.kind for alarm in result.alarms] == [ALARM_VIDEOS]


def test_a_second_video_is_still_a_second_video():
    front = Front(max_videos=1, video_burst=1, alarm_videos=2)
    meter = front.open()
    abr_viewer(front, meter)
    out, result = front.send("tab", meter, pm_announce(B_HIGH, pm_peer_id(9)), 10.0)
    assert out[0][1]["failure reason"] == REFUSED_VIDEOS
    assert [alarm.kind for alarm in result.alarms] == [ALARM_VIDEOS]


def test_unknown_hls_swarms_are_counted_one_by_one_as_before():
    front = Front(alarm_unknown_videos=3)
    meter = front.open()
    kinds = []
    for n in range(3):
        out, result = front.send("tab", meter, pm_announce(hls_swarm("x", n), pm_peer_id(n)), n)
        assert out[0][1]["failure reason"] == UNKNOWN_INFOHASH
        kinds += [alarm.kind for alarm in result.alarms]
    assert kinds == [ALARM_UNKNOWN_VIDEOS]


def test_a_swarm_published_by_a_switch_joins_its_video():
    front = Front(max_videos=1, video_burst=1, alarm_videos=2)
    new_rendition = hls_swarm("a", 2)
    front.core.switch({new_rendition: True}, {new_rendition: "video a"})
    meter = front.open()
    abr_viewer(front, meter)
    out, result = front.send("tab", meter, pm_announce(new_rendition, pm_peer_id(7)), 5.0)
    assert "failure reason" not in out[0][1] and not result.alarms
    # Unpublished, it is forgotten with its video.
    front.core.switch({new_rendition: None})
    out, _ = front.send("tab", meter, pm_announce(new_rendition, pm_peer_id(7)), 6.0)
    assert out[0][1]["failure reason"] == UNKNOWN_INFOHASH


def test_an_early_reannounce_of_a_rendition_swarm_is_detected_per_swarm():
    front = Front(alarm_early_announces=2)
    meter = front.open()
    front.send("tab", meter, pm_announce(A_HIGH, pm_peer_id(1)))
    other = front.open(OTHER_VIEWER)
    front.send("other", other, pm_announce(A_HIGH, pm_peer_id(2), seed=2))
    # Resampling the same swarm at once, again and again: from the threshold on, no offers.
    relayed = []
    for n in range(3):
        out, _ = front.send("tab", meter, pm_announce(A_HIGH, pm_peer_id(1), seed=n), 1.0 + n)
        relayed.append(len(out) - 1)
    assert relayed == [1, 0, 0]
    # Another rendition of the same video is a first announce of its swarm: sampled.
    out, _ = front.send("tab", meter, pm_announce(A_LOW, pm_peer_id(3)), 5.0)
    assert "failure reason" not in out[0][1]
