"""Load generator of the tracker benchmark: one process, pinned to its own core by the caller.

It speaks RFC 6455 (client side: masked frames, pongs to pings) and HTTP/1.1 keep-alive by hand
on uvloop protocols: a client library spends more CPU per message than the servers under test,
and the generator has one core to saturate either of them with.

Every simulated WebSocket peer behaves like a browser running webtorrent: one socket, one
peer_id, one torrent; a "started" announce with 5 offers and numwant 5, then periodic announces
without event, each with 5 fresh offers; an answer (to_peer_id, offer_id) to a share of the
offers it was sent, and only to those. Phases, each bounded in time:

  join      every peer connects and announces "started" (at most --window announces in flight)
  memory    the server's RSS growth over its warmed-up baseline, per open socket (or HTTP peer)
  saturate  closed loop: --window announces in flight, each reply sends the next announce
  rate      open loop: --rate announces a second, send-to-reply latency of each

The server's CPU time and RSS are read from /proc/<--server-pid>. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import gc
import ipaddress
import os
import random
import subprocess
import sys
import time
from urllib.parse import quote_from_bytes

import orjson

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets ships the C extension on this platform

    def apply_mask(data: bytes, mask: bytes) -> bytes:
        n = len(data)
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OFFERS_PER_ANNOUNCE = 5
NUMWANT = 5
SEEDER_SHARE = 0.2


# --- /proc readings ------------------------------------------------------------------------


# Other processes whose CPU is the server's too (--extra-pids: sibling server processes and
# redis-server, when the tracker runs on several processes).
EXTRA_PIDS: list[int] = []


def server_cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), from /proc/<pid>/stat, plus those of
    EXTRA_PIDS."""
    total = 0.0
    for one in (pid, *EXTRA_PIDS):
        with open(f"/proc/{one}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def server_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def own_cpu_seconds() -> float:
    return time.process_time()


def core_busy_seconds() -> dict[int, float]:
    """Busy (non-idle) time of each core since boot, from /proc/stat."""
    busy = {}
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith("cpu") and line[3].isdigit():
                name, *ticks = line.split()
                values = [int(t) for t in ticks[:8]]
                busy[int(name[3:])] = (sum(values) - values[3] - values[4]) / CLOCK_TICKS
    return busy


# --- realistic SDP ---------------------------------------------------------------------------


def _token(rng: random.Random, n: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
    return "".join(rng.choice(alphabet) for _ in range(n))


def make_sdp(rng: random.Random, kind: str) -> str:
    """A simple-peer data-channel SDP as Chromium writes it with trickle off (host candidates
    included): about 900 bytes, the middle of what webtorrent sends."""
    fingerprint = ":".join(f"{rng.randrange(256):02X}" for _ in range(32))
    lines = [
        "v=0",
        f"o=- {rng.randrange(10**18, 10**19)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
    ]
    for n in range(4):
        port = rng.randrange(40000, 65000)
        lines.append(
            f"a=candidate:{rng.randrange(10**9, 10**10)} 1 udp {2122260223 - n * 8192} "
            f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)} {port} typ host "
            f"generation 0 network-id {n + 1} network-cost 10"
        )
    lines += [
        f"a=ice-ufrag:{_token(rng, 4)}",
        f"a=ice-pwd:{_token(rng, 24)}",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {fingerprint}",
        "a=setup:actpass" if kind == "offer" else "a=setup:active",
        "a=mid:0",
        "a=sctp-port:5000",
        "a=max-message-size:262144",
    ]
    return "\r\n".join(lines) + "\r\n"


# --- statistics ------------------------------------------------------------------------------


