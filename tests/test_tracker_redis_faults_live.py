"""Tracker processes on a Redis of the test's own, which it restarts, and which persists to disk
or not: service goes on through an outage and the swarms refill after it, and no address or
peer_id of a web peer ever reaches Redis (nor an HTTP peer's address, when Redis writes to
disk)."""

import asyncio
import socket
import time
from urllib.parse import quote_from_bytes

import httpx
import pytest

from tests.redis_cluster_helpers import (
    OwnRedis,
    Peer,
    announce,
    cluster,
    holders,
    prefix_of,
    redis_client,
    scrape,
    secret_key,
    server_pids,
    wait_for_processes,
    web_peers,
)
from tests.tracker_helpers import make_info_hash
from tracker.core import bdecode
from tracker.redis_layout import pseudonyms, swarm_keys

pytestmark = pytest.mark.e2e

INTERVAL = 4
HTTP_CLIENT = "127.0.5.1"


def started(tmp_path, redis: OwnRedis, label: str):
    instance = cluster(tmp_path / "instance", redis.url, PEERVEIL_ANNOUNCE_INTERVAL=str(INTERVAL))
    instance.manage(
        "shell", "-c", f"from tests.tracker_helpers import add_video\nadd_video({label!r})"
    )
    instance.start("--no-worker", "--workers", "2")
    wait_for_processes(instance, redis.url, 2)
    return instance


async def count_of(peer: Peer, info_hash: bytes) -> int:
    await peer.send(scrape(info_hash))
    reply = await peer.next(where=lambda m: m.get("action") == "scrape")
    entry = reply["files"][info_hash.decode("latin-1")]
    return entry["complete"] + entry["incomplete"]


async def until_counted(peers, info_hash: bytes, expected: int, within: float) -> float:
    began = time.monotonic()
    while True:
        counts = [await count_of(peer, info_hash) for peer in peers]
        if all(count == expected for count in counts):
            return time.monotonic() - began
        assert time.monotonic() - began < within, f"counts {counts}, not {expected}"
        await asyncio.sleep(0.2)


def test_redis_restarted_during_traffic_no_crash_service_goes_on_and_swarms_refill(tmp_path):
    redis = OwnRedis(tmp_path)
    redis.start()
    instance = started(tmp_path, redis, "restart")
    try:
        asyncio.run(_restart(instance, redis))
    finally:
        instance.stop()
        redis.stop()


async def _restart(instance, redis: OwnRedis):
    info_hash = make_info_hash("restart")
    peers = [Peer(instance.ws_tracker, n, f"-WW0208-{n:012d}".encode()) for n in range(10)]
    for peer in peers:
        await peer.open()
        await peer.send(announce(info_hash, peer.peer_id))
        assert "failure reason" not in await peer.next()
    await until_counted(peers, info_hash, 10, within=3)
    owners = holders(instance, redis.url, info_hash, [peer.peer_id for peer in peers])
    pids = server_pids(instance)
    redis.stop()
    down = time.monotonic()
    # Redis gone for 3 s: every announce is still answered, from the process's own peers.
    while time.monotonic() - down < 3:
        for peer in peers:
            await peer.send(announce(info_hash, peer.peer_id, event="update"))
            reply = await peer.next(timeout=3, where=lambda m: m.get("action") == "announce")
            assert "failure reason" not in reply, reply
        await asyncio.sleep(0.5)
    # Each socket's process counts its own peers only (the others' may be gone meanwhile).
    for peer in peers:
        own = sum(1 for owner in owners.values() if owner == owners[peer.peer_id])
        assert await count_of(peer, info_hash) == own
    redis.start()  # empty: it kept nothing
    back = time.monotonic()
    took = await until_counted(peers, info_hash, 10, within=10)
    print(f"\nRedis back after 3 s down: every socket's scrape counts all 10 after {took:.1f} s")
    assert len(web_peers(instance, redis.url, info_hash)) == 10
    assert server_pids(instance) == pids, "a server process died"
    assert not any(peer.closed.is_set() for peer in peers), "a socket was closed"
    assert time.monotonic() - back < 10
    assert httpx.get(f"{instance.url}/api/v1/videos").json()["total"] == 1
    for peer in peers:
        await peer.close()


def http_announce(instance, info_hash: bytes, n: int) -> dict:
    peer_id = f"-LT2010-{n:012d}".encode()
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id)}"
        f"&port={7000 + n}&uploaded=0&downloaded=0&left=0&compact=1"
    )
    transport = httpx.HTTPTransport(local_address=HTTP_CLIENT)
    with httpx.Client(transport=transport) as client:
        return bdecode(client.get(f"{instance.url}/tracker/announce?{query}").content)


