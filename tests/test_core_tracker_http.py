import ipaddress
import random

import orjson
import pytest

from tests.core_helpers import WireTracker as Tracker
from tracker.core import InMemorySwarmStore, TrackerConfig, bdecode, bencode, wire_id
from tracker.core.message_types import HttpAnnounce, HttpScrape

VIDEO = bytes(range(200, 220))
OTHER_VIDEO = b"\x01" * 20
UNKNOWN = b"\x02" * 20
DISABLED = b"\x03" * 20
ACCESS = {VIDEO: None, OTHER_VIDEO: None, DISABLED: "P2P is disabled for this video"}


def pid(name: str) -> bytes:
    return (b"-lt2011-" + name.encode() + b"." * 12)[:20]


def make_tracker(**config) -> Tracker:
    return Tracker(
        TrackerConfig(**config),
        InMemorySwarmStore(),
        lambda info_hash: ACCESS.get(info_hash, "Unknown infoHash"),
    )


def http(peer_id: bytes, ip: str = "192.0.2.1", **fields) -> HttpAnnounce:
    values = dict(
        info_hash=VIDEO,
        peer_id=peer_id,
        ip=ip,
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


def web_announce(tracker: Tracker, connection: str, peer_id: bytes, **fields) -> list:
    message = {
        "action": "announce",
        "info_hash": wire_id(VIDEO),
        "peer_id": wire_id(peer_id),
        "left": 10,
        "event": "started",
        **fields,
    }
    return tracker.handle_web(connection, orjson.dumps(message), 0.0, random.Random(1))


def decode_compact(peers: bytes, size: int) -> list[tuple[str, int]]:
    assert len(peers) % size == 0
    return [
        (
            str(ipaddress.ip_address(peers[i : i + size - 2])),
            int.from_bytes(peers[i + size - 2 : i + size]),
        )
        for i in range(0, len(peers), size)
    ]


def test_reply_carries_intervals_counts_and_compact_peers():
    tracker = make_tracker()
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("b"), "192.0.2.2", port=51413, left=0), 0, rng)
    reply = tracker.handle_http_announce(http(pid("a")), 0, rng)
    assert reply == {
        "interval": 120,
        "min interval": 60,
        "complete": 1,
        "incomplete": 1,
        "peers": bytes([192, 0, 2, 2]) + (51413).to_bytes(2, "big"),
    }
    # Ready for bencode, and round-trips through the strict decoder.
    assert bdecode(bencode(reply))[b"peers"] == reply["peers"]


def test_compact_reply_lists_ipv4_peers_in_6_bytes_and_ipv6_peers_in_peers6_18_bytes():
    tracker = make_tracker()
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("v4"), "198.51.100.7", port=1), 0, rng)
    tracker.handle_http_announce(http(pid("v6"), "2001:db8::7", port=65535), 0, rng)
    reply = tracker.handle_http_announce(http(pid("a")), 0, rng)
    assert decode_compact(reply["peers"], 6) == [("198.51.100.7", 1)]
    assert decode_compact(reply["peers6"], 18) == [("2001:db8::7", 65535)]


def test_compact_reply_has_no_peers6_key_without_ipv6_peers():
    reply = make_tracker().handle_http_announce(http(pid("a")), 0, random.Random(1))
    assert reply["peers"] == b""
    assert "peers6" not in reply


@pytest.mark.parametrize(
    ("no_peer_id", "expected"),
    [
        (False, [{"peer id": pid("b"), "ip": "2001:db8::2", "port": 6881}]),
        (True, [{"ip": "2001:db8::2", "port": 6881}]),
    ],
)
def test_non_compact_reply_lists_peer_dicts(no_peer_id, expected):
    tracker = make_tracker()
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("b"), "2001:db8::2"), 0, rng)
    reply = tracker.handle_http_announce(
        http(pid("a"), compact=False, no_peer_id=no_peer_id), 0, rng
    )
    assert reply["peers"] == expected
    bencode(reply)


