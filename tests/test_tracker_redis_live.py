"""Two tracker processes on one port (`serve --workers 2`) sharing their swarms through the
Redis of services-up.sh: peers landing on both, relay across them, one guard, switches pushed,
a killed process leaving no ghost. Measurements are printed (run with -s)."""

import asyncio
import random
import subprocess
import sys
import time
from urllib.parse import quote_from_bytes

import httpx
import orjson
import pytest

from tests.live import ROOT, LiveInstance
from tests.redis_cluster_helpers import (
    SHARED_REDIS,
    Peer,
    announce,
    cluster,
    holders,
    kill_server,
    owners_of,
    prefix_of,
    redis_client,
    scrape,
    server_pids,
    wait_for_processes,
)
from tests.tracker_helpers import make_info_hash
from tracker.core import (
    P2P_DISABLED,
    GuardConfig,
    InMemorySwarmStore,
    Policy,
    TrackerCore,
    bdecode,
    encode_http,
)
from tracker.redis_layout import swarm_keys
from tracker.service import SWEEP_SECONDS

pytestmark = pytest.mark.e2e

INTERVAL = 4  # offers are relayed again on an announce half an interval after the last
CRAWLED = [f"crawled-{n}" for n in range(16)]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    instance = cluster(
        tmp_path_factory.mktemp("cluster"), SHARED_REDIS, PEERVEIL_ANNOUNCE_INTERVAL=str(INTERVAL)
    )
    labels = ["shared", "switched", "killed", "privacy", *CRAWLED]
    instance.manage(
        "shell", "-c",
        "from tests.tracker_helpers import add_video\n"
        + "".join(f"add_video({label!r})\n" for label in labels),
    )  # fmt: skip
    instance.start("--no-worker", "--workers", "2")
    wait_for_processes(instance, SHARED_REDIS, 2)
    yield instance
    instance.stop()


async def joined(url: str, info_hash: bytes, count: int, first: int = 0) -> list[Peer]:
    peers = [Peer(url, first + n, f"-WW0208-{first + n:012d}".encode()) for n in range(count)]
    await asyncio.gather(*(peer.open() for peer in peers))
    for peer in peers:
        await peer.send(announce(info_hash, peer.peer_id))
    for peer in peers:
        reply = await peer.next()
        assert "failure reason" not in reply, reply
    return peers


async def counted(peer: Peer, info_hash: bytes, expected: int, within: float) -> float:
    """Seconds until a scrape on this peer's socket counts `expected` peers."""
    started = time.monotonic()
    while True:
        await peer.send(scrape(info_hash))
        files = (await peer.next(where=lambda m: m.get("action") == "scrape"))["files"]
        entry = files[info_hash.decode("latin-1")]
        if entry["complete"] + entry["incomplete"] == expected:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"scrape counts {entry}, not {expected}"
        await asyncio.sleep(0.1)


def test_two_processes_share_a_swarm_relay_both_ways_and_refuse_spoofing(live):
    asyncio.run(_share_relay_spoof(live))


