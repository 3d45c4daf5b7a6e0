import itertools
import random

import orjson
import pytest

from tests.core_helpers import WireTracker as Tracker
from tracker.core import InMemorySwarmStore, TrackerConfig, wire_id

VIDEO = bytes(range(200, 220))
OTHER_VIDEO = b"\x01" * 20
UNKNOWN = b"\x02" * 20
DISABLED = b"\x03" * 20


def pid(name: str) -> bytes:
    return (b"-WW0208-" + name.encode() + b"." * 12)[:20]


def oid(name: str, n: int = 0) -> bytes:
    return (f"{name}:{n}:".encode() + bytes(range(20)))[:20]


class World:
    """A tracker with an access table the test can change, and helpers to talk to it."""

    def __init__(self, **config) -> None:
        self.allowed = {VIDEO: None, OTHER_VIDEO: None, DISABLED: "P2P is disabled for this video"}
        self.store = InMemorySwarmStore()
        self.tracker = Tracker(TrackerConfig(**config), self.store, self.access)
        self.rng = random.Random(1)
        self.sent: list[tuple[object, dict]] = []
        self.offer_numbers = itertools.count()  # every offer gets a fresh offer_id

    def access(self, info_hash: bytes) -> str | None:
        return self.allowed.get(info_hash, "Unknown infoHash")

    def send(self, connection, message: dict, now: float = 0.0) -> list[tuple[object, dict]]:
        out = self.tracker.handle_web(connection, orjson.dumps(message), now, self.rng)
        for _, reply in out:
            # Every message to a client must name its action and info_hash (a webtorrent client
            # drops a socket on a message without a valid action), except a scrape reply, which
            # has `files` instead.
            assert reply["action"] in ("announce", "scrape")
            assert "info_hash" in reply or "files" in reply
            orjson.dumps(reply)  # JSON-ready
        self.sent += out
        return out

    def announce(self, connection, peer_id, info_hash=VIDEO, now=0.0, offers=0, **fields):
        message = {
            "action": "announce",
            "info_hash": wire_id(info_hash),
            "peer_id": wire_id(peer_id),
            "numwant": offers,
            "uploaded": 0,
            "downloaded": 0,
            "left": 100,
            "event": "started",
            "offers": [
                {
                    "offer": {"type": "offer", "sdp": f"sdp {n}"},
                    "offer_id": wire_id(next(self.offer_numbers).to_bytes(4, "big") + peer_id[4:]),
                }
                for n in range(offers)
            ],
        }
        message.update(fields)
        message = {k: v for k, v in message.items() if v is not ...}
        return self.send(connection, message, now)

    def answer(self, connection, peer_id, to_peer_id, offer_id, info_hash=VIDEO, now=0.0):
        message = {
            "action": "announce",
            "info_hash": wire_id(info_hash),
            "peer_id": wire_id(peer_id),
            "to_peer_id": wire_id(to_peer_id),
            "offer_id": wire_id(offer_id),
            "answer": {"type": "answer", "sdp": "answer sdp"},
        }
        return self.send(connection, message, now)


def only_reply(out, connection="conn-a") -> dict:
    assert len(out) == 1
    assert out[0][0] == connection
    return out[0][1]


def offers_in(out) -> list[tuple[object, dict]]:
    return [(to, message) for to, message in out if "offer" in message]


def test_announce_reply_has_interval_and_counts_but_never_a_peer_list():
    world = World()
    world.announce("conn-b", pid("b"), left=0)
    reply = only_reply(world.announce("conn-a", pid("a")))
    assert reply == {
        "action": "announce",
        "interval": 120,
        "info_hash": wire_id(VIDEO),
        "complete": 1,
        "incomplete": 1,
    }


def test_seeder_sending_completed_before_started_joins_without_counting_a_download():
    world = World()
    reply = only_reply(world.announce("conn-a", pid("a"), event="completed", left=0))
    assert (reply["complete"], reply["incomplete"]) == (1, 0)
    reply = only_reply(world.announce("conn-a", pid("a"), event="started", left=0))
    assert (reply["complete"], reply["incomplete"]) == (1, 0)
    assert world.store.counts(VIDEO) == (1, 0, 0)


