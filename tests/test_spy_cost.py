"""The spy-cost formulas (adminpanel/spy_cost.py), checked against crawlers run on the real tracker
core with a simulated clock: what the formulas predict is within a factor of 2 of what the
crawler measures. bench/spy_bench.py checks the rush against the served tracker the same way."""

import random
import statistics
from urllib.parse import quote_from_bytes

import orjson
import pytest

from adminpanel.spy_cost import (
    Limits,
    Swarm,
    card,
    collection_cost,
    rush,
    samples_to_collect,
    video_slots,
)
from tracker.core import (
    GuardConfig,
    InMemorySwarmStore,
    Policy,
    TrackerConfig,
    TrackerCore,
    bdecode,
    encode_http,
    web_json,
    wire_id,
)

INTERVAL = 120
TRACKER = TrackerConfig(announce_interval=INTERVAL)
GUARD = GuardConfig(announce_interval=INTERVAL)


def within_factor_2(predicted: float, measured: float) -> bool:
    return measured / 2 <= predicted <= measured * 2


def video(n: int) -> bytes:
    return (b"video-%05d" % n).ljust(20, b".")


def test_samples_to_collect_a_swarm():
    assert samples_to_collect(0, 5) == 0
    assert samples_to_collect(5, 5) == 1 and samples_to_collect(3, 20) == 1
    # One at a time is the coupon collector: 50 * H(50) = 224.96 draws.
    assert abs(samples_to_collect(50, 1) - 224.96) < 3
    assert samples_to_collect(200, 5) > samples_to_collect(100, 5) > samples_to_collect(100, 20)
    with pytest.raises(ValueError):
        samples_to_collect(10, 0)


class SimulatedSwarm:
    """The real core with `size` web peers (or HTTP peers) of distinct addresses in one swarm,
    and a crawler from one address sampling it every half interval, as the guard lets it."""

    def __init__(self, size: int, seed: int, *, web: bool) -> None:
        self.rng = random.Random(seed)
        self.core = TrackerCore(
            InMemorySwarmStore(), Policy(tracker=TRACKER, guard=GUARD, p2p={video(0): True})
        )
        self.web = web
        self.peers: dict[object, bytes] = {}
        for n in range(size):
            address = f"10.1.{n // 250}.{n % 250 + 1}"
            peer_id = b"-WW0208-%012d" % n
            if web:
                meter, _ = self.core.open_socket(address, 0.0)
                self.peers[(address, meter)] = peer_id
                self.web_frame(meter, address, peer_id, offers=0)
            else:
                self.peers[address] = peer_id
                self.http(address, peer_id)

    def web_frame(self, meter, connection, peer_id: bytes, offers: int, now: float = 0.0):
        frame = {
            "action": "announce",
            "info_hash": wire_id(video(0)),
            "peer_id": wire_id(peer_id),
            "numwant": offers,
            "left": 0,
            "offers": [
                {
                    "offer": {"type": "offer", "sdp": "v=0"},
                    "offer_id": wire_id(self.rng.randbytes(20)),
                }
                for _ in range(offers)
            ],
        }
        result = self.core.receive_web(connection, meter, orjson.dumps(frame), now, self.rng)
        return [(to, web_json(message)) for to, message in result.messages]

    def http(self, address: str, peer_id: bytes, now: float = 0.0, numwant: int = 50) -> dict:
        query = (
            f"info_hash={quote_from_bytes(video(0))}&peer_id={quote_from_bytes(peer_id)}"
            f"&port=6881&uploaded=0&downloaded=0&left=0&compact=1&numwant={numwant}"
        ).encode()
        result = self.core.announce_http(query, address, address, now, self.rng)
        return bdecode(encode_http(result.reply)[1])

    def samples_until_collected(self) -> int:
        """Sampling announces (each half an interval after the last) until every peer was
        reached: a web peer is reached when an offer is relayed to it (its answer carries its
        address), an HTTP peer when it is listed."""
        crawler = "192.0.2.66"
        meter, _ = self.core.open_socket(crawler, 0.0)
        seen: set = set()
        samples, now = 0, 0.0
        while len(seen) < len(self.peers) and samples < 10_000:
            now += INTERVAL / 2
            samples += 1
            if self.web:
                out = self.web_frame(meter, crawler, b"-WW0208-crawler00001", offers=5, now=now)
                seen |= {to for to, message in out if "offer" in message}
            else:
                reply = self.http(crawler, b"-LT2010-crawler00001", now, numwant=200)
                blob = reply[b"peers"]
                seen |= {blob[i : i + 6] for i in range(0, len(blob), 6)}
            if self.web and samples % 2 == 0:  # the peers announce at their interval
                for connection, peer_id in self.peers.items():
                    self.web_frame(connection[1], connection, peer_id, 0, now)
        return samples

    def __len__(self) -> int:
        return len(self.peers)


