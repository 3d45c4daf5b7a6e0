"""Benchmark peerveil's tracker against the tracker PeerTube runs, on the same load, in one run.

    .venv/bin/python bench/tracker_bench.py            # full run, about 8 minutes
    .venv/bin/python bench/tracker_bench.py --quick    # smoke run, about 1 minute

For each workload, each server in turn (a fresh process each time) is started on core 0 and
driven by bench/loadgen.py on core 1:

  peerveil   `manage.py migrate`, then `manage.py serve --no-worker` as the README tells admins,
             on a throw-away PEERVEIL_DATA_DIR whose catalogue holds the benchmark's infohashes
             (bench/catalogue.py); measured: the uvicorn process that serve starts
  reference  @peertube/bittorrent-tracker-server 11.1.2 wired as PeerTube wires it
             (bench/reference_tracker.mjs), its filter allowing the same infohashes

Prints one table per workload with each figure's ratio against the reference and the issue's
targets. With --rounds N the servers alternate N times and each figure is the best of the N
(noise from other load on the machine only ever makes a figure worse).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = ROOT / ".venv" / "bin" / "python"
REFERENCE_PACKAGE = ROOT / "node_modules" / "@peertube" / "bittorrent-tracker-server"
SERVER_CORE, GENERATOR_CORE = 0, 1
HOST = "127.0.0.1"
DEFAULT_APP = "instance.asgi:application"


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    kind: str  # ws | http
    clients: int  # WebSocket peers (one socket each) or HTTP peers
    swarms: int


WORKLOADS = {
    "ws-1k": Workload("ws-1k", "WebSocket, 1,000 sockets over 100 swarms", "ws", 1000, 100),
    "ws-10k": Workload("ws-10k", "WebSocket, 10,000 sockets over 1,000 swarms", "ws", 10000, 1000),
    "http": Workload(
        "http", "HTTP compact announce, 10,000 peers over 1,000 swarms", "http", 10000, 1000
    ),
}
QUICK_WORKLOADS = {
    "ws-1k": WORKLOADS["ws-1k"],
    "http": Workload(
        "http", "HTTP compact announce, 2,000 peers over 200 swarms", "http", 2000, 200
    ),
}


def info_hashes(count: int) -> list[str]:
    return [hashlib.sha1(f"peerveil-bench-{n}".encode()).hexdigest() for n in range(count)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def pinned(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") else []


class Server:
    name = ""
    path_ws = "/tracker/socket"
    path_http = "/tracker/announce"

    def __init__(self, work: Path, hashes_file: Path) -> None:
        self.work = work
        self.hashes_file = hashes_file
        self.process: subprocess.Popen | None = None
        self.log = None

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def env(self, port: int) -> dict[str, str]:
        return dict(os.environ)

    def measured_pid(self) -> int:
        return self.process.pid

    def extra_pids(self) -> list[int]:
        """Other processes whose CPU counts as the server's (bench/redis_bench.py)."""
        return []

    def before_load(self) -> object:
        return None

    def after_load(self, before: object) -> dict:
        """Figures of the server's own to add to the load generator's result."""
        return {}

    def start(self, port: int, label: str) -> int:
        safe_name = re.sub(r"[^\w.=,-]+", "_", self.name)
        self.log = open(self.work / f"{safe_name}-{label}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            pinned(SERVER_CORE) + self.command(port),
            cwd=ROOT,
            env=self.env(port),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(port, self.process, timeout=60)
        return self.measured_pid()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        self.log.close()


class Peerveil(Server):
    name = "peerveil"

    def __init__(self, work: Path, hashes_file: Path, exempt: bool = False) -> None:
        super().__init__(work, hashes_file)
        self.data_dir = work / "data"
        self.exempt = exempt
        if exempt:
            self.name += "[exempt]"

    def env(self, port: int) -> dict[str, str]:
        # The embedded defaults, as an admin gets them: no PEERVEIL_* of the caller leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PEERVEIL_")}
        env.update(PEERVEIL_DATA_DIR=str(self.data_dir), PEERVEIL_PORT=str(port))
        env.update(PEERVEIL_HOST=HOST)
        if self.exempt:
            # The guard lets exempt sources straight through: its cost drops out.
            env["PEERVEIL_TRACKER_EXEMPT_NETWORKS"] = "127.0.0.0/8"
        return env

    def prepare(self) -> None:
        """migrate (as the README says), then a catalogue holding the benchmark's infohashes."""
        env = self.env(0)
        manage = [str(PYTHON), "manage.py"]
        for command in (
            manage + ["migrate", "--noinput"],
            manage
            + [
                "shell",
                "-c",
                f"from bench.catalogue import seed; seed({str(self.hashes_file)!r})",
            ],
        ):
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command[1:3])} failed:\n{done.stderr[-3000:]}")
        print("  " + done.stdout.strip().splitlines()[-1], flush=True)

    def command(self, port: int) -> list[str]:
        return [str(PYTHON), "manage.py", "serve", "--no-worker"]

    def measured_pid(self) -> int:
        """`serve` runs uvicorn as a child: that child is the server measured."""
        parent = self.process.pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
                for child in children:
                    cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                    if b"uvicorn" in cmdline:
                        return int(child)
            time.sleep(0.1)
        raise RuntimeError("serve started no uvicorn process")