def test_completed_counts_a_download_once_when_the_peer_was_incomplete():
    world = World()
    world.announce("conn-a", pid("a"), left=None)
    world.announce("conn-a", pid("a"), event="completed", left=0)
    world.announce("conn-a", pid("a"), event="completed", left=0)
    assert world.store.counts(VIDEO) == (1, 0, 1)


def test_left_null_counts_as_incomplete():
    world = World()
    reply = only_reply(world.announce("conn-a", pid("a"), left=None))
    assert (reply["complete"], reply["incomplete"]) == (0, 1)


def test_periodic_announce_without_event_joins_and_refreshes():
    world = World()
    world.announce("conn-a", pid("a"), event=..., now=0)
    world.announce("conn-a", pid("a"), event=..., now=200)
    world.tracker.expire(now=300)
    assert world.store.get(VIDEO, pid("a")) is not None


def test_stopped_removes_the_peer_and_gets_the_normal_reply():
    world = World()
    world.announce("conn-a", pid("a"))
    world.announce("conn-b", pid("b"))
    reply = only_reply(world.announce("conn-a", pid("a"), event="stopped"))
    assert reply["action"] == "announce" and reply["incomplete"] == 1
    assert world.store.get(VIDEO, pid("a")) is None


def test_stopped_from_an_unknown_peer_changes_nothing_and_binds_nothing():
    world = World()
    assert only_reply(world.announce("conn-a", pid("a"), event="stopped"))["incomplete"] == 0
    # The peer_id was not bound to conn-a, so conn-b may use it.
    assert "failure reason" not in only_reply(world.announce("conn-b", pid("a")), "conn-b")


def test_offers_fan_out_to_distinct_random_web_peers_capped_at_max_peers_per_reply():
    world = World(max_peers_per_reply=4)
    for n in range(30):
        world.announce(f"conn-{n}", pid(str(n)))
    out = world.announce("conn-a", pid("a"), offers=10, event=...)
    relayed = offers_in(out)
    assert len(relayed) == 4
    recipients = [to for to, _ in relayed]
    assert len(set(recipients)) == 4 and "conn-a" not in recipients
    assert len({message["offer_id"] for _, message in relayed}) == 4
    for _, message in relayed:
        assert set(message) == {"action", "offer", "offer_id", "peer_id", "info_hash"}
        assert message["peer_id"] == wire_id(pid("a"))
        assert message["info_hash"] == wire_id(VIDEO)
        assert message["offer"]["type"] == "offer"
    # The sender's reply comes first, then the offers.
    assert out[0][0] == "conn-a" and "interval" in out[0][1]


@pytest.mark.parametrize(("config", "relayed"), [({}, 5), ({"max_relayed_offers": 8}, 8)])
def test_an_announce_carrying_more_offers_than_webtorrent_makes_has_five_relayed(config, relayed):
    world = World(**config)
    for n in range(30):
        world.announce(f"conn-{n}", pid(str(n)))
    out = world.announce("conn-a", pid("a"), offers=10)  # accepted: the parser allows 10
    assert "failure reason" not in out[0][1]
    assert len(offers_in(out)) == relayed


def test_offer_recipients_change_from_one_announce_to_the_next():
    world = World()
    for n in range(30):
        world.announce(f"conn-{n}", pid(str(n)))
    first = {to for to, _ in offers_in(world.announce("conn-a", pid("a"), offers=3))}
    second = {to for to, _ in offers_in(world.announce("conn-a", pid("a"), offers=3))}
    assert first != second


@pytest.mark.parametrize(("peers", "offers", "expected"), [(0, 5, 0), (2, 5, 2), (9, 5, 5)])
def test_fewer_peers_than_offers_forwards_fewer_offers(peers, offers, expected):
    world = World()
    for n in range(peers):
        world.announce(f"conn-{n}", pid(str(n)))
    assert len(offers_in(world.announce("conn-a", pid("a"), offers=offers))) == expected