@pytest.mark.parametrize(("size", "web"), [(40, True), (150, True), (60, False), (300, False)])
def test_predicted_samples_to_collect_a_swarm_match_a_crawler_on_the_real_core(size, web):
    measured = statistics.mean(
        SimulatedSwarm(size, seed, web=web).samples_until_collected() for seed in range(5)
    )
    limits = Limits.of(TRACKER, GUARD)
    predicted = samples_to_collect(size, limits.web_sample if web else limits.http_sample)
    print(f"{'web' if web else 'HTTP'} swarm of {size}: predicted {predicted}, measured {measured}")
    assert within_factor_2(predicted, measured)


def rush_on_the_real_core(swarms: list[Swarm], threshold: int = 1) -> tuple[int, int]:
    """The spy benchmark's crawler (an HTTP announce asking for 200 peers, then a WebSocket
    announce with 10 offers, video after video) from one address until it is blocked: the
    requests it made and the peers it reached."""
    rng = random.Random(5)
    p2p = {video(n): True for n in range(len(swarms))}
    min_viewers = {h: threshold for h in p2p} if threshold > 1 else {}
    core = TrackerCore(
        InMemorySwarmStore(),
        Policy(tracker=TRACKER, guard=GUARD, p2p=p2p, min_viewers=min_viewers),
    )
    peer_number = 0
    for n, swarm in enumerate(swarms):
        for kind, count in (("web", swarm.web), ("http", swarm.http)):
            for _ in range(count):
                peer_number += 1
                address = f"10.2.{peer_number // 250}.{peer_number % 250 + 1}"
                peer_id = wire_id(b"-WW0208-%012d" % peer_number)
                if kind == "web":
                    meter, _ = core.open_socket(address, 0.0)
                    frame = {"action": "announce", "info_hash": wire_id(video(n)),
                             "peer_id": peer_id, "numwant": 0, "left": 0}  # fmt: skip
                    core.receive_web((address, n), meter, orjson.dumps(frame), 0.0, rng)
                else:
                    query = (f"info_hash={quote_from_bytes(video(n))}&peer_id="
                             f"{quote_from_bytes(peer_id.encode('latin-1'))}&port=6881"
                             "&uploaded=0&downloaded=0&left=0&compact=1").encode()  # fmt: skip
                    core.announce_http(query, address, address, 0.0, rng)
    crawler = "192.0.2.77"
    meter, _ = core.open_socket(crawler, 1.0)
    requests = reached = 0
    now = 1.0
    for n in range(len(swarms)):
        now += 0.01
        requests += 1
        query = (f"info_hash={quote_from_bytes(video(n))}&peer_id=-LT2010-CRAWLER00001"
                 "&port=6881&uploaded=0&downloaded=0&left=0&compact=1&numwant=200"
                 "&event=started").encode()  # fmt: skip
        result = core.announce_http(query, crawler, crawler, now, rng)
        if result.blocked_source is not None:
            break
        reached += len(bdecode(encode_http(result.reply)[1]).get(b"peers", b"")) // 6
        requests += 1
        offers = [
            {"offer": {"type": "offer", "sdp": "v=0"}, "offer_id": wire_id(rng.randbytes(20))}
            for _ in range(10)
        ]
        frame = {"action": "announce", "info_hash": wire_id(video(n)), "event": "started",
                 "peer_id": "-WW0208-crawler00002", "numwant": 10, "left": 0,
                 "offers": offers}  # fmt: skip
        result = core.receive_web(crawler, meter, orjson.dumps(frame), now, rng)
        reached += sum(1 for _, message in result.messages if web_json(message).get("offer"))
        if result.blocked_source is not None:
            break
    return requests, reached


