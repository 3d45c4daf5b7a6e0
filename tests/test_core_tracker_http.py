import ipaddress
import random

import orjson
import pytest

from tracker.core import (
    HttpAnnounce,
    HttpScrape,
    InMemorySwarmStore,
    Tracker,
    TrackerConfig,
    bdecode,
    bencode,
    wire_id,
)

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