def test_numwant_zero_forwards_no_offer():
    world = World()
    world.announce("conn-b", pid("b"))
    assert offers_in(world.announce("conn-a", pid("a"), offers=5, numwant=0)) == []


def test_offer_is_never_forwarded_back_to_its_sender():
    world = World()
    for _ in range(20):
        assert offers_in(world.announce("conn-a", pid("a"), offers=5)) == []


def test_offer_is_never_forwarded_to_another_peer_id_on_the_senders_connection():
    world = World()
    world.announce("conn-a", pid("a2"))
    for _ in range(20):
        assert offers_in(world.announce("conn-a", pid("a"), offers=5)) == []


def test_http_peers_never_get_offers():
    world = World()
    for n in range(5):
        world.tracker.handle_http_announce(http_announce(pid(f"h{n}")), 0, world.rng)
    assert offers_in(world.announce("conn-a", pid("a"), offers=5)) == []


def test_offers_stay_inside_their_swarm():
    world = World()
    world.announce("conn-b", pid("b"), info_hash=OTHER_VIDEO)
    assert offers_in(world.announce("conn-a", pid("a"), offers=5)) == []


def offer_from_a_to_b(world: World) -> bytes:
    world.announce("conn-b", pid("b"))
    ((to, message),) = offers_in(world.announce("conn-a", pid("a"), offers=1))
    assert to == "conn-b"
    return message["offer_id"].encode("latin-1")


def test_answer_is_relayed_to_the_offerer_and_the_answerer_gets_no_reply():
    world = World()
    offer_id = offer_from_a_to_b(world)
    out = world.answer("conn-b", pid("b"), pid("a"), offer_id, now=10)
    assert out == [
        (
            "conn-a",
            {
                "action": "announce",
                "answer": {"type": "answer", "sdp": "answer sdp"},
                "offer_id": wire_id(offer_id),
                "peer_id": wire_id(pid("b")),
                "info_hash": wire_id(VIDEO),
            },
        )
    ]


def failure(out, connection="conn-b") -> str:
    reply = only_reply(out, connection)
    assert reply["action"] == "announce"
    return reply["failure reason"]


@pytest.mark.parametrize(
    "scenario",
    [
        "never offered",
        "expired",
        "replayed",
        "answered by another connection",
        "wrong offer_id",
        "wrong to_peer_id",
        "other swarm",
        "offerer disconnected",
        "offerer stopped all and reconnected",
    ],
)
def test_answer_without_a_live_pending_offer_is_refused(scenario):
    world = World()
    if scenario == "never offered":
        offer_id = oid("a")
        world.announce("conn-b", pid("b"))
        world.announce("conn-a", pid("a"))
    else:
        offer_id = offer_from_a_to_b(world)
    world.announce("conn-c", pid("c"), info_hash=OTHER_VIDEO)
    world.announce("conn-c", pid("c"))
    to_peer, info_hash, connection, answerer, now = pid("a"), VIDEO, "conn-b", pid("b"), 1.0
    if scenario == "expired":
        now = 61.0
    elif scenario == "replayed":
        assert world.answer("conn-b", pid("b"), pid("a"), offer_id)[0][0] == "conn-a"
    elif scenario == "answered by another connection":
        connection, answerer = "conn-c", pid("c")
    elif scenario == "wrong offer_id":
        offer_id = oid("zz")
    elif scenario == "wrong to_peer_id":
        to_peer = pid("c")
    elif scenario == "other swarm":
        info_hash = OTHER_VIDEO
    elif scenario == "offerer disconnected":
        world.tracker.handle_disconnect("conn-a", now=1.0)
    elif scenario == "offerer stopped all and reconnected":
        world.tracker.handle_disconnect("conn-a", now=1.0)
        world.announce("conn-a2", pid("a"))
    out = world.answer(connection, answerer, to_peer, offer_id, info_hash=info_hash, now=now)
    assert failure(out, connection) in (
        "no pending offer",
        "peer_id is in use by another connection",
    )
    assert not any(to != connection for to, _ in out)