def test_web_peers_are_never_listed_to_http_clients_but_are_counted():
    tracker = make_tracker()
    for n in range(5):
        web_announce(tracker, f"conn-{n}", pid(f"w{n}"))
    reply = tracker.handle_http_announce(http(pid("a")), 0, random.Random(1))
    assert reply["peers"] == b""
    assert reply["incomplete"] == 6
    reply = tracker.handle_http_announce(http(pid("a"), compact=False), 0, random.Random(1))
    assert reply["peers"] == []


def test_http_peers_never_receive_offers_from_web_peers():
    tracker = make_tracker()
    tracker.handle_http_announce(http(pid("h")), 0, random.Random(1))
    offers = [{"offer": {"type": "offer", "sdp": "x"}, "offer_id": wire_id(b"o" * 20)}]
    out = web_announce(tracker, "conn-a", pid("w"), offers=offers, numwant=1)
    assert [to for to, _ in out] == ["conn-a"]


@pytest.mark.parametrize(
    ("numwant", "cap", "expected"), [(None, 20, 20), (5, 20, 5), (0, 20, 0), (50, 7, 7)]
)
def test_peer_count_is_min_of_numwant_and_the_cap_and_excludes_the_requester(
    numwant, cap, expected
):
    tracker = make_tracker(max_peers_per_reply=cap)
    rng = random.Random(1)
    for n in range(60):
        tracker.handle_http_announce(http(pid(str(n)), f"192.0.2.{n + 1}"), 0, rng)
    reply = tracker.handle_http_announce(
        http(pid("0"), "192.0.2.1", numwant=numwant, compact=False), 0, rng
    )
    assert len(reply["peers"]) == expected
    assert len({p["peer id"] for p in reply["peers"]}) == expected
    assert pid("0") not in {p["peer id"] for p in reply["peers"]}


def test_peers_are_sampled_at_random_each_time():
    tracker = make_tracker(max_peers_per_reply=5)
    rng = random.Random(1)
    for n in range(40):
        tracker.handle_http_announce(http(pid(str(n)), f"192.0.2.{n + 1}"), 0, rng)
    first = tracker.handle_http_announce(http(pid("x")), 0, rng)["peers"]
    second = tracker.handle_http_announce(http(pid("x")), 0, rng)["peers"]
    assert first != second


@pytest.mark.parametrize(
    ("info_hash", "reason"),
    [(UNKNOWN, "Unknown infoHash"), (DISABLED, "P2P is disabled for this video")],
)
def test_refused_info_hash_gets_a_failure_reason_and_is_never_stored(info_hash, reason):
    tracker = make_tracker()
    reply = tracker.handle_http_announce(http(pid("a"), info_hash=info_hash), 0, random.Random(1))
    assert reply == {"failure reason": reason}
    assert tracker.store.info_hashes() == []


def test_peer_id_held_by_a_web_peer_is_refused_to_http():
    tracker = make_tracker()
    web_announce(tracker, "conn-a", pid("a"))
    # Even in another swarm: a web peer_id is bound to its socket globally.
    for info_hash in (VIDEO, OTHER_VIDEO):
        reply = tracker.handle_http_announce(
            http(pid("a"), info_hash=info_hash), 0, random.Random(1)
        )
        assert reply == {"failure reason": "peer_id is in use"}
    assert tracker.store.get(VIDEO, pid("a")).is_web


def test_peer_id_held_by_an_http_peer_at_another_address_is_refused():
    tracker = make_tracker()
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("a"), "192.0.2.1"), 0, rng)
    reply = tracker.handle_http_announce(http(pid("a"), "192.0.2.66", event="stopped"), 0, rng)
    assert reply == {"failure reason": "peer_id is in use"}
    assert tracker.store.get(VIDEO, pid("a")).ip == "192.0.2.1"
    # Same address, new port: the peer just restarted.
    reply = tracker.handle_http_announce(http(pid("a"), "192.0.2.1", port=7000), 0, rng)
    assert "failure reason" not in reply
    assert tracker.store.get(VIDEO, pid("a")).port == 7000


