"""The incremental refresh of a process's replica: the WRITE and VIEW scripts
(tracker/redis_scripts.py) on a redis-server of the test's own, and the replica of a
SharedSwarmStore (tracker/redis_store.py) given their replies as the Redis link gives them
(redis_layout.apply_view). A swarm whose version is the one the replica was rebuilt at is
answered "unchanged", without its peers; any change to what VIEW lists makes a new version."""

import time

import pytest
import redis

from tests.redis_cluster_helpers import OwnRedis
from tracker import redis_scripts
from tracker.redis_layout import apply_view, pseudonyms, swarm_keys, view_args
from tracker.redis_link import full_view_seconds
from tracker.redis_store import SharedSwarmStore

VIDEO = bytes(range(20))
KEYS = swarm_keys("pv:test", VIDEO)
A, B = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
TTL_MS = 60_000
PEER_TTL = 8.0  # two intervals of 4 s, the live tests' interval
FULL_EVERY = full_view_seconds(PEER_TTL)
SOURCE = "-" * 16


@pytest.fixture
def client(tmp_path):
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield redis.Redis(port=server.port)
    finally:
        server.stop()


def web_value(process: str, number: int, seeder: bool = False) -> bytes:
    return f"{process}{int(seeder)}{SOURCE}{number}".encode()


def write(client, process: str, *ops, ttl: int = TTL_MS) -> list:
    args = [process, ttl, ttl]
    for op in ops:
        args.extend(op)
    return client.eval(redis_scripts.WRITE, len(KEYS), *KEYS, *args)


def put(process: str, n: int, seeder: bool = False) -> tuple:
    return ("pw", pid(n), web_value(process, n, seeder))


def pid(n: int) -> bytes:
    return f"pseudonym-{n:010d}".encode()


class Replica:
    """Process B's store, refreshed as the link refreshes it."""

    def __init__(self, client) -> None:
        self.client = client
        self.store = SharedSwarmStore(B, pseudonyms("the instance's key"))
        self.replies: list[str] = []

    def refresh(self, now: float, dead: tuple = ()) -> str:
        (args,) = view_args(self.store, [VIDEO], now, FULL_EVERY, TTL_MS, list(dead))
        self.sent_dead = args[2:]
        reply = self.client.eval(redis_scripts.VIEW, len(KEYS), *KEYS, *args)
        apply_view(self.store, VIDEO, reply, now)
        kind = "unchanged" if len(reply) == 2 else "full"
        self.replies.append(kind)
        return kind

    def peers(self) -> dict[bytes, tuple]:
        return {
            peer.peer_id: (peer.connection.process, peer.connection.connection, peer.seeder)
            for peer in self.store.view.peers(VIDEO)
        }


@pytest.fixture
def replica(client):
    write(client, A, put(A, 1), put(A, 2))
    replica = Replica(client)
    assert replica.refresh(0.0) == "full"
    return replica


def test_an_unchanged_swarm_is_answered_unchanged_and_its_replica_is_not_rebuilt(replica):
    before = {peer.peer_id: peer for peer in replica.store.view.peers(VIDEO)}
    assert len(before) == 2
    assert [replica.refresh(0.5), replica.refresh(1.0)] == ["unchanged", "unchanged"]
    after = {peer.peer_id: peer for peer in replica.store.view.peers(VIDEO)}
    assert all(after[key] is peer for key, peer in before.items())  # the same objects
    assert all(peer.last_seen == 0.0 for peer in after.values())


def test_a_peer_written_again_unchanged_keeps_the_swarm_unchanged(client, replica):
    write(client, A, put(A, 1), put(A, 2))
    assert replica.refresh(0.5) == "unchanged"


def test_a_new_peer_changes_the_swarm(client, replica):
    write(client, A, put(A, 3))
    assert replica.refresh(0.5) == "full"
    assert set(replica.peers()) == {pid(1), pid(2), pid(3)}
    assert replica.refresh(1.0) == "unchanged"


def test_a_peer_whose_stored_value_changed_changes_the_swarm(client, replica):
    write(client, A, put(A, 1, seeder=True))
    assert replica.refresh(0.5) == "full"
    assert replica.peers()[pid(1)] == (A, 1, True)


def test_a_peer_removed_changes_the_swarm_and_one_not_there_does_not(client, replica):
    write(client, A, ("ro", pid(1), b""))
    assert replica.refresh(0.5) == "full"
    assert set(replica.peers()) == {pid(2)}
    write(client, A, ("ro", pid(9), b""), ("ra", pid(9), b""))  # nothing to remove
    write(client, B, ("ro", pid(2), b""))  # not B's to remove
    assert replica.refresh(1.0) == "unchanged"


def test_a_peer_expired_in_redis_changes_the_swarm(client, replica):
    write(client, A, put(A, 3), ttl=100)  # w keeps 60 s; the peer's own expiry is 0.1 s away
    write(client, A, put(A, 4))
    assert replica.refresh(0.5) == "full"
    assert replica.refresh(1.0) == "unchanged"
    time.sleep(0.2)
    assert replica.refresh(1.5) == "full"  # VIEW removed the expired peer
    assert set(replica.peers()) == {pid(1), pid(2), pid(4)}