class Counters:
    __slots__ = (
        "received",
        "replies",
        "offers",
        "answers",
        "failures",
        "other",
        "sent_announces",
        "sent_answers",
        "sent_bytes",
        "pings",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def snapshot(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


def delta(after: dict, before: dict) -> dict:
    return {key: after[key] - before[key] for key in after}


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


# --- the driver shared by both kinds of client -------------------------------------------------


class Driver:
    """Keeps --window requests in flight (join, saturate) or sends them at a fixed rate."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.rng = random.Random(args.seed)
        self.stats = Counters()
        self.failure_reasons: collections.Counter = collections.Counter()
        self.idle: collections.deque = collections.deque()
        self.inflight = 0
        self.mode = "idle"  # idle | closed | rate
        # (sent at, latency) of each request in the fixed-rate phase; CLOCK_MONOTONIC is the
        # same clock in every process, so spikes can be matched with the server's own events.
        self.latencies: list[tuple[float, float]] | None = None
        self.drained: asyncio.Event = asyncio.Event()
        # No request is started once this many were sent in total (a bounded join phase).
        self.limit: int | None = None

    # Subclasses: start_request(client) sends one request/announce on an idle client.

    def on_reply(self, client, sent_at: float | None, now: float) -> None:
        self.inflight -= 1
        if self.latencies is not None and sent_at is not None:
            self.latencies.append((sent_at, now - sent_at))
        self.idle.append(client)
        if (
            self.mode == "closed"
            and self.idle
            and (self.limit is None or self.stats.sent_announces < self.limit)
        ):
            self.kick()
        if self.inflight == 0:
            self.drained.set()

    def kick(self) -> None:
        client = self.idle.popleft()
        self.inflight += 1
        self.drained.clear()
        self.start_request(client)

    async def drain(self, timeout: float) -> bool:
        if self.inflight == 0:
            return True
        try:
            await asyncio.wait_for(self.drained.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def closed_loop(self, seconds: float, window: int, until_count: int | None = None):
        """Keep `window` requests in flight for `seconds` (or until `until_count` sent)."""
        self.mode = "closed"
        self.limit = until_count
        start = self.loop.time()
        for _ in range(min(window, len(self.idle))):
            if until_count is not None and self.stats.sent_announces >= until_count:
                break
            self.kick()
        deadline = start + seconds
        while self.loop.time() < deadline:
            if until_count is not None and self.stats.sent_announces >= until_count:
                break
            await asyncio.sleep(0.05)
        self.mode = "idle"
        self.limit = None

    async def fixed_rate(self, seconds: float, rate: float) -> int:
        """Send `rate` requests a second for `seconds`; returns how many could not be sent
        because every client was still waiting for a reply."""
        self.mode = "rate"
        start = self.loop.time()
        sent = skipped = 0
        while True:
            now = self.loop.time()
            if now - start >= seconds:
                break
            due = int((now - start) * rate) + 1
            while sent + skipped < due:
                if self.idle:
                    self.kick()
                    sent += 1
                else:
                    skipped += 1
            # At least a millisecond: the loop's timers have that resolution, a shorter sleep
            # returns at once and the generator would spin. What came due meanwhile is sent
            # in the next batch.
            next_at = start + (sent + skipped) / rate
            await asyncio.sleep(max(0.001, next_at - self.loop.time()))
        self.mode = "idle"
        return skipped

    async def measured(self, pid: int, phase):
        """Run `phase` (a coroutine factory) and return counters, CPU and wall-clock deltas."""
        counters = self.stats.snapshot()
        cpu, own, cores = server_cpu_seconds(pid), own_cpu_seconds(), core_busy_seconds()
        wall = time.monotonic()
        extra = await phase()
        wall = time.monotonic() - wall
        result = delta(self.stats.snapshot(), counters)
        result["server_cpu_seconds"] = server_cpu_seconds(pid) - cpu
        result["generator_cpu_seconds"] = own_cpu_seconds() - own
        # Busy time of each core during the phase: what is not the server's (on its core) or
        # the generator's (on its core) is other load on this machine, reported as noise.
        after = core_busy_seconds()
        result["core_busy_seconds"] = {str(c): after[c] - cores[c] for c in after}
        result["seconds"] = wall
        result["extra"] = extra
        return result


# --- WebSocket ---------------------------------------------------------------------------------


class WsPeer(asyncio.Protocol):
    __slots__ = (
        "driver",
        "info_hash",
        "peer_id",
        "left",
        "transport",
        "buffer",
        "open",
        "opened",
        "sent_at",
        "fragments",
        "closed",
        "address",
    )

    def __init__(
        self, driver: WsDriver, info_hash: str, peer_id: str, seeder: bool, address: str
    ) -> None:
        self.driver = driver
        self.address = address
        self.info_hash = info_hash
        self.peer_id = peer_id
        self.left = 0 if seeder else 1_000_000
        self.transport = None
        self.buffer = bytearray()
        self.open = False
        self.opened: asyncio.Future = driver.loop.create_future()
        self.sent_at: float | None = None
        self.fragments: list[bytes] | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        args = self.driver.args
        transport.write(
            (
                f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://{args.host}:{args.port}\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        self.driver.lost += 1

    def send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = self.driver.rng.getrandbits(32).to_bytes(4, "big")
        self.transport.write(header + mask + apply_mask(payload, mask))
        self.driver.stats.sent_bytes += n

    def send_json(self, message: dict) -> None:
        self.send_frame(0x1, orjson.dumps(message))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:end]).split(b"\r\n", 1)[0]
            del buffer[: end + 4]
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode("latin-1")))
                self.transport.close()
                return
            self.open = True
            self.opened.set_result(None)
        pos, n = 0, len(buffer)
        while n - pos >= 2:
            b0, b1 = buffer[pos], buffer[pos + 1]
            length, header = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, header = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, header = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), 10
            end = pos + header + length
            if end > n:
                break
            payload = bytes(buffer[pos + header : end])
            pos = end
            opcode = b0 & 0x0F
            if opcode in (0x1, 0x2):
                if b0 & 0x80:
                    self.driver.on_message(self, payload, now)
                else:
                    self.fragments = [payload]
            elif opcode == 0x0 and self.fragments is not None:
                self.fragments.append(payload)
                if b0 & 0x80:
                    whole, self.fragments = b"".join(self.fragments), None
                    self.driver.on_message(self, whole, now)
            elif opcode == 0x9:
                # Keepalive pings of the server (uvicorn: every 20 s per socket): answered, and
                # counted per 0.1 s, as they come in bursts when sockets opened together.
                self.send_frame(0xA, payload)
                driver = self.driver
                driver.stats.pings += 1
                tick = round(now, 1)
                driver.ping_ticks[tick] = driver.ping_ticks.get(tick, 0) + 1
            elif opcode == 0x8 and not self.closed:
                self.send_frame(0x8, payload[:2])
                self.transport.close()
                self.closed = True
        if pos:
            del buffer[:pos]


def client_address(net: str, block: int, n: int) -> str:
    """The n-th loopback client address of a block: `net`.block+n//250.(n%250+1)."""
    return f"{net}.{block + n // 250}.{n % 250 + 1}"


class WsDriver(Driver):
    """One loopback address per socket (127.R.x.y), as every browser has its own."""

    def __init__(self, args, info_hashes: list[bytes], block: int = 0) -> None:
        super().__init__(args)
        self.lost = 0
        self.ping_ticks: dict[float, int] = {}
        self.offer_sdps = [make_sdp(self.rng, "offer") for _ in range(64)]
        self.answer_sdps = [make_sdp(self.rng, "answer") for _ in range(64)]
        salt = self.rng.randrange(16**4)
        self.peers = [
            WsPeer(
                self,
                info_hashes[i % args.swarms].decode("latin-1"),
                f"-WW0208-{salt:04x}{i:08x}",
                self.rng.random() < SEEDER_SHARE,
                client_address(args.source_net, block, i),
            )
            for i in range(args.sockets)
        ]
        self.joined = False

    def start_request(self, peer: WsPeer) -> None:
        rng = self.rng
        ids = os.urandom(20 * OFFERS_PER_ANNOUNCE).decode("latin-1")
        sdps = self.offer_sdps
        message = {
            "action": "announce",
            "info_hash": peer.info_hash,
            "peer_id": peer.peer_id,
            "numwant": NUMWANT,
            "uploaded": 0,
            "downloaded": 0,
            "left": peer.left,
            "offers": [
                {
                    "offer": {"type": "offer", "sdp": sdps[rng.randrange(64)]},
                    "offer_id": ids[k * 20 : k * 20 + 20],
                }
                for k in range(OFFERS_PER_ANNOUNCE)
            ],
        }
        if not self.joined:
            message["event"] = "started"
        peer.sent_at = time.monotonic()
        peer.send_json(message)
        self.stats.sent_announces += 1

    def on_message(self, peer: WsPeer, payload: bytes, now: float) -> None:
        stats = self.stats
        stats.received += 1
        message = orjson.loads(payload)
        if "offer" in message:
            stats.offers += 1
            if self.rng.random() < self.args.answer_share:
                peer.send_json(
                    {
                        "action": "announce",
                        "info_hash": message["info_hash"],
                        "peer_id": peer.peer_id,
                        "to_peer_id": message["peer_id"],
                        "answer": {"type": "answer", "sdp": self.answer_sdps[stats.offers & 63]},
                        "offer_id": message["offer_id"],
                    }
                )
                stats.sent_answers += 1
        elif "answer" in message:
            stats.answers += 1
        elif "interval" in message or "failure reason" in message:
            if "interval" in message:
                stats.replies += 1
            else:
                stats.failures += 1
                self.failure_reasons[str(message["failure reason"])[:60]] += 1
            if peer.sent_at is not None:
                sent_at, peer.sent_at = peer.sent_at, None
                self.on_reply(peer, sent_at, now)
        else:
            stats.other += 1

    async def connect_all(self) -> float:
        args = self.args
        gate = asyncio.Semaphore(args.connect_concurrency)

        async def connect(peer: WsPeer) -> None:
            async with gate:
                await self.loop.create_connection(
                    lambda: peer, args.host, args.port, local_addr=(peer.address, 0)
                )
                await asyncio.wait_for(peer.opened, 30)

        start = time.monotonic()
        await asyncio.gather(*(connect(peer) for peer in self.peers))
        return time.monotonic() - start

    def close_all(self) -> None:
        for peer in self.peers:
            if peer.transport is not None and not peer.closed:
                peer.transport.close()


async def saturate_then_rate(driver, args, result: dict, window: int) -> None:
    """The two measured phases every workload shares, after its own join: a closed loop with
    `window` requests in flight (under py-spy with --profile), then the fixed rate."""
    pid = args.server_pid

    async def saturate():
        profiler = start_profiler(args)
        await driver.closed_loop(args.saturate_seconds, window)
        drained = await driver.drain(args.phase_timeout)
        await finish_profiler(profiler)
        return drained

    result["saturate"] = await driver.measured(pid, saturate)
    await asyncio.sleep(args.settle)
    driver.latencies = []

    async def rate():
        skipped = await driver.fixed_rate(args.rate_seconds, args.rate)
        return {"skipped": skipped, "drained": await driver.drain(args.phase_timeout)}

    result["rate"] = await driver.measured(pid, rate)
    result["rate"]["latencies"] = latency_summary(driver.latencies)
    result["failure_reasons"] = dict(driver.failure_reasons)
    result["lost_connections"] = driver.lost


async def run_ws(args, info_hashes: list[bytes]) -> dict:
    pid = args.server_pid
    result: dict = {"kind": "ws"}
    await warm_up_ws(args, info_hashes)
    await asyncio.sleep(1.0)
    rss_base = server_rss_bytes(pid)
    driver = WsDriver(args, info_hashes)
    result["connect_seconds"] = await driver.connect_all()
    driver.idle.extend(driver.peers)

    async def join():
        await driver.closed_loop(args.phase_timeout, args.window, until_count=len(driver.peers))
        return await driver.drain(args.phase_timeout)

    result["join"] = await driver.measured(pid, join)
    driver.joined = True
    await asyncio.sleep(args.settle)
    rss_loaded = server_rss_bytes(pid)
    result["rss_base_bytes"] = rss_base
    result["rss_loaded_bytes"] = rss_loaded
    result["rss_per_client_bytes"] = (rss_loaded - rss_base) / len(driver.peers)
    driver.idle = collections.deque(driver.rng.sample(driver.peers, len(driver.peers)))
    await saturate_then_rate(driver, args, result, window=args.window)
    result["ping_ticks"] = [[tick, n] for tick, n in sorted(driver.ping_ticks.items())]
    result["sdp_bytes"] = sum(map(len, driver.offer_sdps)) / len(driver.offer_sdps)
    driver.close_all()
    await asyncio.sleep(0.2)
    return result


async def warm_up_ws(args, info_hashes: list[bytes]) -> None:
    """A few peers join, signal and leave, so that lazy imports and JIT warm-up are not
    counted as memory per socket."""
    warm = argparse.Namespace(**vars(args))
    warm.sockets, warm.swarms = 20, min(2, args.swarms)
    driver = WsDriver(warm, info_hashes, block=250)
    await driver.connect_all()
    driver.idle.extend(driver.peers)
    for _ in range(3):
        await driver.closed_loop(0.3, 10, until_count=driver.stats.sent_announces + 40)
        await driver.drain(5)
        driver.joined = True
    driver.close_all()


# --- HTTP --------------------------------------------------------------------------------------


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "driver",
        "transport",
        "buffer",
        "sent_at",
        "expect",
        "closed",
        "ok",
        "address",
        "started",
        "periodic",
        "cursor",
        "waiter",
    )

    def __init__(self, driver: HttpDriver, address: str) -> None:
        self.driver = driver
        self.address = address
        # The requests of the peers this connection carries: each peer always announces from
        # the same address, or the tracker takes it for another client using its peer_id.
        self.started: list[bytes] = []
        self.periodic: list[bytes] = []
        self.cursor = 0
        self.waiter: asyncio.Future | None = None
        self.transport = None
        self.buffer = bytearray()
        self.sent_at: float | None = None
        self.expect: int | None = None  # body bytes still to come, once the head is read
        self.closed = False
        self.ok = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.closed = False
        self.buffer.clear()
        self.expect = None

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.driver.lost += 1

    def send(self, request: bytes) -> None:
        self.sent_at = time.monotonic()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        while True:
            if self.expect is None:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buffer[:end]).lower()
                del buffer[: end + 4]
                self.ok = head.startswith((b"http/1.1 200", b"http/1.0 200"))
                marker = head.find(b"content-length:")
                if marker < 0:
                    if b"chunked" in head:
                        self.expect = -1
                    else:
                        raise RuntimeError("response without a length: " + head.decode())
                else:
                    self.expect = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if self.expect == -1:
                terminator = buffer.find(b"0\r\n\r\n")
                if terminator < 0:
                    return
                body = _dechunk(bytes(buffer[: terminator + 5]))
                del buffer[: terminator + 5]
            else:
                if len(buffer) < self.expect:
                    return
                body = bytes(buffer[: self.expect])
                del buffer[: self.expect]
            self.expect = None
            self.driver.on_response(self, self.ok, body, now)