def test_web_peer_id_held_by_an_http_peer_is_refused_to_the_web():
    tracker = make_tracker()
    tracker.handle_http_announce(http(pid("a")), 0, random.Random(1))
    ((_, reply),) = web_announce(tracker, "conn-a", pid("a"))
    assert reply["failure reason"] == "peer_id is in use by another connection"


def test_stopped_removes_the_http_peer():
    tracker = make_tracker()
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("a")), 0, rng)
    reply = tracker.handle_http_announce(http(pid("a"), event="stopped"), 0, rng)
    assert (reply["complete"], reply["incomplete"], reply["peers"]) == (0, 0, b"")
    assert tracker.store.info_hashes() == []


def test_completed_counts_one_download_for_a_peer_that_was_incomplete():
    tracker = make_tracker()
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("s"), left=0, event="completed"), 0, rng)
    tracker.handle_http_announce(http(pid("a"), left=5), 0, rng)
    tracker.handle_http_announce(http(pid("a"), left=0, event="completed"), 0, rng)
    tracker.handle_http_announce(http(pid("a"), left=0, event="completed"), 0, rng)
    assert tracker.store.counts(VIDEO) == (2, 0, 1)


def test_http_peers_expire_after_peer_ttl():
    tracker = make_tracker()
    tracker.handle_http_announce(http(pid("a")), 0, random.Random(1))
    tracker.expire(now=239)
    assert tracker.store.get(VIDEO, pid("a")) is not None
    tracker.expire(now=241)
    assert tracker.store.get(VIDEO, pid("a")) is None


def test_scrape_reports_bep48_files_keyed_by_raw_info_hash():
    tracker = make_tracker()
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("a"), left=0), 0, rng)
    reply = tracker.handle_http_scrape(HttpScrape((VIDEO, UNKNOWN, OTHER_VIDEO)), 0)
    assert reply == {
        "files": {
            VIDEO: {"complete": 1, "incomplete": 0, "downloaded": 0},
            OTHER_VIDEO: {"complete": 0, "incomplete": 0, "downloaded": 0},
        }
    }
    assert bdecode(bencode(reply))[b"files"][VIDEO] == {
        b"complete": 1,
        b"incomplete": 0,
        b"downloaded": 0,
    }


@pytest.mark.parametrize(
    ("info_hashes", "reason"),
    [((UNKNOWN,), "Unknown infoHash"), ((DISABLED, UNKNOWN), "P2P is disabled for this video")],
)
def test_scrape_of_only_refused_info_hashes_fails(info_hashes, reason):
    tracker = make_tracker()
    assert tracker.handle_http_scrape(HttpScrape(info_hashes), 0) == {"failure reason": reason}
    assert tracker.store.info_hashes() == []


# HTTP peers per address and swarm


def http_peer_ids(tracker: Tracker, info_hash: bytes = VIDEO) -> set[bytes]:
    peers = tracker.store.sample_http(info_hash, 50, random.Random(1), exclude=b"")
    return {peer.peer_id for peer in peers}


def test_one_address_holds_at_most_the_cap_and_its_oldest_peers_are_replaced():
    tracker = make_tracker(max_http_peers_per_address=4)
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("other"), "192.0.2.99"), 0, rng)
    for n in range(100):
        reply = tracker.handle_http_announce(http(pid(f"{n:03d}"), "192.0.2.1"), n, rng)
        assert reply["incomplete"] == min(n + 1, 4) + 1
    assert http_peer_ids(tracker) == {pid("other"), *(pid(f"{n:03d}") for n in range(96, 100))}
    assert tracker.store.counts(VIDEO) == (0, 5, 0)


def test_replaced_seeders_and_leechers_leave_the_counts():
    tracker = make_tracker(max_http_peers_per_address=2)
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("seed"), left=0), 0, rng)
    tracker.handle_http_announce(http(pid("leech"), left=10), 1, rng)
    reply = tracker.handle_http_announce(http(pid("new"), left=10), 2, rng)  # replaces the seeder
    assert (reply["complete"], reply["incomplete"]) == (0, 2)
    reply = tracker.handle_http_announce(http(pid("new2"), left=0), 3, rng)  # and the leecher
    assert (reply["complete"], reply["incomplete"]) == (1, 1)
    assert tracker.store.count_by_kind(VIDEO).http_seeders == 1


