"""The cost of sharing the tracker through Redis: one process in memory, one process on Redis,
two processes on Redis, on the same load (bench/loadgen.py, as tracker_bench.py drives it).

These machines have 2 cores, so this measures cost, not speed-up: the server processes and
redis-server (a Redis of the benchmark's own, nothing on disk) are pinned to core 0, the load
generator to core 1. Per mode: messages out per second, server CPU microseconds per announce
(every server process plus redis-server), Redis commands per announce (INFO's
total_commands_processed over the run, the join and both phases, divided by the announces
answered), and the largest output buffer Redis held for the processes' subscriptions (CLIENT
LIST sampled every second): messages relayed but not yet read by the receiving process, which a
closed loop can pile up; the messages per second counted in the phase leave them out.

    .venv/bin/python bench/redis_bench.py [--rounds 2] [--workloads ws-1k]

`make bench` runs it after tracker_bench.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from bench.loadgen import server_cpu_seconds as cpu_seconds  # noqa: E402
from bench.tracker_bench import (  # noqa: E402
    GENERATOR_CORE,
    PYTHON,
    SERVER_CORE,
    WORKLOADS,
    Peerveil,
    figures,
    free_port,
    info_hashes,
    raise_open_files_limit,
    run_one,
)
from tracker.redis_layout import namespace, processes_key  # noqa: E402


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CORE), "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.ConnectionError):
                self.client.ping()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def commands(self) -> tuple[int, int]:
        """(commands as INFO counts them, those run inside scripts included; requests the
        clients sent: script calls, publishes, pings and the like)."""
        stats = self.client.info("commandstats")
        total = sum(entry["calls"] for entry in stats.values())
        requests = sum(
            stats.get(f"cmdstat_{name}", {}).get("calls", 0)
            for name in ("evalsha", "publish", "ping", "script|load", "subscribe", "config|get")
        )
        return total, requests

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)


class SubscriberBacklog:
    """Samples, every second until stopped, the output buffer (omem) Redis holds for each
    connection subscribed to a channel, and keeps the largest. Subscribers are told by their
    subscription count: their last command may be the health check's PING."""

    def __init__(self, port: int) -> None:
        self.client = redis.Redis(port=port)
        self.largest = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while True:
            with contextlib.suppress(redis.RedisError):
                for connection in self.client.client_list():
                    if int(connection.get("sub", 0)) + int(connection.get("psub", 0)) > 0:
                        self.largest = max(self.largest, int(connection.get("omem", 0)))
            if self.stopped.wait(1.0):
                return

    def stop(self) -> int:
        """The largest omem seen, in bytes."""
        self.stopped.set()
        self.thread.join(5)
        self.client.close()
        return self.largest


class PeerveilOnRedis(Peerveil):
    """`serve --no-worker --workers N` with PEERVEIL_REDIS_URL."""

    def __init__(self, work: Path, hashes_file: Path, redis_server: OwnRedis, workers: int):
        super().__init__(work, hashes_file)
        self.redis = redis_server
        self.workers = workers
        self.name = f"peerveil, {workers} process{'es' if workers > 1 else ''} on Redis"
        self.pids: list[int] = []

    def env(self, port: int) -> dict[str, str]:
        env = super().env(port)
        env["PEERVEIL_REDIS_URL"] = self.redis.url
        return env

    def command(self, port: int) -> list[str]:
        return [str(PYTHON), "manage.py", "serve", "--no-worker", "--workers", str(self.workers)]

    def measured_pid(self) -> int:
        parent = self.process.pid
        deadline = time.monotonic() + 60
        procs = processes_key(namespace((self.data_dir / "secret_key").read_text().strip()))
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
                self.pids = [
                    int(child)
                    for child in children
                    if b"uvicorn" in Path(f"/proc/{child}/cmdline").read_bytes()
                    or b"instance.shared_port" in Path(f"/proc/{child}/cmdline").read_bytes()
                ]
            # Each process listens before it beats: all of them take connections.
            alive = self.redis.client.zrangebyscore(procs, time.time() * 1000 - 2000, "+inf")
            if len(self.pids) == self.workers and len(alive) == self.workers:
                return self.pids[0]
            time.sleep(0.1)
        raise RuntimeError(f"serve did not start {self.workers} tracker processes")

    def extra_pids(self) -> list[int]:
        return [*self.pids[1:], self.redis.process.pid]

    def before_load(self) -> object:
        backlog = SubscriberBacklog(self.redis.port)
        return self.redis.commands(), cpu_seconds(self.redis.process.pid), backlog

    def after_load(self, before: object) -> dict:
        (total_before, requests_before), cpu_before, backlog = before
        total, requests = self.redis.commands()
        return {
            "redis_commands": total - total_before,
            "redis_requests": requests - requests_before,
            "redis_cpu_seconds": cpu_seconds(self.redis.process.pid) - cpu_before,
            "subscriber_omem_bytes": backlog.stop(),
        }


