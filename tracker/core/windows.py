"""Counters the guard keeps per source: each update is O(1) (amortised) and memory is bounded.

Limits are passed to every call rather than stored, so a change made in the admin panel applies
from the next message on without rebuilding any state.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable


class TokenBucket:
    """`capacity` messages at once, refilled at `per_second`: a rate limit that lets a burst
    through (a browser joining a swarm answers several offers at once) but not a flood."""

    __slots__ = ("tokens", "at")

    def __init__(self, capacity: float, now: float) -> None:
        self.tokens = float(capacity)
        self.at = now

    def take(self, capacity: float, per_second: float, now: float) -> bool:
        tokens = self.tokens + (now - self.at) * per_second
        if tokens > capacity:
            tokens = capacity
        self.at = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True

    def level(self, capacity: float, per_second: float, now: float) -> float:
        """The tokens there are now (what take() would start from)."""
        return min(capacity, self.tokens + (now - self.at) * per_second)

    def lower(self, tokens: float, capacity: float, per_second: float, now: float) -> None:
        """At most `tokens` left from now on (another process's count of the same budget)."""
        self.tokens = min(self.level(capacity, per_second, now), tokens)
        self.at = now


class RecentEvents:
    """How many events happened within the last `window` seconds, counting at most `limit`:
    only the last `limit` times are kept, which is all a threshold of `limit` needs."""

    __slots__ = ("_times",)

    def __init__(self) -> None:
        # Created at the first event: an empty deque is 600 bytes, and most sources of the
        # guard (one per client address) never breach a limit or announce early.
        self._times: deque[float] | None = None

    def add(self, now: float, limit: int, window: float) -> int:
        times = self._times
        if times is None:
            times = self._times = deque()
        times.append(now)
        while len(times) > limit:
            times.popleft()
        horizon = now - window
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def clear(self) -> None:
        self._times = None


class DistinctWindow:
    """The distinct keys (videos, infohashes) seen within a sliding window, oldest sighting
    first."""

    __slots__ = ("_seen",)

    # Shared by every window with nothing in it; put() gives a window its own. Most sources
    # never ask about an unknown or a refused video: their windows for those stay this one.
    _EMPTY: OrderedDict[Hashable, float] = OrderedDict()

    def __init__(self) -> None:
        self._seen = self._EMPTY

    def __len__(self) -> int:
        return len(self._seen)

    def __bool__(self) -> bool:
        return bool(self._seen)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._seen

    def refresh(self, key: Hashable, now: float) -> bool:
        """Note another sighting of a key already counted; False if it is not counted."""
        seen = self._seen
        if key not in seen:
            return False
        seen[key] = now
        seen.move_to_end(key)
        return True

    def room(self, now: float, window: float, limit: int) -> bool:
        """Whether one more key may be counted without going over `limit`."""
        self.expire(now, window)
        return len(self._seen) < limit

    def put(self, key: Hashable, now: float) -> int:
        """Count a new key (the caller checked room()); returns how many are counted."""
        if self._seen is self._EMPTY:
            self._seen = OrderedDict()
        self._seen[key] = now
        return len(self._seen)

    def discard(self, key: Hashable) -> None:
        self._seen.pop(key, None)

    def expire(self, now: float, window: float) -> None:
        seen = self._seen
        horizon = now - window
        while seen and next(iter(seen.values())) <= horizon:
            seen.popitem(last=False)
