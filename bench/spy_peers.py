"""The clients of the spy benchmark (bench/spy_bench.py): honest viewers and a crawler.

Every client binds its own 127.x.y.z source address. Honest web peers behave as webtorrent 2.8.5
in a browser does (measured): one socket per page, "started" with 5 offers, a re-announce with 5
fresh offers every interval, an answer to every offer; moving to another video closes the page's
socket. Their SDP carries their address as a host candidate (a browser without mDNS hiding): the
worst case, where every offer and answer a crawler receives tells it an address. HTTP peers
announce at the interval and send "stopped" when they move on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
from collections import Counter
from urllib.parse import quote_from_bytes

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

CANDIDATE = re.compile(r"a=candidate:\S+ \d+ udp \d+ (\S+) \d+ typ host")
FAILURE = re.compile(rb"14:failure reason(\d+):")
OFFERS = 5  # what a browser sends per announce
CRAWLER_OFFERS = 10  # the most the tracker accepts in one announce


def sdp(address: str, kind: str) -> str:
    return (
        f"v=0\r\no=- {random.getrandbits(60)} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        f"a=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        f"a=setup:{'actpass' if kind == 'offer' else 'active'}\r\n"
        f"a=candidate:1 1 udp 2122260223 {address} {random.randrange(40000, 60000)} typ host\r\n"
    )


def sdp_address(message: dict) -> str | None:
    for key in ("offer", "answer"):
        if isinstance(message.get(key), dict):
            found = CANDIDATE.search(message[key].get("sdp", ""))
            return found.group(1) if found else None
    return None


def wire(raw: bytes) -> str:
    return raw.decode("latin-1")


def offers(count: int, address: str) -> list[dict]:
    return [
        {"offer": {"type": "offer", "sdp": sdp(address, "offer")}, "offer_id": wire(os.urandom(20))}
        for _ in range(count)
    ]


class World:
    """What exists: the (address, video) pairs of honest peers over time."""

    def __init__(self, videos: list[bytes], weights: list[float], interval: float, seed: int):
        self.videos, self.weights, self.interval = videos, weights, interval
        self.rng = random.Random(seed)
        self.active: set[tuple[str, bytes]] = set()
        self.web_addresses: set[str] = set()  # the rest are HTTP peers
        self.joined: list[tuple[float, str, bytes]] = []  # (time, address, video)
        self.requests = 0  # honest requests sent (announces, answers, socket upgrades)
        self.refusals: Counter[str] = Counter()  # honest requests refused, by reason

    def pick(self) -> bytes:
        return self.rng.choices(self.videos, self.weights)[0]

    def watch_seconds(self) -> float:
        # Half a minute at least to pick a video and see whether it is any good, then minutes
        # (exponential, mean 4 min): some leave early, some stay long.
        return 30.0 + self.rng.expovariate(1 / 240.0)

    def join(self, address: str, video: bytes) -> None:
        self.active.add((address, video))
        self.joined.append((time.monotonic(), address, video))

    def leave(self, address: str, video: bytes) -> None:
        self.active.discard((address, video))

    def pairs_during(self, start: float, end: float, at_start: set) -> set:
        return at_start | {(a, v) for t, a, v in self.joined if start <= t <= end}


async def web_peer(world: World, url: str, address: str, stop: asyncio.Event) -> None:
    world.web_addresses.add(address)
    peer_id = wire(b"-WW0208-" + os.urandom(6).hex().encode())
    while not stop.is_set():
        video, until = world.pick(), time.monotonic() + world.watch_seconds()
        world.requests += 1
        try:
            async with connect(url, local_addr=(address, 0), compression=None) as socket:
                world.join(address, video)
                reader = asyncio.create_task(answer_offers(world, socket, address, peer_id))
                event: str | None = "started"
                while not stop.is_set() and time.monotonic() < until:
                    message = {"action": "announce", "info_hash": wire(video),
                               "peer_id": peer_id, "numwant": OFFERS, "left": 0,
                               "offers": offers(OFFERS, address)}  # fmt: skip
                    if event:
                        message["event"] = event
                    world.requests += 1
                    await socket.send(orjson.dumps(message).decode())
                    event = None
                    pause = world.interval * world.rng.uniform(0.95, 1.05)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), min(pause, until - time.monotonic()))
                reader.cancel()
        except InvalidStatus as refused:
            world.refusals[f"upgrade refused ({refused.response.status_code})"] += 1
        except (OSError, ConnectionClosed, TimeoutError):
            pass
        world.leave(address, video)  # closing the page's socket leaves the swarm
        await asyncio.sleep(world.rng.uniform(1.0, 5.0))


async def answer_offers(world: World, socket, address: str, peer_id: str) -> None:
    async for raw in socket:
        message = orjson.loads(raw)
        if "failure reason" in message:
            world.refusals[message["failure reason"]] += 1
        elif "offer" in message:
            world.requests += 1
            await socket.send(orjson.dumps({
                "action": "announce", "info_hash": message["info_hash"], "peer_id": peer_id,
                "to_peer_id": message["peer_id"], "offer_id": message["offer_id"],
                "answer": {"type": "answer", "sdp": sdp(address, "answer")},
            }).decode())  # fmt: skip


def announce_query(video: bytes, peer_id: bytes, event: str, port: int, numwant: int) -> str:
    return (
        f"info_hash={quote_from_bytes(video)}&peer_id={quote_from_bytes(peer_id)}&port={port}"
        f"&uploaded=0&downloaded=0&left=0&compact=1&numwant={numwant}&event={event}"
    )


async def http_peer(world: World, url: str, address: str, stop: asyncio.Event) -> None:
    peer_id = b"-LT2010-" + os.urandom(6).hex().encode()
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        while not stop.is_set():
            video, until = world.pick(), time.monotonic() + world.watch_seconds()
            world.join(address, video)
            event = "started"
            while not stop.is_set() and time.monotonic() < until:
                with contextlib.suppress(httpx.HTTPError):
                    query = announce_query(video, peer_id, event, 6881, 50)
                    http_refusal(world, await client.get(f"{url}/tracker/announce?{query}"))
                event = ""
                pause = world.interval * world.rng.uniform(0.95, 1.05)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(pause, until - time.monotonic()))
            world.leave(address, video)
            with contextlib.suppress(httpx.HTTPError):
                http_refusal(world, await client.get(f"{url}/tracker/announce?" + announce_query(
                    video, peer_id, "stopped", 6881, 0)))  # fmt: skip
            await asyncio.sleep(world.rng.uniform(1.0, 5.0))


def http_refusal(world: World, reply: httpx.Response) -> None:
    """Count an honest HTTP announce, and its failure reason if it was refused."""
    world.requests += 1
    found = FAILURE.search(reply.content)
    if found:
        start = found.end()
        reason = reply.content[start : start + int(found.group(1))].decode(errors="replace")
        world.refusals[reason] += 1
    elif reply.status_code != 200:
        world.refusals[f"HTTP {reply.status_code}"] += 1


class Crawler:
    """The method of the issue: one request per video and tracker (an HTTP announce asking for
    the most peers, a WebSocket announce with the most offers), every video in turn, again and
    again; the addresses take turns. It stops when every address is blocked."""

    def __init__(self, url: str, ws_url: str, addresses: list[str], videos: list[bytes]):
        self.url, self.ws_url, self.videos = url, ws_url, videos
        self.addresses = addresses
        self.by_hash = {wire(v): v for v in videos}
        self.learned_http: set[tuple[str, bytes]] = set()
        self.learned_sdp: set[tuple[str, bytes]] = set()
        self.requests = 0
        self.blocked_at: dict[str, float] = {}

    async def run(self, deadline: float) -> None:
        await asyncio.gather(*(self.crawl(n, a, deadline) for n, a in enumerate(self.addresses)))

    async def crawl(self, number: int, address: str, deadline: float) -> None:
        mine = self.videos[number :: len(self.addresses)]
        peer_id = wire(b"-WW0208-" + os.urandom(6).hex().encode())
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(transport=transport, timeout=10) as client:
            socket = await self.open(address)
            reader = asyncio.create_task(self.listen(socket)) if socket else None
            while address not in self.blocked_at and time.monotonic() < deadline:
                for video in mine:
                    if address in self.blocked_at or time.monotonic() > deadline:
                        break
                    await self.ask_http(client, address, video)
                    if socket is not None and not await self.ask_socket(socket, video, peer_id):
                        socket = await self.open(address)  # closed on us: blocked?
                        if reader:
                            reader.cancel()
                        reader = asyncio.create_task(self.listen(socket)) if socket else None
                await asyncio.sleep(1.0)  # and again, to see who came and who left
            if reader:
                reader.cancel()
            if socket is not None:
                await socket.close()

    async def open(self, address: str):
        self.requests += 1
        try:
            return await connect(self.ws_url, local_addr=(address, 0), compression=None)
        except InvalidStatus as refused:
            if refused.response.status_code == 403:
                self.blocked_at.setdefault(address, time.monotonic())
            return None

    async def ask_http(self, client: httpx.AsyncClient, address: str, video: bytes) -> None:
        self.requests += 1
        query = announce_query(video, b"-LT2010-CRAWLER00001", "started", 6881, 200)
        reply = await client.get(f"{self.url}/tracker/announce?{query}")
        if reply.status_code == 403:
            self.blocked_at.setdefault(address, time.monotonic())
            return
        peers = bdecode_peers(reply.content)
        self.learned_http |= {(ip, video) for ip in peers}

    async def ask_socket(self, socket, video: bytes, peer_id: str) -> bool:
        self.requests += 1
        message = {"action": "announce", "info_hash": wire(video), "peer_id": peer_id,
                   "numwant": CRAWLER_OFFERS, "left": 0, "uploaded": 0, "downloaded": 0,
                   "event": "started", "offers": offers(CRAWLER_OFFERS, "192.0.2.1")}  # fmt: skip
        try:
            await socket.send(orjson.dumps(message).decode())
        except ConnectionClosed:
            return False
        return True

    async def listen(self, socket) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in socket:
                message = orjson.loads(raw)
                address = sdp_address(message)
                if address is not None and message.get("info_hash") in self.by_hash:
                    self.learned_sdp.add((address, self.by_hash[message["info_hash"]]))


def bdecode_peers(body: bytes) -> list[str]:
    """The addresses in a compact reply (BEP 23), without a full bencode parser."""
    marker = body.find(b"5:peers")
    if marker < 0:
        return []
    length, _, rest = body[marker + 7 :].partition(b":")
    blob = rest[: int(length)]
    return [".".join(str(b) for b in blob[i : i + 4]) for i in range(0, len(blob), 6)]