def _dechunk(raw: bytes) -> bytes:
    out, pos = [], 0
    while True:
        line_end = raw.index(b"\r\n", pos)
        size = int(raw[pos:line_end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(raw[line_end + 2 : line_end + 2 + size])
        pos = line_end + 2 + size + 2


class HttpDriver(Driver):
    """Classic clients: --sockets peers over --swarms torrents, announcing over --connections
    keep-alive connections, each from its own address and carrying its own peers (compact=1,
    numwant 50, "started" first, then periodic)."""

    def __init__(self, args, info_hashes: list[bytes], block: int = 200) -> None:
        super().__init__(args)
        self.lost = 0
        salt = self.rng.randrange(16**4)
        self.connections = [
            HttpConnection(self, client_address(args.source_net, block, c))
            for c in range(args.connections)
        ]
        host = f"Host: {args.host}:{args.port}\r\nUser-Agent: qBittorrent/5.0.0\r\n"
        for i in range(args.sockets):
            peer_id = f"-qB5000-{salt:04x}{i:08x}".encode()
            left = 0 if self.rng.random() < SEEDER_SHARE else 1_000_000
            query = (
                f"info_hash={quote_from_bytes(info_hashes[i % args.swarms], safe='')}"
                f"&peer_id={quote_from_bytes(peer_id, safe='')}&port={6881 + i % 50000}"
                f"&uploaded=0&downloaded=0&left={left}&corrupt=0&key={i:08X}"
                "&numwant=50&compact=1&no_peer_id=1&supportcrypto=1&redundant=0"
            )
            line = f"GET {args.path}?{query}"
            connection = self.connections[i % len(self.connections)]
            connection.started.append(f"{line}&event=started HTTP/1.1\r\n{host}\r\n".encode())
            connection.periodic.append(f"{line} HTTP/1.1\r\n{host}\r\n".encode())
        self.redials = 0

    async def join(self) -> None:
        """Every peer announces "started" once, one request at a time per connection."""

        async def join_peers(connection: HttpConnection) -> None:
            for request in connection.started:
                connection.waiter = self.loop.create_future()
                self.send(connection, request)
                await asyncio.wait_for(connection.waiter, self.args.phase_timeout)

        await asyncio.gather(*(join_peers(c) for c in self.connections))

    def start_request(self, connection: HttpConnection) -> None:
        requests = connection.periodic
        request = requests[connection.cursor % len(requests)]
        connection.cursor += 1
        self.send(connection, request)

    def send(self, connection: HttpConnection, request: bytes) -> None:
        self.stats.sent_announces += 1
        if connection.closed:
            # The server closed an idle keep-alive connection: dial again, then send.
            self.redials += 1
            self.loop.create_task(self._redial(connection, request))
        else:
            connection.send(request)

    async def _redial(self, connection: HttpConnection, request: bytes) -> None:
        await self.dial(connection)
        connection.send(request)

    async def dial(self, connection: HttpConnection) -> None:
        args = self.args
        await self.loop.create_connection(
            lambda: connection, args.host, args.port, local_addr=(connection.address, 0)
        )

    def on_response(self, connection: HttpConnection, ok: bool, body: bytes, now: float) -> None:
        stats = self.stats
        stats.received += 1
        if not ok or b"failure reason" in body[:40]:
            stats.failures += 1
            self.failure_reasons[body[:80].decode("latin-1")] += 1
        else:
            stats.replies += 1
        sent_at, connection.sent_at = connection.sent_at, None
        if connection.waiter is not None:
            waiter, connection.waiter = connection.waiter, None
            waiter.set_result(None)
        else:
            self.on_reply(connection, sent_at, now)

    async def connect_all(self) -> float:
        start = time.monotonic()
        for connection in self.connections:
            await self.dial(connection)
        return time.monotonic() - start

    def close_all(self) -> None:
        for connection in self.connections:
            if connection.transport is not None and not connection.closed:
                connection.transport.close()


async def run_http(args, info_hashes: list[bytes]) -> dict:
    pid = args.server_pid
    result: dict = {"kind": "http"}
    # Warm-up: a few requests on other peer ids, so lazy imports are not counted as memory.
    warm = argparse.Namespace(**vars(args))
    warm.sockets, warm.connections, warm.seed = 50, 4, args.seed + 1
    warm_driver = HttpDriver(warm, info_hashes, block=251)
    await warm_driver.connect_all()
    await warm_driver.join()
    warm_driver.idle.extend(warm_driver.connections)
    await warm_driver.closed_loop(2.0, 4, until_count=200)
    await warm_driver.drain(5)
    warm_driver.close_all()
    await asyncio.sleep(1.0)
    rss_base = server_rss_bytes(pid)

    driver = HttpDriver(args, info_hashes)
    result["connect_seconds"] = await driver.connect_all()
    driver.idle.extend(driver.connections)

    async def join():
        await driver.join()
        return True

    result["join"] = await driver.measured(pid, join)
    await asyncio.sleep(args.settle)
    rss_loaded = server_rss_bytes(pid)
    result["rss_base_bytes"] = rss_base
    result["rss_loaded_bytes"] = rss_loaded
    result["rss_per_client_bytes"] = (rss_loaded - rss_base) / args.sockets
    await saturate_then_rate(driver, args, result, window=args.connections)
    result["redials"] = driver.redials
    driver.close_all()
    await asyncio.sleep(0.2)
    return result


# --- profiling ---------------------------------------------------------------------------------


def start_profiler(args) -> subprocess.Popen | None:
    """py-spy on the server for the saturation phase (a profiling run: it slows the server)."""
    if not args.profile_out:
        return None
    seconds = max(1, int(args.saturate_seconds) - 1)
    command = [args.py_spy, "record", "--pid", str(args.server_pid), "--duration", str(seconds)]
    command += ["--rate", "100", "--gil", "--native", "--format", "raw", "-o", args.profile_out]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def finish_profiler(profiler: subprocess.Popen | None) -> None:
    if profiler is None:
        return
    for _ in range(200):
        if profiler.poll() is not None:
            return
        await asyncio.sleep(0.1)
    profiler.kill()


# --- entry point -------------------------------------------------------------------------------


SPIKE_SECONDS = 0.010


def latency_summary(latencies: list[tuple[float, float]]) -> dict:
    values = sorted(latency for _, latency in latencies)
    # Replies slower than SPIKE_SECONDS, grouped in bursts (0.2 s apart at most): when they
    # came tells a periodic stall (a timer, a collection) from steady queueing.
    bursts: list[dict] = []
    for sent_at, latency in sorted(latencies):
        if latency < SPIKE_SECONDS:
            continue
        if bursts and sent_at - bursts[-1]["last"] <= 0.2:
            burst = bursts[-1]
            burst["count"] += 1
            burst["max_ms"] = max(burst["max_ms"], 1000 * latency)
            burst["last"] = sent_at
        else:
            bursts.append({"at": sent_at, "last": sent_at, "count": 1, "max_ms": 1000 * latency})
    return {
        "count": len(values),
        "p50_ms": None if not values else 1000 * percentile(values, 0.50),
        "p99_ms": None if not values else 1000 * percentile(values, 0.99),
        "max_ms": None if not values else 1000 * values[-1],
        "slow_bursts": bursts[:50],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("ws", "http"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument(
        "--source-net",
        default="127.1",
        help="first two octets of the clients' loopback addresses (127.N.x.y)",
    )
    parser.add_argument("--hashes", required=True, help="file: one hex infohash a line")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--extra-pids", default="", help="comma-separated; CPU added")
    parser.add_argument("--sockets", type=int, default=1000, help="WebSocket peers / HTTP peers")
    parser.add_argument("--swarms", type=int, default=100)
    parser.add_argument("--connections", type=int, default=32, help="HTTP keep-alive")
    parser.add_argument("--window", type=int, default=256, help="announces in flight")
    parser.add_argument("--answer-share", type=float, default=0.5)
    parser.add_argument("--saturate-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=1.5)
    parser.add_argument("--phase-timeout", type=float, default=60.0)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--profile-out", help="py-spy raw output for the saturation phase")
    parser.add_argument("--py-spy", default="py-spy")
    args = parser.parse_args(argv)
    for address in (args.host, f"{args.source_net}.0.1"):
        if not ipaddress.ip_address(address).is_loopback:
            parser.error("the benchmark only uses loopback addresses (127.0.0.0/8)")
    EXTRA_PIDS[:] = [int(pid) for pid in args.extra_pids.split(",") if pid]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # The generator's garbage (parsed messages) has no cycles; a collection pause here would
    # be counted as the server's latency. The process lives for a minute or two.
    gc.disable()
    with open(args.hashes) as hashes:
        info_hashes = [bytes.fromhex(line.strip()) for line in hashes if line.strip()]
    if args.swarms > len(info_hashes):
        raise SystemExit(f"--swarms {args.swarms} > {len(info_hashes)} catalogue infohashes")
    runner = run_ws if args.kind == "ws" else run_http
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        result = asyncio.run(runner(args, info_hashes))
    else:
        result = uvloop.run(runner(args, info_hashes))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