def test_answer_from_a_peer_id_never_announced_is_refused():
    world = World()
    offer_id = offer_from_a_to_b(world)
    assert failure(world.answer("conn-c", pid("c"), pid("a"), offer_id), "conn-c") == (
        "unknown peer_id"
    )


def test_answer_with_a_peer_id_owned_by_another_connection_is_refused():
    world = World()
    offer_id = offer_from_a_to_b(world)
    world.announce("conn-c", pid("c"))
    out = world.answer("conn-c", pid("b"), pid("a"), offer_id)
    assert failure(out, "conn-c") == "peer_id is in use by another connection"
    # The real answerer can still answer: the spoof did not consume the offer.
    assert world.answer("conn-b", pid("b"), pid("a"), offer_id)[0][0] == "conn-a"


@pytest.mark.parametrize("event", ["started", "stopped", "completed", ...])
def test_spoofed_peer_id_from_another_connection_changes_nothing(event):
    world = World()
    world.announce("conn-a", pid("a"))
    out = world.announce("conn-evil", pid("a"), event=event, left=0)
    assert failure(out, "conn-evil") == "peer_id is in use by another connection"
    assert world.store.get(VIDEO, pid("a")).connection == "conn-a"
    assert world.store.counts(VIDEO) == (0, 1, 0)


def test_peer_id_is_bound_across_swarms_while_its_connection_is_open():
    world = World()
    world.announce("conn-a", pid("a"), info_hash=OTHER_VIDEO)
    assert failure(world.announce("conn-evil", pid("a")), "conn-evil")
    world.tracker.handle_disconnect("conn-a", now=1)
    assert "failure reason" not in only_reply(world.announce("conn-new", pid("a")), "conn-new")


@pytest.mark.parametrize(
    ("info_hash", "reason"),
    [(UNKNOWN, "Unknown infoHash"), (DISABLED, "P2P is disabled for this video")],
)
def test_refused_info_hash_gets_the_reason_and_is_never_stored(info_hash, reason):
    world = World()
    reply = only_reply(world.announce("conn-a", pid("a"), info_hash=info_hash, offers=3))
    assert reply == {
        "action": "announce",
        "failure reason": reason,
        "info_hash": wire_id(info_hash),
    }
    assert world.store.info_hashes() == []
    assert world.tracker.stats()["connections"] == 0


def test_switching_p2p_off_refuses_the_next_announce_and_stops_the_relay():
    world = World()
    offer_id = offer_from_a_to_b(world)
    world.allowed[VIDEO] = "P2P is disabled for this video"
    out = world.answer("conn-b", pid("b"), pid("a"), offer_id)
    assert failure(out) == "P2P is disabled for this video"
    out = world.announce("conn-a", pid("a"), offers=3)
    assert failure(out, "conn-a") == "P2P is disabled for this video"
    assert world.store.get(VIDEO, pid("a")) is None


def test_drop_swarm_forgets_every_peer_of_the_video():
    world = World(max_infohashes_per_connection=2)
    world.announce("conn-a", pid("a"))
    world.announce("conn-b", pid("b"))
    world.announce("conn-a", pid("a"), info_hash=OTHER_VIDEO)
    assert world.tracker.drop_swarm(VIDEO) == 2
    assert world.tracker.drop_swarm(VIDEO) == 0
    assert world.store.info_hashes() == [OTHER_VIDEO]
    assert world.tracker.stats()["web_peers"] == 1
    # The memberships went too: conn-a may join another swarm within its limit of 2.
    world.allowed[UNKNOWN] = None
    assert "failure reason" not in only_reply(world.announce("conn-a", pid("a"), UNKNOWN))


def test_disconnect_removes_the_connections_peers_everywhere_and_its_pending_offers():
    world = World()
    offer_from_a_to_b(world)
    world.announce("conn-a", pid("a"), info_hash=OTHER_VIDEO)
    assert world.tracker.stats()["pending_offers"] == 1
    world.tracker.handle_disconnect("conn-a", now=1)
    assert world.store.get(VIDEO, pid("a")) is None
    assert world.store.get(OTHER_VIDEO, pid("a")) is None
    assert world.store.get(VIDEO, pid("b")) is not None
    assert world.tracker.stats() == {
        "swarms": 1,
        "web_peers": 1,
        "http_peers": 0,
        "connections": 1,
        "pending_offers": 0,
    }
    world.tracker.handle_disconnect("conn-b", now=1)
    world.tracker.handle_disconnect("conn-unknown", now=1)
    assert world.tracker.stats()["connections"] == 0


