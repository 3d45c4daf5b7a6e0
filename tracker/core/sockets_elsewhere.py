"""The open sockets of each source on the instance's other tracker processes (sans-I/O).

The guard's limit of sockets per source must hold across processes: before a socket is
accepted, the guard adds the source's sockets on the other processes to its own. Each process
tells the others when one of its sockets opens or closes (shared_guard.py), and every
SNAPSHOT_SECONDS it sends its whole table of open sockets per source, which replaces what the
others held for it. A count kept only by opens and closes would drift for ever after one lost
message (a Redis outage, a process that restarted and closed nothing); a table replaced
wholesale is right again at the next table, and a process that stops sending them (dead,
stalled) is forgotten FORGET_AFTER_SECONDS after its last one.
"""

from __future__ import annotations

# A process sends its table this often (empty too: it says "none"); its counts are dropped when
# no table came for FORGET_AFTER_SECONDS (two and a half periods: one late or lost table is
# not enough); the Redis link takes a process silent that long for dead (tracker.redis_link).
SNAPSHOT_SECONDS = 2.0
FORGET_AFTER_SECONDS = 5.0


class SocketsElsewhere:
    """Open sockets per source key, per other process: a handful of processes, each a dict."""

    __slots__ = ("_counts", "_heard", "arrivals")

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = {}  # process -> source key -> open sockets
        self._heard: dict[str, float] = {}  # process -> when its last table (or first news) came
        # (process, source key): a socket of the source opened there, and this process has not
        # told it yet what is left of the source's message budget here (shared_guard.py).
        self.arrivals: list[tuple[str, str]] = []

    def holders(self, key: str) -> list[str]:
        """The other processes where the source has an open socket."""
        return [process for process, counts in self._counts.items() if key in counts]

    def count(self, key: str, now: float) -> int:
        """The source's open sockets on every other process still heard from."""
        horizon = now - FORGET_AFTER_SECONDS
        heard = self._heard
        return sum(
            counts.get(key, 0)
            for process, counts in self._counts.items()
            if heard[process] > horizon
        )

    def _of(self, process: str, now: float) -> dict[str, int]:
        counts = self._counts.get(process)
        if counts is None or self._heard[process] <= now - FORGET_AFTER_SECONDS:
            # News of a process not heard from lately: what it held then is long replaced.
            counts = self._counts[process] = {}
            self._heard[process] = now
        return counts

    def opened(self, process: str, key: str, now: float) -> None:
        counts = self._of(process, now)
        if key not in counts:
            self.arrivals.append((process, key))
        counts[key] = counts.get(key, 0) + 1

    def closed(self, process: str, key: str, now: float) -> None:
        counts = self._of(process, now)
        left = counts.get(key, 0) - 1
        if left > 0:
            counts[key] = left
        else:
            # Its open was counted before a table that did not have it, or was lost: the
            # table is the truth, and a count never goes below zero.
            counts.pop(key, None)

    def replace(self, process: str, counts: dict[str, int], now: float) -> None:
        """The process's whole table, as of the opens and closes it sent before it."""
        self._counts[process] = counts
        self._heard[process] = now

    def forget(self, process: str) -> None:
        self._counts.pop(process, None)
        self._heard.pop(process, None)

    def expire(self, now: float) -> None:
        horizon = now - FORGET_AFTER_SECONDS
        for process in [p for p, heard in self._heard.items() if heard <= horizon]:
            self.forget(process)

    def adopt(self, stand_in: str, key: str) -> None:
        """Counted under `stand_in` (the name the others give `key`) until now: `key`'s."""
        for counts in self._counts.values():
            count = counts.pop(stand_in, 0)
            if count:
                counts[key] = counts.get(key, 0) + count
