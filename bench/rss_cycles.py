"""Does the served tracker give back the memory of closed sockets? RSS of the uvicorn process
that `manage.py serve --no-worker` starts, across cycles of many sockets opened and closed.

    .venv/bin/python bench/rss_cycles.py [--sockets 2000] [--cycles 4]

Each cycle opens SOCKETS WebSocket connections, each from its own 127.1.x.y source address
(the guard allows 16 sockets per address, and its per-address state is part of what is
measured), each announcing `started` in one swarm with two offers; then closes them all and
waits for a sweep (tracker.service.SWEEP_SECONDS: silent peers, stale offers and idle sources
are forgotten) and two seconds more before reading VmRSS. One cycle runs first as a
warm-up and the "start" figure is read after it: the memory its sockets used stays with the
process once freed (pymalloc keeps an arena until all of it is free, glibc keeps its heap
untrimmed) and later cycles reuse it.
The same addresses are used in every cycle, so the guard holds the same number of sources at
each reading (it forgets one a window after its last request).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import websockets

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.tracker_bench import raise_open_files_limit  # noqa: E402
from tests.live import LiveInstance  # noqa: E402

LABEL = "rss cycles"
# The infohash tests.tracker_helpers.add_video gives the video of LABEL (that module needs
# Django set up, which this process does not).
INFO_HASH = hashlib.sha1(LABEL.encode()).digest().decode("latin-1")
# Connections being opened at once: the server's accept queue and the client's loop keep up.
OPENING_AT_ONCE = 200


def source_address(number: int) -> str:
    return f"127.1.{number // 250}.{number % 250 + 1}"


def server_pid(live: LiveInstance) -> int:
    """The uvicorn process, the one child of `manage.py serve --no-worker`."""
    children = subprocess.run(
        ["ps", "--ppid", str(live.process.pid), "-o", "pid="],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(children) == 1, f"serve has children {children}"
    return int(children[0])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def announce(number: int) -> str:
    peer_id = f"-WW0208-{number:012d}"
    sdp = "v=0\r\n" + "a=x\r\n" * 40
    offers = [
        {"offer": {"type": "offer", "sdp": sdp}, "offer_id": os.urandom(10).hex()} for _ in range(2)
    ]
    return orjson.dumps({
        "action": "announce", "info_hash": INFO_HASH, "peer_id": peer_id, "event": "started",
        "numwant": 5, "left": 10, "uploaded": 0, "downloaded": 0, "offers": offers,
    }).decode()  # fmt: skip


async def _open(url: str, number: int, gate: asyncio.Semaphore):
    async with gate:
        socket = await websockets.connect(
            url, local_addr=(source_address(number), 0), max_queue=None, open_timeout=30,
            compression=None, proxy=None, ping_interval=None,
        )  # fmt: skip
        await socket.send(announce(number))
        # The announce's own reply: the tracker has taken the peer into the swarm.
        while "interval" not in orjson.loads(await socket.recv()):
            pass
        return socket


async def _cycle(url: str, sockets: int) -> None:
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    opened = await asyncio.gather(*(_open(url, n, gate) for n in range(sockets)))
    await asyncio.gather(*(socket.close() for socket in opened))


def run_cycle(live: LiveInstance, sockets: int) -> float:
    """Open the sockets, then close them all; returns how long that took."""
    started = time.monotonic()
    asyncio.run(_cycle(live.ws_tracker, sockets))
    return time.monotonic() - started


def wait_for_sweep(sweep_seconds: float) -> None:
    """Until a sweep has run since the sockets closed, whenever the sweeper (started with the
    server) sweeps, and two seconds more."""
    time.sleep(sweep_seconds + 2.0)


def start_instance(data_dir: Path, sockets: int) -> LiveInstance:
    """The server, ready for cycles of `sockets`: the client's and the server's ends (the
    server inherits this process's limit) each need a descriptor per socket."""
    raise_open_files_limit(sockets + 1024)
    live = LiveInstance(data_dir)
    live.manage("migrate", "--noinput")
    live.manage("shell", "-c", f"from tests.tracker_helpers import add_video\nadd_video({LABEL!r})")
    live.start("--no-worker")
    return live


def measure(live: LiveInstance, sockets: int, cycles: int, sweep_seconds: float) -> list[float]:
    """RSS (MB) before any socket, after the warm-up cycle, then after each cycle."""
    pid = server_pid(live)
    readings = [rss_mb(pid)]
    for _ in range(cycles + 1):
        took = run_cycle(live, sockets)
        wait_for_sweep(sweep_seconds)
        readings.append(rss_mb(pid))
        print(f"cycle of {sockets} sockets in {took:.1f} s: RSS {readings[-1]:.1f} MB", flush=True)
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rss-cycles-") as data_dir:
        # tracker.service needs Django set up (for its one constant this script reads).
        os.environ.update(DJANGO_SETTINGS_MODULE="instance.settings", PEERVEIL_DATA_DIR=data_dir)
        import django

        django.setup()
        from tracker.service import SWEEP_SECONDS

        live = start_instance(Path(data_dir), args.sockets)
        try:
            readings = measure(live, args.sockets, args.cycles, SWEEP_SECONDS)
        finally:
            live.stop()
    idle, start, *after = readings
    print(f"idle {idle:.1f} MB, start (after warm-up) {start:.1f} MB")
    for number, value in enumerate(after, 1):
        print(f"after cycle {number}: {value:.1f} MB ({100 * (value / start - 1):+.1f}%)")


if __name__ == "__main__":
    main()