def catalogue(seed: int, videos: int = 40, peers: int = 400) -> list[Swarm]:
    """Swarm sizes by popularity (Zipf), 80% web peers, shuffled as an API would list them."""
    rng = random.Random(seed)
    weights = [1 / rank for rank in range(1, videos + 1)]
    web, http = [0] * videos, [0] * videos
    for _ in range(peers):
        n = rng.choices(range(videos), weights)[0]
        if rng.random() < 0.8:
            web[n] += 1
        else:
            http[n] += 1
    swarms = [Swarm(w, h, viewers=w + h) for w, h in zip(web, http, strict=True)]
    rng.shuffle(swarms)
    return swarms


@pytest.mark.parametrize("threshold", [1, 5])
def test_the_rush_prediction_matches_a_crawler_on_the_real_core(threshold):
    for seed in range(3):
        swarms = [Swarm(s.web, s.http, s.viewers, threshold) for s in catalogue(seed)]
        requests, reached = rush_on_the_real_core(swarms, threshold)
        predicted = rush([swarms], Limits.of(TRACKER, GUARD))
        print(
            f"N={threshold} seed {seed}: requests {predicted.requests} predicted, "
            f"{requests} measured; peers {predicted.learned} predicted, {reached} measured"
        )
        assert within_factor_2(predicted.requests, requests)
        assert predicted.learned == reached == 0 or within_factor_2(predicted.learned, reached)


def test_a_crawler_with_too_few_videos_to_breach_the_limits_is_not_blocked():
    few = [Swarm(3, 3, viewers=6) for _ in range(GUARD.max_videos + 2)]
    predicted = rush([few], Limits.of(TRACKER, GUARD))
    assert not predicted.blocked and predicted.requests == 2 * len(few)
    assert rush_on_the_real_core(few) == (predicted.requests, predicted.learned)


def test_a_swarm_below_its_threshold_gives_a_rushing_crawler_nothing():
    small = [Swarm(2, 1, viewers=3, threshold=5), Swarm(1, 0, viewers=1, threshold=5)]
    assert rush([small], Limits.of(TRACKER, GUARD)).learned == 0
    assert rush_on_the_real_core(small, threshold=5)[1] == 0
    # The crawler's own address is a viewer: one short of N, it is served.
    almost = [Swarm(3, 1, viewers=4, threshold=5)]
    assert rush([almost], Limits.of(TRACKER, GUARD)).learned == 4
    assert rush_on_the_real_core(almost, threshold=5)[1] == 4


def test_collection_costs_grow_with_the_swarms_and_the_limits_make_them_dear():
    swarms = catalogue(1, videos=100, peers=1000)
    protected = collection_cost(swarms, Limits.of(TRACKER, GUARD))
    unprotected = collection_cost(swarms, Limits.unprotected(INTERVAL))
    assert protected.requests > unprotected.requests
    assert protected.seconds > 100 * unprotected.seconds
    assert protected.addresses > unprotected.addresses == 1
    # One video at a time, one slot: at least a window per video.
    assert protected.seconds >= len([s for s in swarms if s.size]) * GUARD.video_window / (
        video_slots(GUARD)
    )
    bigger = collection_cost(
        [Swarm(s.web * 2, s.http * 2) for s in swarms], Limits.of(TRACKER, GUARD)
    )
    assert bigger.requests > protected.requests and bigger.addresses >= protected.addresses


def test_lifting_swarms_over_their_threshold_takes_one_address_per_missing_viewer():
    limits = Limits.of(TRACKER, GUARD)
    below = [Swarm(2, 0, viewers=2, threshold=10), Swarm(9, 0, viewers=9, threshold=10)]
    cost = collection_cost(below, limits)
    assert cost.lift_addresses == (10 - 2 - 1) + 0
    assert cost.addresses == collection_cost([Swarm(2, 0), Swarm(9, 0)], limits).addresses + 7


def test_the_card_shows_every_swarm_and_the_ten_largest_protected_and_not():
    swarms = catalogue(2, videos=30, peers=600) + [Swarm(0, 0)]
    shown = card(swarms, TRACKER, GUARD)
    assert shown.swarms == sum(1 for s in swarms if s.size) and shown.peers == 600
    assert shown.protected_largest.requests <= shown.protected_all.requests
    assert shown.unprotected_largest.seconds <= shown.unprotected_all.seconds
    assert shown.protected_all.seconds > shown.unprotected_all.seconds