async def _share_relay_spoof(live):
    info_hash = make_info_hash("shared")
    peers = await joined(live.ws_tracker, info_hash, 40)
    owners = await owners_of(live, SHARED_REDIS, info_hash, [p.peer_id for p in peers])
    process_of = {peer.peer_id: owners[peer.peer_id] for peer in peers}
    processes = set(process_of.values())
    assert len(processes) == 2, "the 40 sockets all landed on one process"
    print(f"\n40 sockets: {sorted(list(process_of.values()).count(p) for p in processes)}")
    by_process = {
        p: next(peer for peer in peers if process_of[peer.peer_id] == p) for p in processes
    }
    for peer in by_process.values():
        took = await counted(peer, info_hash, 40, within=3)
        print(f"scrape on one process counted all 40 after {took:.2f} s")

    # Rounds of announces with 5 offers, half an interval apart, until every peer has had an
    # offer from a peer of the other process; each such offer is answered.
    crossed: set[bytes] = set()
    answered: set[tuple[bytes, bytes]] = set()
    for _ in range(8):
        await asyncio.sleep(INTERVAL / 2)
        for peer in peers:
            await peer.send(announce(info_hash, peer.peer_id, offers=5, event="update"))
        await asyncio.sleep(0.5)
        for peer in peers:
            for message in peer.drain():
                if "offer" in message:
                    sender = message["peer_id"].encode("latin-1")
                    if process_of[sender] != process_of[peer.peer_id]:
                        crossed.add(peer.peer_id)
                        answer = {
                            "action": "announce", "info_hash": message["info_hash"],
                            "peer_id": peer.peer_id.decode(), "to_peer_id": message["peer_id"],
                            "offer_id": message["offer_id"],
                            "answer": {"type": "answer", "sdp": "answer"},
                        }  # fmt: skip
                        await peer.send(orjson.dumps(answer).decode())
                        answered.add((sender, message["offer_id"].encode("latin-1")))
                elif "answer" in message:
                    answered.discard(
                        (peer.peer_id, message["offer_id"].encode("latin-1"))
                    )  # the answer came back to the offering peer
        if len(crossed) == len(peers):
            break
    assert crossed == {peer.peer_id for peer in peers}
    await asyncio.sleep(1)
    for peer in peers:
        for message in peer.drain():
            if "answer" in message:
                answered.discard((peer.peer_id, message["offer_id"].encode("latin-1")))
    assert not answered, f"{len(answered)} answers across processes never arrived"

    # A socket on one process cannot announce, stop or answer as a peer of the other.
    victim = by_process[sorted(processes)[0]]
    thief = None
    for number in range(40, 80):
        candidate = Peer(live.ws_tracker, number, b"-XX0000-000000000000")
        await candidate.open()
        await candidate.send(announce(info_hash, candidate.peer_id))
        await candidate.next()
        await asyncio.sleep(0.3)  # written to Redis
        held = holders(live, SHARED_REDIS, info_hash, [candidate.peer_id])
        if held.get(candidate.peer_id) not in (None, process_of[victim.peer_id]):
            thief = candidate
            break
        await candidate.close()
    assert thief is not None, "no socket landed on the other process"
    for event in ("started", "stopped"):
        await thief.send(announce(info_hash, victim.peer_id, event=event))
        reply = await thief.next()
        assert reply["failure reason"] == "peer_id is in use by another connection"
    assert await counted(victim, info_hash, 41, within=3) >= 0
    for peer in [*peers, thief]:
        await peer.close()


def test_p2p_switched_off_reaches_sockets_on_both_processes_within_a_second(live):
    asyncio.run(_switch(live))


async def _switch(live):
    info_hash = make_info_hash("switched")
    peers = await joined(live.ws_tracker, info_hash, 12, first=100)
    owners = await owners_of(live, SHARED_REDIS, info_hash, [p.peer_id for p in peers])
    assert len(set(owners.values())) == 2
    uuid = next(
        v["uuid"]
        for v in httpx.get(f"{live.url}/api/v1/videos?count=100").json()["data"]
        if v["name"] == "switched"
    )
    # The p2p command's switch, timed from just before it writes the database.
    switching = asyncio.create_task(
        asyncio.to_thread(
            live.manage, "shell", "-c",
            "import time\n"
            "from adminpanel.switches import set_video_p2p\n"
            "from instance.models import Video\n"
            f"video = Video.objects.get(uuid={uuid!r})\n"
            "print(time.time())\n"
            "set_video_p2p(video, 'off', 'cli')\n",
        )
    )  # fmt: skip
    told_at = []
    for peer in peers:
        told = await peer.next(timeout=10)
        assert told["failure reason"] == P2P_DISABLED
        told_at.append(time.time())
    switched_at = float((await switching).strip().splitlines()[-1])
    delay = max(told_at) - switched_at
    print(f"\nswitch told to 12 sockets on 2 processes: the last {1000 * delay:.0f} ms after it")
    assert delay < 1.0
    for peer in peers:
        await peer.close()


