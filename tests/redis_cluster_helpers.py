"""Live instances of several tracker processes on one Redis, and WebSocket peers for them."""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import redis
from websockets.asyncio.client import connect

from tests.live import LiveInstance, free_port
from tracker.redis_layout import namespace, processes_key, pseudonyms, swarm_keys

SHARED_REDIS = "redis://127.0.0.1:6379/0"


class OwnRedis:
    """A redis-server of the test's own (the fault tests restart it; the shared one of
    services-up.sh is never restarted)."""

    def __init__(self, directory: Path, persist: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        save = ["--save", "3600 1"] if self.persist else ["--save", ""]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--appendonly", "no", *save],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                return
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


def secret_key(instance: LiveInstance) -> str:
    return (instance.data_dir / "secret_key").read_text().strip()


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def prefix_of(instance: LiveInstance) -> str:
    return namespace(secret_key(instance))


def web_peers(instance: LiveInstance, url: str, info_hash: bytes) -> dict[bytes, str]:
    """pseudonym -> the process holding its socket, as Redis has it (no peer_id)."""
    keys = swarm_keys(prefix_of(instance), info_hash)
    return {k: v[:12].decode() for k, v in redis_client(url).hgetall(keys[0]).items()}


def holders(instance: LiveInstance, url: str, info_hash: bytes, peer_ids) -> dict[bytes, str]:
    """peer_id -> the process holding its socket, for those of these web peers Redis has (under
    their pseudonyms, made with the instance's secret key)."""
    pseudonym = pseudonyms(secret_key(instance))
    named = {pseudonym(info_hash, peer_id): peer_id for peer_id in peer_ids}
    found = web_peers(instance, url, info_hash)
    return {named[k]: process for k, process in found.items() if k in named}


async def owners_of(
    instance: LiveInstance, url: str, info_hash: bytes, peer_ids, within: float = 3.0
) -> dict[bytes, str]:
    """The processes holding these peers, once Redis has them all (written every 50 ms)."""
    deadline = time.monotonic() + within
    while True:
        found = holders(instance, url, info_hash, peer_ids)
        if len(found) == len(set(peer_ids)) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def server_pids(instance: LiveInstance) -> list[int]:
    """The server processes `serve` started (each leads its own process group)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == instance.process.pid and b"instance.shared_port" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


def kill_server(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def announce(info_hash: bytes, peer_id: bytes, offers: int = 0, **fields) -> str:
    message = {
        "action": "announce",
        "event": "started",
        "info_hash": info_hash.decode("latin-1"),
        "peer_id": peer_id.decode("latin-1"),
        "left": 10,
        "numwant": offers,
        "offers": [
            {
                "offer": {"type": "offer", "sdp": f"sdp of {peer_id.decode()} {n}"},
                "offer_id": os.urandom(10).hex(),
            }
            for n in range(offers)
        ],
    }
    message.update(fields)
    return orjson.dumps(message).decode()


def scrape(info_hash: bytes) -> str:
    return orjson.dumps({"action": "scrape", "info_hash": info_hash.decode("latin-1")}).decode()


class Peer:
    """A WebSocket peer from its own loopback address, with its messages in a queue."""

    def __init__(self, url: str, number: int, peer_id: bytes) -> None:
        self.url = url
        self.address = f"127.0.{10 + number // 200}.{1 + number % 200}"
        self.peer_id = peer_id
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.socket = None
        self.reader: asyncio.Task | None = None
        self.closed = asyncio.Event()

    async def open(self) -> None:
        self.socket = await connect(self.url, local_addr=(self.address, 0), open_timeout=10)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.socket:
                await self.inbox.put(orjson.loads(frame))
        self.closed.set()

    async def send(self, text: str) -> None:
        await self.socket.send(text)

    async def next(self, timeout: float = 5.0, where=lambda message: True) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            message = await asyncio.wait_for(self.inbox.get(), max(0.01, left))
            if where(message):
                return message

    def drain(self) -> list[dict]:
        messages = []
        while not self.inbox.empty():
            messages.append(self.inbox.get_nowait())
        return messages

    async def close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close()
        if self.reader is not None:
            self.reader.cancel()


def wait_for_processes(instance: LiveInstance, url: str, count: int, within: float = 30) -> None:
    """Until `count` tracker processes beat in Redis (each listens before its first beat)."""
    deadline = time.monotonic() + within
    procs = processes_key(prefix_of(instance))
    while len(redis_client(url).zrangebyscore(procs, time.time() * 1000 - 2000, "+inf")) < count:
        assert time.monotonic() < deadline, f"fewer than {count} tracker processes came up"
        time.sleep(0.1)


def cluster(data_dir: Path, redis_url: str, workers: int = 2, **settings) -> LiveInstance:
    instance = LiveInstance(data_dir)
    instance.settings = {"PEERVEIL_REDIS_URL": redis_url, **settings}
    instance.manage("migrate", "--noinput")
    return instance