def test_disconnect_of_the_recipient_drops_offers_waiting_for_its_answer():
    world = World()
    offer_from_a_to_b(world)
    world.tracker.handle_disconnect("conn-b", now=1)
    assert world.tracker.stats()["pending_offers"] == 0


def test_silent_peers_expire_after_peer_ttl_and_may_join_again():
    world = World(max_infohashes_per_connection=1)
    world.announce("conn-a", pid("a"), now=0)
    world.tracker.expire(now=239)
    assert world.store.get(VIDEO, pid("a")) is not None
    world.tracker.expire(now=241)
    assert world.store.get(VIDEO, pid("a")) is None
    # Its membership went with it, so the one-swarm limit does not block a new join.
    assert "failure reason" not in only_reply(world.announce("conn-a", pid("a"), now=242))


def test_pending_offers_expire_after_offer_ttl():
    world = World()
    offer_from_a_to_b(world)
    world.tracker.expire(now=59)
    assert world.tracker.stats()["pending_offers"] == 1
    world.tracker.expire(now=61)
    assert world.tracker.stats()["pending_offers"] == 0


def test_a_connection_may_join_only_max_infohashes_per_connection_swarms():
    world = World(max_infohashes_per_connection=2)
    world.announce("conn-a", pid("a"), info_hash=VIDEO)
    world.announce("conn-a", pid("a"), info_hash=OTHER_VIDEO)
    world.allowed[UNKNOWN] = None
    out = world.announce("conn-a", pid("a"), info_hash=UNKNOWN)
    assert failure(out, "conn-a") == "too many torrents on this connection"
    assert world.store.get(UNKNOWN, pid("a")) is None
    world.announce("conn-a", pid("a"), info_hash=VIDEO, event="stopped")
    assert "failure reason" not in only_reply(world.announce("conn-a", pid("a"), info_hash=UNKNOWN))
    # Re-announcing in a swarm it is already in is never refused.
    out = world.announce("conn-a", pid("a"), info_hash=OTHER_VIDEO, event=...)
    assert "failure reason" not in only_reply(out)


def test_a_connection_cannot_bind_unlimited_peer_ids():
    world = World(max_infohashes_per_connection=2)
    for n in range(2):
        world.announce("conn-a", pid(str(n)))
        world.announce("conn-a", pid(str(n)), event="stopped")
    out = world.announce("conn-a", pid("new"))
    assert failure(out, "conn-a") == "too many peer_ids on this connection"


def test_pending_offers_waiting_at_one_connection_are_bounded():
    # limit = max_offers_per_announce x max_infohashes_per_connection = 2
    world = World(max_offers_per_announce=2, max_infohashes_per_connection=1)
    world.announce("conn-b", pid("b"))
    for _ in range(50):
        assert len(offers_in(world.announce("conn-a", pid("a"), offers=2, event=...))) == 1
    assert world.tracker.stats()["pending_offers"] == 2


def test_a_flood_of_offers_does_not_disturb_offers_between_other_connections():
    world = World(max_offers_per_announce=1, max_infohashes_per_connection=1)
    world.announce("conn-d", pid("d"), info_hash=OTHER_VIDEO)
    ((to, message),) = offers_in(world.announce("conn-c", pid("c"), OTHER_VIDEO, offers=1))
    assert to == "conn-d"
    world.announce("conn-b", pid("b"))
    for _ in range(100):
        world.announce("conn-a", pid("a"), offers=1, event=...)
    assert world.tracker.stats()["pending_offers"] == 2
    offer_id = message["offer_id"].encode("latin-1")
    out = world.answer("conn-d", pid("d"), pid("c"), offer_id, info_hash=OTHER_VIDEO)
    assert out[0][0] == "conn-c"