def addresses_in_redis(instance, redis: OwnRedis, addresses: list[str]) -> list[bytes]:
    """Every key of the instance whose name or content holds one of these addresses, in text
    or packed."""
    needles = [a.encode() for a in addresses] + [socket.inet_aton(a) for a in addresses]
    return found_in_redis(redis, needles, f"{prefix_of(instance)}:*")


def found_in_redis(redis: OwnRedis, needles: list[bytes], keys: str = "*") -> list[bytes]:
    """Every key (of those matching `keys`) whose name or content (every field and value)
    holds one of these byte strings."""
    client = redis_client(redis.url)
    found = []
    for key in client.scan_iter(keys):
        kind = client.type(key)
        if kind == b"hash":
            content = b"".join(k + v for k, v in client.hgetall(key).items())
        elif kind == b"zset":
            content = b"".join(client.zrange(key, 0, -1))
        elif kind == b"set":
            content = b"".join(client.smembers(key))
        elif kind == b"list":
            content = b"".join(client.lrange(key, 0, -1))
        elif kind == b"string":
            content = client.get(key)
        else:
            raise AssertionError(f"a key of an unexpected type: {key!r} {kind!r}")
        if any(needle in key + content for needle in needles):
            found.append(key)
    return found


@pytest.mark.parametrize("persists", [False, True], ids=["redis-in-memory", "redis-persists"])
def test_no_web_peer_address_in_redis_and_http_addresses_only_when_nothing_goes_to_disk(
    tmp_path, persists
):
    redis = OwnRedis(tmp_path, persist=persists)
    redis.start()
    instance = started(tmp_path, redis, "privacy")
    try:
        asyncio.run(_privacy(instance, redis, persists, tmp_path))
    finally:
        instance.stop()
        redis.stop()


async def _privacy(instance, redis: OwnRedis, persists: bool, tmp_path):
    info_hash = make_info_hash("privacy")
    peers = [Peer(instance.ws_tracker, n, f"-WW0208-{n:012d}".encode()) for n in range(12)]
    for peer in peers:
        await peer.open()
        await peer.send(announce(info_hash, peer.peer_id))
        assert "failure reason" not in await peer.next()
    for n in range(3):
        assert b"failure reason" not in await asyncio.to_thread(
            http_announce, instance, info_hash, n
        )
    if persists:
        await asyncio.sleep(1)  # written and refreshed; each process counts its HTTP peers only
    else:
        await until_counted(peers, info_hash, 15, within=3)
    web = [peer.address for peer in peers]
    # The web peers are there, on both processes, each under the keyed hash of its peer_id.
    stored = web_peers(instance, redis.url, info_hash)
    pseudonym = pseudonyms(secret_key(instance))
    assert set(stored) == {pseudonym(info_hash, peer.peer_id) for peer in peers}
    assert len(set(stored.values())) == 2, "the 12 sockets all landed on one process"
    assert addresses_in_redis(instance, redis, web) == [], "a web peer's address in Redis"
    # No peer_id of theirs anywhere in Redis (raw, or in hex as relayed offers carry ids).
    peer_ids = [peer.peer_id for peer in peers] + [peer.peer_id.hex().encode() for peer in peers]
    assert found_in_redis(redis, peer_ids) == [], "a web peer's peer_id in Redis"
    http_keys = addresses_in_redis(instance, redis, [HTTP_CLIENT])
    h = swarm_keys(prefix_of(instance), info_hash)[2].encode()
    client = redis_client(redis.url)
    if persists:
        assert http_keys == []
        client.save()
        dump = (tmp_path / "dump.rdb").read_bytes()
        assert socket.inet_aton(HTTP_CLIENT) not in dump and HTTP_CLIENT.encode() not in dump
        assert "HTTP peers are kept per process" in instance.log()
    else:
        assert http_keys == [h]
        # The whole key expires two intervals after the last announce, whoever forgets it.
        assert 0 < client.pttl(h) <= 2 * INTERVAL * 1000
        # Each process lists the HTTP peers the other saw to a classic client.
        for n in range(3, 9):
            reply = await asyncio.to_thread(http_announce, instance, info_hash, n)
            assert len(reply[b"peers"]) // 6 >= 3
    for peer in peers:
        await peer.close()
