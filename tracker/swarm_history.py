"""Swarm sizes over the last hour, sampled in memory by the tracker's sweeper for the panel's
charts.

A sample holds, per infohash, how many web and HTTP seeders and leechers there were: counts
only, never an address or a peer id. Nothing is written to disk; after a restart the charts start
empty.
"""

import threading
from collections import deque
from dataclasses import dataclass

from tracker.core import KindCounts

SAMPLE_SECONDS = 60
# One hour of samples.
SAMPLES_KEPT = 60


@dataclass(frozen=True)
class Sample:
    at: float  # wall-clock seconds (time.time()), for "minutes ago"
    counts: dict[bytes, KindCounts]


class SwarmHistory:
    def __init__(self, keep: int = SAMPLES_KEPT) -> None:
        self._samples: deque[Sample] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, at: float, counts: dict[bytes, KindCounts]) -> None:
        with self._lock:
            self._samples.append(Sample(at, dict(counts)))

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()


history = SwarmHistory()