@pytest.mark.parametrize(
    ("raw", "reason", "info_hash"),
    [
        (b"not json", "invalid JSON", ""),
        (b"[]", "message is not a JSON object", ""),
        (b'{"action": "connect"}', "invalid action", ""),
        (
            orjson.dumps({"action": "announce", "info_hash": wire_id(VIDEO), "offers": [None]}),
            "invalid peer_id",
            wire_id(VIDEO),
        ),
    ],
)
def test_bad_message_gets_a_failure_reason_the_client_can_read(raw, reason, info_hash):
    world = World()
    out = world.tracker.handle_web("conn-a", raw, 0.0, world.rng)
    assert out == [
        ("conn-a", {"action": "announce", "failure reason": reason, "info_hash": info_hash})
    ]


def test_scrape_reports_counts_per_info_hash():
    world = World()
    world.announce("conn-a", pid("a"), left=0, event="completed")
    world.announce("conn-b", pid("b"), left=None)
    out = world.send("conn-x", {"action": "scrape", "info_hash": wire_id(VIDEO)})
    assert only_reply(out, "conn-x") == {
        "action": "scrape",
        "files": {wire_id(VIDEO): {"complete": 1, "incomplete": 1, "downloaded": 0}},
    }


@pytest.mark.parametrize(
    ("info_hashes", "expected_files", "failure"),
    [
        ([VIDEO, UNKNOWN, OTHER_VIDEO], [VIDEO, OTHER_VIDEO], None),
        ([UNKNOWN, DISABLED], [], "Unknown infoHash"),
        ([DISABLED], [], "P2P is disabled for this video"),
    ],
)
def test_scrape_omits_refused_info_hashes_and_fails_when_none_is_allowed(
    info_hashes, expected_files, failure
):
    world = World()
    out = world.send("conn-x", {"action": "scrape", "info_hash": [wire_id(h) for h in info_hashes]})
    reply = only_reply(out, "conn-x")
    if failure is None:
        assert list(reply["files"]) == [wire_id(h) for h in expected_files]
    else:
        assert reply == {
            "action": "scrape",
            "failure reason": failure,
            "info_hash": wire_id(info_hashes[0]),
        }
    assert world.store.info_hashes() == []


def test_full_scrape_is_refused_with_a_scrape_failure():
    world = World()
    world.announce("conn-a", pid("a"))
    reply = only_reply(world.send("conn-x", {"action": "scrape"}), "conn-x")
    assert reply == {
        "action": "scrape",
        "failure reason": "full scrape is not allowed",
        "info_hash": "",
    }


def test_stats_are_counts_only():
    world = World()
    world.announce("conn-a", pid("a"))
    world.tracker.handle_http_announce(http_announce(pid("h")), 0, world.rng)
    assert world.tracker.stats() == {
        "swarms": 1,
        "web_peers": 1,
        "http_peers": 1,
        "connections": 1,
        "pending_offers": 0,
    }


def http_announce(peer_id: bytes, **fields):
    from tracker.core.message_types import HttpAnnounce

    values = dict(
        info_hash=VIDEO,
        peer_id=peer_id,
        ip="192.0.2.1",
        port=6881,
        uploaded=0,
        downloaded=0,
        left=10,
        event="started",
        numwant=None,
        compact=True,
        no_peer_id=False,
    )
    values.update(fields)
    return HttpAnnounce(**values)


def test_a_new_config_applies_its_limits_to_the_next_messages():
    world = World()
    world.announce("conn-a", pid("a"))
    world.tracker.config = TrackerConfig(max_infohashes_per_connection=1, announce_interval=30)
    out = world.announce("conn-a", pid("a"), info_hash=OTHER_VIDEO)
    assert failure(out, "conn-a") == "too many torrents on this connection"
    assert only_reply(world.announce("conn-a", pid("a"), event=...))["interval"] == 30
    world.tracker.expire(now=61)  # peer_ttl is now 2 x 30 s
    assert world.store.get(VIDEO, pid("a")) is None