def test_the_peer_replaced_is_the_one_that_announced_longest_ago():
    tracker = make_tracker(max_http_peers_per_address=3)
    rng = random.Random(1)
    for n, name in enumerate("abc"):
        tracker.handle_http_announce(http(pid(name)), n, rng)
    tracker.handle_http_announce(http(pid("a"), event=None), 10, rng)  # a announces again
    tracker.handle_http_announce(http(pid("d")), 11, rng)
    assert http_peer_ids(tracker) == {pid("a"), pid("c"), pid("d")}
    # The replaced peer is forgotten: announcing again, it is a new peer and replaces the next.
    tracker.handle_http_announce(http(pid("b"), event=None), 12, rng)
    assert http_peer_ids(tracker) == {pid("a"), pid("d"), pid("b")}


def test_the_cap_counts_per_swarm_and_never_touches_other_addresses():
    tracker = make_tracker(max_http_peers_per_address=2)
    rng = random.Random(1)
    for n in range(5):
        tracker.handle_http_announce(http(pid(f"x{n}"), "192.0.2.1"), n, rng)
        tracker.handle_http_announce(http(pid(f"y{n}"), "192.0.2.2", port=7000 + n), n, rng)
        tracker.handle_http_announce(http(pid(f"z{n}"), "192.0.2.1", info_hash=OTHER_VIDEO), n, rng)
    assert tracker.store.counts(VIDEO) == (0, 4, 0)
    assert tracker.store.counts(OTHER_VIDEO) == (0, 2, 0)
    assert {p.ip for p in tracker.store.http_peers_from(VIDEO, "192.0.2.2")} == {"192.0.2.2"}


def test_ipv6_addresses_of_one_64_count_as_one_address():
    tracker = make_tracker(max_http_peers_per_address=2)
    rng = random.Random(1)
    for n in range(1, 6):
        tracker.handle_http_announce(http(pid(f"a{n}"), f"2001:db8:0:1::{n}"), n, rng)
    tracker.handle_http_announce(http(pid("b"), "2001:db8:0:2::1"), 9, rng)
    assert http_peer_ids(tracker) == {pid("a4"), pid("a5"), pid("b")}


def test_a_lowered_cap_applies_when_the_next_peer_of_the_address_joins():
    tracker = make_tracker(max_http_peers_per_address=4)
    rng = random.Random(1)
    for n in range(4):
        tracker.handle_http_announce(http(pid(f"p{n}")), n, rng)
    tracker.config = TrackerConfig(max_http_peers_per_address=2)
    tracker.handle_http_announce(http(pid("p0"), event=None), 5, rng)  # a known peer: no trim
    assert tracker.store.counts(VIDEO) == (0, 4, 0)
    tracker.handle_http_announce(http(pid("new")), 6, rng)
    assert http_peer_ids(tracker) == {pid("p0"), pid("new")}


def test_stopped_and_expired_peers_free_their_place():
    tracker = make_tracker(max_http_peers_per_address=2)
    rng = random.Random(1)
    tracker.handle_http_announce(http(pid("a")), 0, rng)
    tracker.handle_http_announce(http(pid("b")), 100, rng)
    tracker.handle_http_announce(http(pid("a"), event="stopped"), 101, rng)
    tracker.expire(now=341)  # b is 241 s silent: gone
    tracker.handle_http_announce(http(pid("c")), 341, rng)
    tracker.handle_http_announce(http(pid("d")), 342, rng)
    assert http_peer_ids(tracker) == {pid("c"), pid("d")}


def test_an_exempt_source_is_not_capped():
    tracker = make_tracker(max_http_peers_per_address=2)
    rng = random.Random(1)
    for n in range(5):
        tracker.handle_http_announce(http(pid(f"m{n}")), n, rng, capped=False)
    assert tracker.store.counts(VIDEO) == (0, 5, 0)


def test_the_cap_must_let_at_least_one_peer_in():
    with pytest.raises(ValueError):
        TrackerConfig(max_http_peers_per_address=0)
