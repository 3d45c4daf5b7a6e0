import random

import pytest

from tracker.core import HARD_MAX_PEERS, InMemorySwarmStore, KindCounts, Peer, TrackerConfig

SWARM = b"s" * 20
OTHER_SWARM = b"o" * 20


def pid(n: int) -> bytes:
    return b"-WW0208-" + b"%012d" % n


def web(n: int, left: int | None = 10, seen: float = 0.0) -> Peer:
    return Peer(pid(n), f"conn-{n}", None, None, left, seen)


def http(n: int, left: int | None = 10, seen: float = 0.0) -> Peer:
    return Peer(pid(n), None, f"192.0.2.{n % 250 + 1}", 6881, left, seen)


def test_config_defaults_and_derived_timeouts():
    config = TrackerConfig()
    assert (config.announce_interval, config.min_interval) == (120, 60)
    assert config.max_peers_per_reply == 20
    assert config.peer_ttl == 240
    assert config.idle_connection_timeout == 270


def test_config_clamps_peers_per_reply_to_the_hard_maximum():
    assert TrackerConfig(max_peers_per_reply=500).max_peers_per_reply == HARD_MAX_PEERS


def test_config_refuses_negative_limits():
    with pytest.raises(ValueError):
        TrackerConfig(offer_ttl=-1)


@pytest.mark.parametrize(("left", "seeder"), [(0, True), (1, False), (None, False)])
def test_peer_is_a_seeder_only_when_nothing_is_left(left, seeder):
    assert web(1, left=left).seeder is seeder


def test_peer_kind_follows_its_connection():
    assert web(1).is_web
    assert not http(1).is_web


def test_put_get_and_remove_a_peer():
    store = InMemorySwarmStore()
    store.put(SWARM, web(1))
    assert store.get(SWARM, pid(1)) == web(1)
    assert store.get(OTHER_SWARM, pid(1)) is None
    assert store.remove(SWARM, pid(1)) == web(1)
    assert store.remove(SWARM, pid(1)) is None
    assert store.get(SWARM, pid(1)) is None
    assert store.info_hashes() == []


def test_counts_split_seeders_and_leechers_with_unknown_left_incomplete():
    store = InMemorySwarmStore()
    store.put(SWARM, web(1, left=0))
    store.put(SWARM, web(2, left=None))
    store.put(SWARM, http(3, left=0))
    store.put(SWARM, http(4, left=5))
    store.record_completed(SWARM)
    assert store.counts(SWARM) == (2, 2, 1)
    assert store.count_by_kind(SWARM) == KindCounts(1, 1, 1, 1)


def test_replacing_a_peer_updates_the_counts():
    store = InMemorySwarmStore()
    store.put(SWARM, web(1, left=5))
    store.put(SWARM, web(1, left=0))
    assert store.counts(SWARM) == (1, 0, 0)
    store.put(SWARM, http(1, left=5))  # same peer_id, other kind
    assert store.count_by_kind(SWARM) == KindCounts(0, 0, 0, 1)
    assert store.sample_web(SWARM, 5, random.Random(1), exclude=b"") == []


def test_downloaded_survives_an_empty_swarm():
    store = InMemorySwarmStore()
    store.put(SWARM, web(1))
    store.record_completed(SWARM)
    store.remove(SWARM, pid(1))
    assert store.counts(SWARM) == (0, 0, 1)
    assert store.counts(OTHER_SWARM) == (0, 0, 0)
    assert store.count_by_kind(OTHER_SWARM) == KindCounts(0, 0, 0, 0)


def test_sampling_returns_distinct_peers_of_the_kind_asked_never_the_excluded_one():
    store = InMemorySwarmStore()
    for n in range(10):
        store.put(SWARM, web(n))
        store.put(SWARM, http(100 + n))
    rng = random.Random(1)
    for _ in range(50):
        sample = store.sample_web(SWARM, 4, rng, exclude=pid(3))
        assert len(sample) == 4
        assert len({peer.peer_id for peer in sample}) == 4
        assert all(peer.is_web and peer.peer_id != pid(3) for peer in sample)
        sample = store.sample_http(SWARM, 20, rng, exclude=pid(105))
        assert len(sample) == 9
        assert all(not peer.is_web for peer in sample)


@pytest.mark.parametrize(("size", "k", "expected"), [(0, 5, 0), (1, 5, 0), (3, 0, 0), (3, 5, 2)])
def test_sampling_a_small_swarm_returns_what_there_is(size, k, expected):
    store = InMemorySwarmStore()
    for n in range(size):
        store.put(SWARM, web(n))
    assert len(store.sample_web(SWARM, k, random.Random(1), exclude=pid(0))) == expected