class PeerveilUvicorn(Peerveil):
    """peerveil's uvicorn with the very arguments `serve` gives it, started directly so that
    the ASGI app can be swapped for a prototype (--app)."""

    def __init__(
        self,
        work: Path,
        hashes_file: Path,
        app: str,
        exempt: bool = False,
        extra: tuple[str, ...] = (),
    ) -> None:
        super().__init__(work, hashes_file, exempt)
        self.app = app
        self.extra = list(extra)
        if app != DEFAULT_APP:
            self.name += f"[{app.split(':')[0].rsplit('.', 1)[-1]}]"
        if extra:
            self.name += f"[{' '.join(extra)}]"

    def uvicorn_arguments(self, port: int) -> list[str]:
        code = (
            "import json; from django.conf import settings; "
            "from instance.management.commands.serve import server_command; "
            "print(json.dumps(server_command(settings.HOST, settings.PORT)))"
        )
        done = subprocess.run(
            [str(PYTHON), "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env(port),
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        command = json.loads(done.stdout.strip().splitlines()[-1])
        # [python, -m, uvicorn, APP, ARGS...]
        if command[1:4] != ["-m", "uvicorn", DEFAULT_APP]:
            raise RuntimeError(f"serve's command changed shape: {command[:4]}")
        return [self.app, *command[4:], *self.extra]

    def command(self, port: int) -> list[str]:
        return [str(PYTHON), "-m", "uvicorn", *self.uvicorn_arguments(port)]

    def measured_pid(self) -> int:
        return self.process.pid


class PeerveilGcProbe(PeerveilUvicorn):
    """The same uvicorn under bench/gc_probe.py."""

    def __init__(
        self,
        work: Path,
        hashes_file: Path,
        mode: str,
        app: str,
        exempt: bool = False,
        extra: tuple[str, ...] = (),
    ) -> None:
        super().__init__(work, hashes_file, app, exempt, extra)
        self.mode = mode
        self.name += f"[gc {mode}]"
        self.options: list[str] = []
        for part in mode.split(","):
            if part in ("freeze", "disable", "census", "garbage", "tracemalloc"):
                self.options.append(f"--{part}")
            elif part.startswith("threshold="):
                self.options += ["--threshold", part.split("=", 1)[1]]
            elif part != "measure":
                raise SystemExit(f"--gc-probe: unknown part {part!r}")
        self.summaries: list[dict] = []
        self.summary_file: Path | None = None

    def command(self, port: int) -> list[str]:
        arguments = self.uvicorn_arguments(port)
        return [str(PYTHON), str(BENCH / "gc_probe.py"), *self.options, "--", *arguments]

    def env(self, port: int) -> dict[str, str]:
        env = super().env(port)
        self.summary_file = self.work / f"gc-{port}.json"
        env["PEERVEIL_GC_PROBE_OUT"] = str(self.summary_file)
        return env

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(OSError, ValueError):
            self.summaries.append(json.loads(self.summary_file.read_text()))


class Reference(Server):
    name = "reference"

    def command(self, port: int) -> list[str]:
        return [
            "node",
            str(BENCH / "reference_tracker.mjs"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--hashes",
            str(self.hashes_file),
        ]


# --- one measurement ------------------------------------------------------------------------


def run_one(
    server: Server,
    workload: Workload,
    args,
    hashes_file: Path,
    label: str,
    source_net: str,
    profile_out: Path | None = None,
) -> dict:
    port = free_port()
    pid = server.start(port, label)
    try:
        command = [
            str(PYTHON),
            str(BENCH / "loadgen.py"),
            "--kind",
            workload.kind,
            "--host",
            HOST,
            "--port",
            str(port),
            "--path",
            server.path_ws if workload.kind == "ws" else server.path_http,
            "--source-net",
            source_net,
            "--hashes",
            str(hashes_file),
            "--server-pid",
            str(pid),
            "--sockets",
            str(workload.clients),
            "--swarms",
            str(workload.swarms),
            "--saturate-seconds",
            str(args.saturate_seconds),
            "--rate",
            str(args.rate),
            "--rate-seconds",
            str(args.rate_seconds),
            "--answer-share",
            str(args.answer_share),
        ]
        if profile_out is not None:
            command += ["--profile-out", str(profile_out), "--py-spy", args.py_spy]
        extra_pids = server.extra_pids()
        if extra_pids:
            command += ["--extra-pids", ",".join(map(str, extra_pids))]
        before = server.before_load()
        timeout = 180 + args.saturate_seconds + args.rate_seconds
        done = subprocess.run(
            pinned(GENERATOR_CORE) + command, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result.update(server.after_load(before))
    finally:
        server.stop()
    result["server"] = server.name
    return result


# --- figures and tables -----------------------------------------------------------------------


def figures(result: dict) -> dict:
    sat, rate = result["saturate"], result["rate"]
    cores = sat["core_busy_seconds"]
    seconds = sat["seconds"]
    return {
        "msgs_out": sat["received"] / seconds,
        "msgs_in": (sat["sent_announces"] + sat["sent_answers"]) / seconds,
        "msgs_per_cpu": sat["received"] / max(1e-9, sat["server_cpu_seconds"]),
        "announces": sat["replies"] / seconds,
        "cpu_sat": 1e6 * sat["server_cpu_seconds"] / max(1, sat["replies"]),
        "cpu_rate": 1e6 * rate["server_cpu_seconds"] / max(1, rate["replies"]),
        "p50": rate["latencies"]["p50_ms"],
        "p99": rate["latencies"]["p99_ms"],
        "rate_achieved": rate["replies"] / rate["seconds"],
        "rss": result["rss_per_client_bytes"] / 1024,
        "server_busy": sat["server_cpu_seconds"] / seconds,
        "generator_busy": sat["generator_cpu_seconds"] / seconds,
        "noise_server_core": max(
            0.0, (cores.get(str(SERVER_CORE), 0) - sat["server_cpu_seconds"]) / seconds
        ),
        "noise_generator_core": max(
            0.0, (cores.get(str(GENERATOR_CORE), 0) - sat["generator_cpu_seconds"]) / seconds
        ),
        "failures": sat["failures"] + rate["failures"] + result["join"]["failures"],
        "lost": result["lost_connections"],
    }


# key, label, format, which is better, where the row is shown, target (kind, bound, where)
ROWS = [
    ("msgs_out", "messages out/s, saturated", "{:,.0f}", "high", "ws", ("ratio>=", 0.6, "ws-1k")),
    ("msgs_per_cpu", "messages out per server CPU second", "{:,.0f}", "high", "ws", None),
    ("msgs_in", "messages in/s, saturated", "{:,.0f}", "high", "ws", None),
    ("announces", "announces/s, saturated", "{:,.0f}", "high", "all", ("ratio>=", 0.8, "http")),
    ("cpu_sat", "server CPU us/announce, sat.", "{:,.0f}", "low", "all", ("ratio<=", 1.7, "ws")),
    ("cpu_rate", "server CPU us/announce at fixed rate", "{:,.0f}", "low", "all", None),
    ("p50", "p50 latency at fixed rate (ms)", "{:.2f}", "low", "all", None),
    ("p99", "p99 latency at fixed rate (ms)", "{:.2f}", "low", "all", ("abs<", 5.0, "ws")),
    ("rate_achieved", "fixed rate achieved (announces/s)", "{:,.0f}", "high", "all", None),
    ("rss", "RSS per open socket (KB)", "{:.1f}", "low", "all", ("ratio<=", 3.0, "ws")),
    ("server_busy", "server core busy at saturation", "{:.0%}", "high", "all", None),
    ("generator_busy", "generator core busy at saturation", "{:.0%}", "low", "all", None),
    ("noise_server_core", "other load on the server core", "{:.0%}", "low", "all", None),
    ("noise_generator_core", "other load on the generator core", "{:.0%}", "low", "all", None),
    ("failures", "failure replies", "{:,.0f}", "low", "all", None),
    ("lost", "connections lost", "{:,.0f}", "low", "all", None),
]  # fmt: skip


def applies(scope: str, workload: Workload) -> bool:
    return scope == "all" or scope == workload.kind or scope == workload.key


def best(rounds: list[dict], key: str, better: str) -> float | None:
    values = [r[key] for r in rounds if r.get(key) is not None]
    if not values:
        return None
    return max(values) if better == "high" else min(values)


def table(workload: Workload, name: str, ours: list[dict], reference: list[dict]) -> tuple:
    """The table as text, and the list of (target label, met) of its targets."""
    lines = [
        f"| {workload.title} | {name} | reference | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    verdicts = []
    for key, label, fmt, better, scope, target in ROWS:
        if not applies(scope, workload):
            continue
        if key == "rss" and workload.kind == "http":
            label = "RSS per HTTP peer (KB)"
        mine, theirs = best(ours, key, better), best(reference, key, better)
        show = [fmt.format(v) if v is not None else "-" for v in (mine, theirs)]
        ratio = mine / theirs if mine is not None and theirs else None
        ratio_text = f"{ratio:.2f}" if ratio is not None and "%" not in fmt else ""
        target_text = ""
        if target is not None and applies(target[2], workload) and mine is not None:
            kind, bound, _ = target
            if kind != "abs<" and ratio is None:
                met = None
                target_text = "(no reference)"
            elif kind == "ratio>=":
                met = ratio is not None and ratio >= bound
                target_text = f"ratio >= {bound}"
            elif kind == "ratio<=":
                met = ratio is not None and ratio <= bound
                target_text = f"ratio <= {bound}"
            else:
                met = mine is not None and mine < bound
                target_text = f"< {bound} ms"
            if met is not None:
                target_text += " met" if met else " MISSED"
                verdicts.append((f"{workload.key} {label}", met))
        lines.append(f"| {label} | {show[0]} | {show[1]} | {ratio_text} | {target_text} |")
    return "\n".join(lines), verdicts


def describe(args, sdp_bytes: float) -> str:
    websocket = (
        f"Each WebSocket announce: 5 offers of {sdp_bytes:.0f} B SDP, numwant 5; "
        f"{args.answer_share:.0%} of received offers answered. "
        if sdp_bytes
        else ""
    )
    return websocket + (
        "Saturation: "
        f"{args.saturate_seconds:g} s closed loop (256 announces in flight; HTTP: 32 "
        f"keep-alive connections). Fixed rate: {args.rate:g} announces/s for "
        f"{args.rate_seconds:g} s. Server on core {SERVER_CORE}, generator on core "
        f"{GENERATOR_CORE}; best of {args.rounds} round(s). Ratios: peerveil / reference; "
        "per CPU second: messages out / server CPU time, the saturation figure net of other "
        "load on the server core."
    )


def profile_summary(raw_file: Path, top: int = 15) -> str:
    """Self and inclusive shares of the frames in py-spy's raw (collapsed) output."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    with contextlib.suppress(OSError):
        for line in raw_file.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            frames = stack.split(";")
            total += int(count)
            own[frames[-1]] = own.get(frames[-1], 0) + int(count)
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + int(count)
    if not total:
        return "  (no samples: is py-spy allowed to attach? it needs ptrace)"

    def listing(counts: dict[str, int], keep) -> list[str]:
        ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
        return [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in ranked if keep(frame)][:top]

    def app_frame(frame: str) -> bool:
        return any(part in frame for part in ("tracker/", "uvicorn/", "websockets/", "django/"))

    return "\n".join(
        [f"  {total} samples of the thread holding the GIL; self time:"]
        + listing(own, lambda frame: True)
        + ["  inclusive time, tracker / uvicorn / websockets / django frames:"]
        + listing(inclusive, app_frame)
    )


def diagnosis(result: dict) -> str:
    """GC and policy-reload figures of a gc-probe run, and what each burst of slow replies
    (>= 10 ms) in its fixed-rate phase coincided with."""
    gc_summary = result["gc"]
    lines = [f"  GC threshold {gc_summary['threshold']}, {gc_summary['frozen']:,} objects frozen"]
    for generation, figures_ in gc_summary["generations"].items():
        lines.append(
            f"  gen{generation}: {figures_['collections']:,} collections, "
            f"{figures_['total_seconds']:.2f} s in all, longest {figures_['max_ms']:.1f} ms"
        )
    lines.append(
        f"  policy reloads: {gc_summary['policy_calls']:,} calls, "
        f"{gc_summary['policy_seconds']:.2f} s in all, longest {gc_summary['policy_max_ms']:.1f} ms"
    )
    for at, referents, sized in gc_summary.get("young", []):
        lines.append(f"  young objects at {at:.0f}: {referents:,} referents; largest {sized}")
    if gc_summary.get("heap"):
        lines.append(f"  traced heap at its largest: {gc_summary['heap_bytes'] / 1e6:.1f} MB")
        for where, size, count in gc_summary["heap"]:
            lines.append(f"    {size / 1e6:7.2f} MB {count:9,} blocks  {where}")
    if "garbage" in gc_summary and "--garbage" in gc_summary.get("options", []):
        found = gc_summary["garbage"] or "none (collections free nothing: their cost is traversal)"
        lines.append(f"  cyclic garbage by type: {found}")
    for census in gc_summary.get("census", []):
        lines.append(
            f"  tracked objects (gen0, gen1, gen2) at {census['at']:.0f}: {census['tracked']}"
        )
    bursts = result["rate"]["latencies"]["slow_bursts"]
    lines.append(f"  fixed-rate phase: {len(bursts)} bursts of replies slower than 10 ms")
    for burst in sorted(bursts, key=lambda b: b["max_ms"], reverse=True)[:8]:
        start, end = burst["at"] - 1.0, burst["last"] + 0.05
        pauses = [p for p in gc_summary["pauses_over_5ms"] if start <= p["at"] <= end]
        policy = [p for p in gc_summary["policy"] if start <= p["at"] <= end]
        pings = sum(n for tick, n in result.get("ping_ticks", []) if start <= tick <= end)
        causes = [f"gen{p['generation']} GC {p['ms']:.0f} ms" for p in pauses]
        if pings:
            causes.append(f"{pings:,} keepalive pings")
        if policy:
            causes.append(
                f"{len(policy)} policy reloads (longest {max(p['ms'] for p in policy):.0f} ms)"
            )
        lines.append(
            f"    {burst['count']:4} replies, worst {burst['max_ms']:6.1f} ms: "
            + (", ".join(causes) or "no GC pause, policy reload or ping in the second before")
        )
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < wanted:
        print(f"warning: open files limited to {soft} (the largest workload needs {wanted})")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, about a minute")
    parser.add_argument("--workloads", nargs="+", help="among: " + ", ".join(WORKLOADS))
    parser.add_argument("--rounds", type=int, help="alternations of the two servers")
    parser.add_argument("--saturate-seconds", type=float)
    parser.add_argument("--rate-seconds", type=float)
    parser.add_argument("--rate", type=float, default=1000.0, help="announces/s, fixed rate")
    parser.add_argument("--answer-share", type=float, default=0.5)
    parser.add_argument("--json", type=Path, help="also write every raw result here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    parser.add_argument("--work-dir", type=Path, help="use (and keep) this work dir")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each workload, one more peerveil run under py-spy (saturation phase)",
    )
    parser.add_argument("--profile-only", action="store_true", help="only the py-spy runs")
    parser.add_argument(
        "--skip-reference", action="store_true", help="peerveil alone (for experiments)"
    )
    parser.add_argument(
        "--app",
        default=DEFAULT_APP,
        help="run peerveil's uvicorn directly with serve's arguments and this ASGI app "
        "(an experiment's variant of instance.asgi:application)",
    )
    parser.add_argument(
        "--uvicorn-args",
        default="",
        help="appended to serve's uvicorn arguments (uvicorn run directly), "
        'e.g. "--ws-ping-interval 0"',
    )
    parser.add_argument(
        "--exempt",
        action="store_true",
        help="exempt the generator's addresses from peerveil's guard (its cost drops out)",
    )
    parser.add_argument(
        "--gc-probe",
        metavar="MODE",
        help="run peerveil's uvicorn under bench/gc_probe.py instead of `serve`: "
        "measure, or a comma-separated list of freeze, threshold=N[/M/K], disable, census",
    )
    args = parser.parse_args(argv)
    defaults = (1, 3.0, 3.0) if args.quick else (2, 8.0, 8.0)
    args.rounds = args.rounds or defaults[0]
    args.saturate_seconds = args.saturate_seconds or defaults[1]
    args.rate_seconds = args.rate_seconds or defaults[2]
    catalogue = QUICK_WORKLOADS if args.quick else WORKLOADS
    names = args.workloads or list(catalogue)
    unknown = [name for name in names if name not in catalogue]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose among {list(catalogue)}")
    args.selected = [catalogue[name] for name in names]
    args.profile = args.profile or args.profile_only
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not PYTHON.exists():
        raise SystemExit(f"{PYTHON} is missing: run `make setup` first")
    if not REFERENCE_PACKAGE.exists():
        raise SystemExit("the reference tracker is missing: run `make setup` (npm ci)")
    if not shutil.which("node"):
        raise SystemExit("node is needed for the reference tracker")
    if args.profile:
        args.py_spy = shutil.which("py-spy") or str(PYTHON.parent / "py-spy")
        if not Path(args.py_spy).exists():
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    if (os.cpu_count() or 1) < 2:
        print("warning: one core only: server and generator share it, ratios still hold")
    raise_open_files_limit(max(w.clients for w in args.selected) + 1024)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {GENERATOR_CORE})

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="peerveil-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    raw: list[dict] = []
    verdicts: list[tuple[str, bool]] = []

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:5.0f} s] {text}", flush=True)

    try:
        hashes_file = work / "infohashes.txt"
        hashes_file.write_text("\n".join(info_hashes(max(w.swarms for w in args.selected))))
        extra = tuple(args.uvicorn_args.split())
        if args.gc_probe:
            ours: Peerveil = PeerveilGcProbe(
                work, hashes_file, args.gc_probe, args.app, args.exempt, extra
            )
        elif args.app != DEFAULT_APP or extra:
            ours = PeerveilUvicorn(work, hashes_file, args.app, args.exempt, extra)
        else:
            ours = Peerveil(work, hashes_file, args.exempt)
        reference = Reference(work, hashes_file)
        log(f"preparing the peerveil instance in {work} (migrate, catalogue)")
        ours.prepare()
        run_number = 0
        outputs = []
        for workload in args.selected:
            results: dict[str, list[dict]] = {"ours": [], "reference": []}
            servers = [] if args.profile_only else [("ours", ours), ("reference", reference)]
            if args.skip_reference:
                servers = servers[:1]
            for round_number in range(args.rounds if servers else 0):
                order = servers if round_number % 2 == 0 else servers[::-1]
                for role, server in order:
                    run_number += 1
                    # Fresh loopback client addresses (127.N.x.y) per run: the sockets closed
                    # by the previous run sit in TIME_WAIT on the previous addresses' ports.
                    source_net = f"127.{10 + run_number}"
                    label = f"{workload.key}-{round_number + 1}"
                    log(f"{label}: {server.name}")
                    result = run_one(server, workload, args, hashes_file, label, source_net)
                    result.update(workload=workload.key, round=round_number + 1, role=role)
                    if isinstance(server, PeerveilGcProbe) and server.summaries:
                        result["gc"] = server.summaries.pop()
                        print(diagnosis(result), flush=True)
                    raw.append(result)
                    results[role].append(figures(result))
            if servers:
                text, found = table(workload, ours.name, results["ours"], results["reference"])
                verdicts += found
                outputs.append(text)
                print("\n" + text + "\n", flush=True)
            if args.profile:
                run_number += 1
                profile_out = work / f"profile-{workload.key}.txt"
                log(f"{workload.key}: {ours.name} under py-spy (not counted in the tables)")
                run_one(
                    ours,
                    workload,
                    args,
                    hashes_file,
                    f"{workload.key}-profile",
                    f"127.{10 + run_number}",
                    profile_out,
                )
                summary = profile_summary(profile_out)
                (work / f"profile-{workload.key}.summary.txt").write_text(summary)
                print(f"\npy-spy, {ours.name}, {workload.title}, saturation phase:")
                print(summary, flush=True)
            if isinstance(ours, PeerveilGcProbe):
                ours.summaries.clear()
        if outputs:
            sdp = next((r["sdp_bytes"] for r in raw if "sdp_bytes" in r), 0.0)
            print("\n## Tracker benchmark\n")
            print(describe(args, sdp) + "\n")
            print("\n\n".join(outputs))
            print()
            missed = [label for label, met in verdicts if not met]
            print(
                f"targets: {len(verdicts) - len(missed)} of {len(verdicts)} met"
                + (" (missed: " + "; ".join(missed) + ")" if missed else "")
            )
        print(f"total time: {time.monotonic() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(raw, indent=1))
    finally:
        if args.keep or args.work_dir:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
