"""Run uvicorn exactly as `manage.py serve` does, with the cyclic GC measured (and optionally
tuned), to weigh a garbage-collector change to the server before anyone makes it.

    PEERVEIL_GC_PROBE_OUT=/tmp/gc.json python bench/gc_probe.py [--freeze] [--threshold N[/M/K]]
        -- <the uvicorn arguments of serve.server_command()>

tracker_bench.py --gc-probe MODE starts peerveil this way instead of through `serve`. Each
collection's generation and pause are recorded through gc.callbacks; the summary (collections
and total/max pause per generation, and the longest pauses) is written to
PEERVEIL_GC_PROBE_OUT when the server stops, with every call of the tracker's policy reload
(timed by wrapping it: it still does what it does). --freeze moves everything alive a few
seconds after start-up (Django, the app, the catalogue cache) out of the collector's reach
(gc.freeze()); --threshold N or N/M/K sets gc.set_threshold (default 700/10/10); --disable
turns the collector off (a bound for comparison, not a setting); --census counts the objects the
collector tracks every 5 s.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import time
from collections import Counter


class GcRecorder:
    """Every collection's generation, pause and start (CLOCK_MONOTONIC, as the load generator
    stamps its requests), and every reload of the tracker's policy (reload, which the
    consumer runs through sync_to_async when the 5-second cache is stale)."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.pauses: list[tuple[int, float, float]] = []  # (generation, seconds, at)
        self.policy: list[tuple[float, float]] = []  # (at, seconds)
        self.census: list[tuple[float, list[int]]] = []
        self.young: list[tuple[float, int, list]] = []
        self.options: list[str] = []
        self.heap_bytes = 0
        self.heap: list[tuple[str, int, int]] = []

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.monotonic()
        elif self.started is not None:
            pause = time.monotonic() - self.started
            self.pauses.append((info["generation"], pause, self.started))
            self.started = None

    def census_forever(self) -> None:
        """Objects the collector tracks, per generation, every 5 s (costs a few ms each)."""
        while True:
            counts = [len(gc.get_objects(generation)) for generation in (0, 1, 2)]
            self.census.append((time.monotonic(), counts))
            young = gc.get_objects(0) + gc.get_objects(1)
            # A young container is traversed whole by every young collection.
            sized = sorted(
                ((len(o), type(o).__qualname__) for o in young if hasattr(o, "__len__")),
                reverse=True,
            )[:5]
            referents = sum(len(gc.get_referents(o)) for o in young)
            self.young.append((time.monotonic(), referents, sized))
            del young
            time.sleep(5.0)

    def heap_forever(self) -> None:
        """Where the live heap was allocated (tracemalloc), at its largest: every 10 s."""
        import tracemalloc

        while True:
            time.sleep(10.0)
            current, _ = tracemalloc.get_traced_memory()
            if current > self.heap_bytes:
                snapshot = tracemalloc.take_snapshot()
                self.heap_bytes = current
                self.heap = [
                    (str(stat.traceback), stat.size, stat.count)
                    for stat in snapshot.statistics("lineno")[:30]
                ]

    def trace_policy(self) -> None:
        """Time TrackerService.reload (measurement only: it still does what it did)."""
        from tracker.service import TrackerService

        original = TrackerService.reload

        def reload(service) -> None:
            start = time.monotonic()
            try:
                original(service)
            finally:
                self.policy.append((start, time.monotonic() - start))

        TrackerService.reload = reload

    def summary(self) -> dict:
        per_generation = {}
        for generation in (0, 1, 2):
            pauses = [p for g, p, _ in self.pauses if g == generation]
            per_generation[str(generation)] = {
                "collections": len(pauses),
                "total_seconds": sum(pauses),
                "max_ms": 1000 * max(pauses, default=0.0),
            }
        return {
            "threshold": gc.get_threshold(),
            "frozen": gc.get_freeze_count(),
            "generations": per_generation,
            "pauses_over_5ms": [
                {"generation": g, "ms": 1000 * p, "at": at} for g, p, at in self.pauses if p > 0.005
            ],
            "policy_calls": len(self.policy),
            "policy_seconds": sum(seconds for _, seconds in self.policy),
            "policy_max_ms": 1000 * max((seconds for _, seconds in self.policy), default=0.0),
            "policy": [{"at": at, "ms": 1000 * seconds} for at, seconds in self.policy[:5000]],
            "census": [{"at": at, "tracked": counts} for at, counts in self.census],
            "young": self.young,
            "options": self.options,
            "heap": self.heap,
            "heap_bytes": self.heap_bytes,
            "garbage": Counter(type(o).__qualname__ for o in gc.garbage).most_common(20),
        }


def main() -> None:
    args = sys.argv[1:]
    split = args.index("--") if "--" in args else len(args)
    options, uvicorn_args = args[:split], args[split + 1 :]
    recorder = GcRecorder()
    recorder.options = options
    if "--tracemalloc" in options:
        import tracemalloc

        tracemalloc.start()
        threading.Thread(target=recorder.heap_forever, daemon=True).start()

    def after_start() -> None:
        # uvicorn has imported the app and Django has loaded by now.
        recorder.trace_policy()
        if "--threshold" in options:
            # After start-up: instance/asgi.py sets its own thresholds when it is imported.
            # N (the youngest generation's) or N/M/K (all three, as gc.set_threshold takes them).
            given = [int(n) for n in options[options.index("--threshold") + 1].split("/")]
            gc.set_threshold(*given, *gc.get_threshold()[len(given) :])
        if "--garbage" in options:
            # Keep what the collector finds unreachable, to count its types at the end: what
            # the server leaves in reference cycles is what makes young collections slow.
            gc.set_debug(gc.DEBUG_SAVEALL)
        if "--freeze" in options:
            # What is alive now lives as long as the process: out of the collector's reach.
            gc.freeze()
        if "--disable" in options:
            # A bound, not a setting: what the server would do with no cyclic collector.
            gc.disable()
        if "--census" in options:
            threading.Thread(target=recorder.census_forever, daemon=True).start()

    threading.Timer(5.0, after_start).start()
    gc.callbacks.append(recorder)
    out = os.environ.get("PEERVEIL_GC_PROBE_OUT")

    def write_summary() -> None:
        if out:
            with open(out, "w") as file:
                json.dump(recorder.summary(), file, indent=1)

    def on_signal(signum, frame) -> None:
        raise SystemExit(0)

    # uvicorn turns SIGTERM into a graceful shutdown, then raises the signal again with the
    # handler it found at start: this one, so the summary below is still written.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    import uvicorn.main

    sys.argv = ["uvicorn", *uvicorn_args]
    try:
        uvicorn.main.main(standalone_mode=False)
    finally:
        write_summary()


if __name__ == "__main__":
    main()