def announces_answered(result: dict) -> int:
    return sum(result[phase]["replies"] for phase in ("join", "saturate", "rate"))


ROWS = [
    ("msgs_out", "messages out/s, saturated", "{:,.0f}"),
    ("announces", "announces/s, saturated", "{:,.0f}"),
    ("cpu_sat", "server CPU us/announce, sat. (servers + redis-server)", "{:,.0f}"),
    ("cpu_rate", "server CPU us/announce at fixed rate", "{:,.0f}"),
    ("p99", "p99 latency at fixed rate (ms)", "{:.2f}"),
    ("redis_cpu", "redis-server CPU us/announce (whole run)", "{:.1f}"),
    ("requests_per_announce", "Redis requests per announce (EVALSHA, PUBLISH...)", "{:.2f}"),
    ("redis_per_announce", "Redis commands per announce (those in scripts too)", "{:.2f}"),
    ("backlog_kb", "relayed, not yet read: largest subscriber omem (KB)", "{:,.0f}"),
    ("noise_server_core", "other load on the server core", "{:.0%}"),
    ("failures", "failure replies", "{:,.0f}"),
    ("lost", "connections lost", "{:,.0f}"),
]


def best(values: list[dict], key: str) -> float:
    """The best of the rounds; the relay's backlog at its largest, since it is a warning."""
    lower = key in (
        "cpu_sat", "cpu_rate", "p99", "redis_per_announce", "requests_per_announce", "redis_cpu",
        "noise_server_core",
    )  # fmt: skip
    numbers = [v[key] for v in values]
    return min(numbers) if lower else max(numbers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["ws-1k"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--saturate-seconds", type=float, default=8.0)
    parser.add_argument("--rate-seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--answer-share", type=float, default=0.5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.profile = False
    missing = [tool for tool in ("redis-server", "taskset") if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"redis_bench.py needs {' and '.join(missing)}")
    started = time.monotonic()
    selected = [WORKLOADS[key] for key in args.workloads]
    raise_open_files_limit(max(w.clients for w in selected) + 1024)
    os.sched_setaffinity(0, {GENERATOR_CORE})
    work = Path(tempfile.mkdtemp(prefix="peerveil-redis-bench-"))
    own_redis = OwnRedis()
    raw = []
    try:
        hashes_file = work / "infohashes.txt"
        hashes_file.write_text("\n".join(info_hashes(max(w.swarms for w in selected))))
        memory = Peerveil(work, hashes_file)
        memory.name = "peerveil, 1 process in memory"
        memory.prepare()
        modes = [
            memory,
            PeerveilOnRedis(work, hashes_file, own_redis, 1),
            PeerveilOnRedis(work, hashes_file, own_redis, 2),
        ]
        run_number = 0
        for workload in selected:
            results: dict[str, list[dict]] = {mode.name: [] for mode in modes}
            for round_number in range(args.rounds):
                for mode in modes if round_number % 2 == 0 else modes[::-1]:
                    run_number += 1
                    own_redis.client.flushall()
                    print(f"{workload.key}, round {round_number + 1}: {mode.name}", flush=True)
                    result = run_one(
                        mode,
                        workload,
                        args,
                        hashes_file,
                        f"r{run_number}",
                        f"127.{40 + run_number}",
                    )
                    raw.append({**result, "mode": mode.name})
                    row = figures(result)
                    answered = max(1, announces_answered(result))
                    row["redis_per_announce"] = result.get("redis_commands", 0) / answered
                    row["requests_per_announce"] = result.get("redis_requests", 0) / answered
                    row["redis_cpu"] = 1e6 * result.get("redis_cpu_seconds", 0) / answered
                    row["backlog_kb"] = result.get("subscriber_omem_bytes", 0) / 1024
                    results[mode.name].append(row)
            print(f"\n| {workload.title} | " + " | ".join(m.name for m in modes) + " |")
            print("|---|" + "---:|" * len(modes))
            for key, label, form in ROWS:
                cells = [form.format(best(results[m.name], key)) for m in modes]
                print(f"| {label} | " + " | ".join(cells) + " |")
            memory_cpu = best(results[modes[0].name], "cpu_sat")
            one, two = (best(results[m.name], "cpu_sat") for m in modes[1:])
            one_out, two_out = (best(results[m.name], "msgs_out") for m in modes[1:])
            print(
                f"\nRedis mode CPU/announce vs in memory: {one / memory_cpu:.2f}x (target <= 1.5x);"
                " "
                f"2 processes vs 1 on one core: msgs/s {two_out / one_out - 1:+.0%}, "
                f"CPU/announce {two / one:.2f}x (target: lose at most 15%)\n",
                flush=True,
            )
        print(f"total time: {time.monotonic() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(raw, indent=1))
    finally:
        own_redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
