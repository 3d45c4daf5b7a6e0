"""Swarm sizes over the last hour, sampled in memory by the server process for the panel's charts.

A sample holds, per infohash, how many web and HTTP seeders and leechers there were: counts
only, never an address or a peer id. Nothing is written to disk; after a restart the charts start
empty. The sampling thread also expires silent peers: the tracker's own sweeper runs only while
WebSockets are open, and an HTTP peer's address must not stay in memory past its TTL.
"""

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from tracker.core import KindCounts
from tracker.service import service

log = logging.getLogger(__name__)

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


def take_sample() -> None:
    service.expire()
    history.record(time.time(), service.swarm_counts())


def _sample_forever() -> None:
    while True:
        try:
            take_sample()
        except Exception:  # noqa: BLE001 - a failed sample must not end the sampling
            log.exception("sampling the swarm sizes failed")
        time.sleep(SAMPLE_SECONDS)


_sampler: threading.Thread | None = None
_sampler_lock = threading.Lock()


def start_sampling() -> None:
    """Sample every SAMPLE_SECONDS in a daemon thread, once per process (the ASGI server)."""
    global _sampler
    with _sampler_lock:
        if _sampler is None or not _sampler.is_alive():
            _sampler = threading.Thread(target=_sample_forever, name="swarm-sampler", daemon=True)
            _sampler.start()