def test_peers_vanishing_with_their_keys_take_the_version_with_them(client):
    # No script sees keys expire: had the version outlived them, the swarm, empty now, would
    # be answered unchanged.
    write(client, A, put(A, 1), ttl=200)
    replica = Replica(client)
    assert replica.refresh(0.0) == "full"
    assert 0 < client.pttl(KEYS[5]) <= 200
    time.sleep(0.3)
    assert client.exists(KEYS[0], KEYS[5]) == 0
    assert replica.refresh(0.5) == "full"
    assert replica.peers() == {}


def test_a_dead_process_s_peers_removed_change_the_swarm(client, replica):
    write(client, "cccccccccccc", put("cccccccccccc", 5))
    assert replica.refresh(0.5) == "full"
    assert replica.refresh(1.0, dead=(A,)) == "full"
    assert set(replica.peers()) == {pid(5)}
    # Nothing more to remove, and the replica, of the current version, shows it: the swarm is
    # no longer searched for A's peers while A stays listed dead.
    assert replica.refresh(1.5, dead=(A,)) == "unchanged"
    assert replica.sent_dead == []


def test_a_swarm_whose_version_is_unknown_is_searched_for_dead_processes_peers(client, replica):
    replica.store.forget_replica()
    assert replica.refresh(0.5, dead=(A,)) == "full"
    assert replica.sent_dead == [A]
    assert replica.peers() == {}


def test_a_download_is_counted_without_reading_the_peers(client, replica):
    write(client, A, ("dn", b"", 3))
    assert replica.refresh(0.5) == "unchanged"
    assert replica.store.counts(VIDEO)[2] == 3


def test_a_dropped_swarm_changes(client, replica):
    write(client, A, ("dr", b"", b""))
    assert replica.refresh(0.5) == "full"
    assert replica.peers() == {}


def test_a_redis_that_lost_its_data_gives_a_full_view_even_with_the_same_peers_back(
    client, replica
):
    seen = replica.store.versions[VIDEO][0]
    client.flushall()
    assert replica.refresh(0.5) == "full"
    assert replica.peers() == {}
    write(client, A, put(A, 1), put(A, 2))  # the same peers again, as resync writes them
    assert replica.refresh(1.0) == "full"
    assert int(replica.store.versions[VIDEO][0]) > int(
        seen
    )  # versions never repeat: time in microseconds
    assert set(replica.peers()) == {pid(1), pid(2)}


def test_a_full_view_comes_at_least_every_full_view_seconds_and_keeps_the_replica_alive(
    replica,
):
    # The link's refresh every 0.5 s and the core's sweep of peers unseen for peer_ttl, for
    # three ttls, the swarm unchanged in Redis all along.
    assert FULL_EVERY < PEER_TTL
    now = 0.0
    for step in range(1, int(3 * PEER_TTL / 0.5)):
        now = step * 0.5
        replica.refresh(now)
        assert replica.store.expire(now, PEER_TTL) == []
    fulls = [n for n, kind in enumerate(replica.replies) if kind == "full"]
    assert max(b - a for a, b in zip(fulls, fulls[1:], strict=False)) * 0.5 <= FULL_EVERY
    assert replica.replies.count("unchanged") > 2 * replica.replies.count("full")
    assert len(replica.peers()) == 2


def test_full_views_stay_well_inside_the_peers_ttl_at_any_interval():
    for interval in (1, 4, 30, 120, 3600):
        assert full_view_seconds(2 * interval) <= 2 * interval / 4


def test_a_replica_changed_here_is_rebuilt_at_the_next_refresh(client, replica):
    replica.store.drop_swarm(VIDEO)  # P2P switched off here
    assert replica.refresh(0.5) == "full"
    replica.store.forget_replica()  # Redis unreachable for a moment
    assert replica.refresh(1.0) == "full"
    replica.store.resync()  # Redis lost writes
    assert replica.refresh(1.5) == "full"
    assert len(replica.peers()) == 2


def test_a_swarm_no_longer_refreshed_forgets_its_version(replica):
    assert replica.store.replica_versions([], 0.5, FULL_EVERY) == []
    assert replica.refresh(1.0) == "full"


def test_a_replica_leaving_out_a_peer_for_an_own_claim_is_not_kept_as_unchanged(client):
    # B's socket claimed the peer_id of A's peer 1 before either saw the other's: Redis kept
    # A's, and B withdraws its own (taken_elsewhere); the replica must then get A's peer.
    store_key = pseudonyms("the instance's key")
    replica = Replica(client)
    claimed = store_key(VIDEO, b"-WW0208-000000000001")
    replica.store.own_web[(VIDEO, claimed)] = b"-WW0208-000000000001"
    write(client, A, ("pw", claimed, web_value(A, 1)))
    assert replica.refresh(0.0) == "full"
    assert replica.peers() == {}
    del replica.store.own_web[(VIDEO, claimed)]
    assert replica.refresh(0.5) == "full"
    assert set(replica.peers()) == {claimed}


def test_an_unchanged_swarm_costs_redis_the_time_and_one_read(client, replica):
    replica.refresh(0.5)  # the next expiry, noted by the first view, is a minute away
    client.config_resetstat()
    for n in range(10):
        assert replica.refresh(1.0 + n / 10) == "unchanged"  # within FULL_EVERY
    stats = client.info("commandstats")
    called = {name.removeprefix("cmdstat_"): entry["calls"] for name, entry in stats.items()}
    del called["config|resetstat"]
    assert called == {"eval": 10, "time": 10, "mget": 10}  # the call, and two commands in it