def test_sampling_draws_k_plus_one_indices_not_the_whole_swarm():
    class CountingRandom(random.Random):
        def __init__(self, seed: int) -> None:
            super().__init__(seed)
            self.drawn: list[int] = []

        def sample(self, population, k, **kwargs):
            self.drawn.append(k)
            return super().sample(population, k, **kwargs)

    store = InMemorySwarmStore()
    for n in range(1000):
        store.put(SWARM, web(n))
    rng = CountingRandom(1)
    store.sample_web(SWARM, 5, rng, exclude=pid(0))
    assert rng.drawn == [6]


def test_sampling_is_spread_over_the_whole_swarm():
    store = InMemorySwarmStore()
    for n in range(20):
        store.put(SWARM, web(n))
    rng = random.Random(1)
    seen = set()
    for _ in range(100):
        seen.update(peer.peer_id for peer in store.sample_web(SWARM, 3, rng, exclude=b""))
    assert len(seen) == 20


def test_swap_remove_keeps_the_index_consistent_under_random_churn():
    store = InMemorySwarmStore()
    rng = random.Random(1)
    model: dict[bytes, Peer] = {}
    for step in range(3000):
        n = rng.randrange(40)
        if rng.random() < 0.5:
            peer = web(n, seen=step) if n % 2 else http(n, seen=step)
            store.put(SWARM, peer)
            model[peer.peer_id] = peer
        else:
            assert store.remove(SWARM, pid(n)) == model.pop(pid(n), None)
        everyone = store.sample_web(SWARM, 50, rng, exclude=b"") + store.sample_http(
            SWARM, 50, rng, exclude=b""
        )
        assert sorted(p.peer_id for p in everyone) == sorted(model)
        seeders = sum(p.seeder for p in model.values())
        assert store.counts(SWARM)[:2] == (seeders, len(model) - seeders)


def test_expire_drops_peers_not_seen_for_the_ttl_and_returns_them():
    store = InMemorySwarmStore()
    store.put(SWARM, web(1, seen=0))
    store.put(OTHER_SWARM, http(2, seen=50))
    store.put(SWARM, web(3, seen=100))
    store.put(SWARM, web(1, seen=120))  # re-announce refreshes it
    assert store.expire(now=239, ttl=240) == []
    assert store.expire(now=291, ttl=240) == [(OTHER_SWARM, http(2, seen=50))]
    assert store.expire(now=345, ttl=240) == [(SWARM, web(3, seen=100))]
    assert store.get(SWARM, pid(1)) is not None
    assert store.expire(now=1000, ttl=240) == [(SWARM, web(1, seen=120))]
    assert store.info_hashes() == []


def test_drop_swarm_returns_its_peers_and_leaves_others_alone():
    store = InMemorySwarmStore()
    store.put(SWARM, web(1))
    store.put(SWARM, http(2))
    store.put(OTHER_SWARM, web(3))
    assert sorted(p.peer_id for p in store.drop_swarm(SWARM)) == [pid(1), pid(2)]
    assert store.drop_swarm(SWARM) == []
    assert store.info_hashes() == [OTHER_SWARM]
    assert store.expire(now=10_000, ttl=1) == [(OTHER_SWARM, web(3))]


def test_http_peers_of_a_source_are_listed_longest_silent_first():
    store = InMemorySwarmStore()
    for n in range(3):
        store.put(SWARM, Peer(pid(n), None, "192.0.2.1", 6881, 10, n, source="192.0.2.1"))
    store.put(SWARM, Peer(pid(9), None, "192.0.2.9", 6881, 10, 3, source="192.0.2.9"))
    store.put(SWARM, Peer(pid(0), None, "192.0.2.1", 6881, 0, 4, source="192.0.2.1"))
    assert [p.peer_id for p in store.http_peers_from(SWARM, "192.0.2.1")] == [
        pid(1),
        pid(2),
        pid(0),
    ]
    store.remove(SWARM, pid(2))
    store.put(SWARM, web(1))  # the peer_id moves to a socket: no longer the address's
    assert [p.peer_id for p in store.http_peers_from(SWARM, "192.0.2.1")] == [pid(0)]
    assert store.http_peers_from(OTHER_SWARM, "192.0.2.1") == []
    store.remove(SWARM, pid(0))
    assert store.http_peers_from(SWARM, "192.0.2.1") == []