def test_a_crawler_landing_on_both_processes_is_blocked_after_as_many_refusals_as_on_one(live):
    warm_up, *crawled = [make_info_hash(label) for label in CRAWLED]
    # The crawler first announces one video with 8 peer_ids (each request on a new
    # connection: they land on both processes, which Redis shows), then one video after
    # another. One process would block it at the same request (same guard limits).
    requests = [crawler_query(warm_up, n) for n in range(8)]
    requests += [crawler_query(info_hash, 8 + n) for n, info_hash in enumerate(crawled)]
    alone = TrackerCore(
        InMemorySwarmStore(),
        Policy(
            guard=GuardConfig(announce_interval=INTERVAL),
            p2p=dict.fromkeys([warm_up, *crawled], True),
        ),
    )
    rng = random.Random(0)
    expected = next(
        n
        for n, query in enumerate(requests)
        if encode_http(alone.announce_http(query, "127.0.3.1", "127.0.3.1", n / 10, rng).reply)[0]
        == 403
    )
    transport = httpx.HTTPTransport(local_address="127.0.3.1")
    statuses = []
    with httpx.Client(transport=transport, headers={"Connection": "close"}) as client:
        for query in requests:
            reply = client.get(f"{live.url}/tracker/announce?{query.decode()}")
            statuses.append(reply.status_code)
            if reply.status_code == 403:
                break
            time.sleep(0.2)  # the other process has counted it (flushed every 50 ms)
    h = swarm_keys(prefix_of(live), warm_up)[2]
    writers = {value[:12] for value in redis_client(SHARED_REDIS).hvals(h)}
    assert len(writers) == 2, "the crawler's requests all landed on one process"
    print(f"\ncrawler: statuses {statuses}; one process blocks at request {expected}")
    assert statuses.index(403) == expected


def crawler_query(info_hash: bytes, n: int) -> bytes:
    peer_id = f"-CR0001-{n:012d}".encode()
    return (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id)}"
        "&port=6881&uploaded=0&downloaded=0&left=5&compact=1"
    ).encode()


def test_a_killed_process_leaves_no_ghost_within_one_sweep(live):
    asyncio.run(_killed(live))


async def _killed(live):
    info_hash = make_info_hash("killed")
    peers = await joined(live.ws_tracker, info_hash, 20, first=200)
    owners = await owners_of(live, SHARED_REDIS, info_hash, [p.peer_id for p in peers])
    victim_process = owners[peers[0].peer_id]
    pids = server_pids(live)
    assert len(pids) == 2
    # Which server process is it: the one whose sockets close when it is killed.
    kill_server(pids[0])
    killed = time.monotonic()
    await asyncio.sleep(0.5)
    survivors = [peer for peer in peers if not peer.closed.is_set()]
    dead = [peer for peer in peers if peer.closed.is_set()]
    if not dead:  # pids[0] held none of them: kill the other one
        kill_server(pids[1])
        killed = time.monotonic()
        await asyncio.sleep(0.5)
        survivors = [peer for peer in peers if not peer.closed.is_set()]
        dead = [peer for peer in peers if peer.closed.is_set()]
    assert dead and survivors, (victim_process, len(dead))
    took = await counted(survivors[0], info_hash, len(survivors), within=SWEEP_SECONDS)
    print(f"\nkill -9: scrape counts the {len(survivors)} survivors after {took:.1f} s")
    assert time.monotonic() - killed < SWEEP_SECONDS
    # Every offer of a survivor's announce reaches a survivor: none goes to a dead peer.
    await asyncio.sleep(INTERVAL / 2)
    for peer in survivors:
        peer.drain()
    sent = 0
    for peer in survivors:
        await peer.send(announce(info_hash, peer.peer_id, offers=5, event="update"))
        sent += min(5, len(survivors) - 1)
    await asyncio.sleep(1.5)
    received = sum(1 for peer in survivors for message in peer.drain() if "offer" in message)
    assert received == sent
    for peer in peers:
        await peer.close()


def test_serve_refuses_several_workers_without_redis(tmp_path):
    instance = LiveInstance(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "serve", "--workers", "2", "--no-worker"],
        cwd=ROOT,
        env=instance.env(PEERVEIL_REDIS_URL=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "needs PEERVEIL_REDIS_URL" in done.stderr
    done = subprocess.run(
        [sys.executable, "manage.py", "serve", "--no-worker"],
        cwd=ROOT,
        env=instance.env(PEERVEIL_REDIS_URL="", PEERVEIL_WORKERS="3"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "needs PEERVEIL_REDIS_URL" in done.stderr


def test_http_scrape_counts_from_either_process(live):
    info_hash = make_info_hash("privacy")
    transport = httpx.HTTPTransport(local_address="127.0.4.1")
    with httpx.Client(transport=transport, headers={"Connection": "close"}) as client:
        for n in range(3):
            query = crawler_query(info_hash, 100 + n).decode()
            assert client.get(f"{live.url}/tracker/announce?{query}").status_code == 200
    time.sleep(1.5)
    for _ in range(6):
        reply = httpx.get(f"{live.url}/tracker/scrape?info_hash={quote_from_bytes(info_hash)}")
        files = bdecode(reply.content)[b"files"]
        assert files[info_hash][b"incomplete"] == 3
