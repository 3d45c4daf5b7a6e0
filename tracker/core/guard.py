"""The spy guard: per-source limits, alarms and temporary blocks (sans-I/O).

Whoever wants to know which address watches which video must ask the tracker about every video,
and ask again and again to see who comes and goes; a viewer asks about the one video it plays,
once per announce interval. The guard counts what each source does within a sliding window and
answers with decisions: allow (None), refuse with a reason, block until a time, ring an alarm.

A source is an opaque key chosen by the caller (an address, kept in memory only); the guard
forgets it `window` seconds after its last request unless it is blocked or has sockets open.
Every check on the message path is a few dict and deque operations.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from .guard_state import SocketMeter, Source
from .windows import TokenBucket

ALARM_VIDEOS = "videos"
ALARM_EARLY_ANNOUNCES = "early-announces"
ALARM_UNKNOWN_VIDEOS = "unknown-videos"
ALARM_SOCKETS = "sockets"
ALARM_BLOCKED = "blocked"

REFUSED_RATE = "too many requests, slow down"
REFUSED_VIDEOS = "too many videos from your address, try again later"
REFUSED_SOCKETS = "too many connections from your address"
REFUSED_BLOCKED = "blocked after repeated breaches of the request limits, try again later"

# Sampling announces remembered per socket (or per HTTP source) for the early-announce detector;
# older ones are forgotten first. A browser plays one or a few videos per socket.
_ANNOUNCES_REMEMBERED = 64
# Per-video HTTP announce counters kept per source (the video limit refuses far fewer).
_HTTP_VIDEOS_REMEMBERED = 64


@dataclass(frozen=True)
class GuardConfig:
    """Defaults: generous for a browser (one socket per tab, one announce per interval per
    video, a few videos in a row), tight for a crawler that asks about every video at once.
    The admin panel overrides them (instance.models.InstanceSettings, same defaults)."""

    window: float = 300.0
    max_videos: int = 8
    # New videos at once, then one per window / max_videos (37.5 s): a crawler is refused from
    # the third on; a viewer's third tab plays over HTTP until then, and that is no breach.
    video_burst: int = 2
    max_sockets: int = 16
    socket_messages_per_minute: int = 120
    source_messages_per_minute: int = 600
    breaches_before_block: int = 5
    block_seconds: float = 3600.0
    alarm_videos: int = 6
    alarm_early_announces: int = 10
    alarm_unknown_videos: int = 3
    alarm_sockets: int = 8
    announce_interval: float = 120.0
    # HTTP requests per source and window, and announces of one video per source and window.
    # A classic client announces each torrent once per interval (2 or 3 times in 300 s), so
    # 100 of one video is only a crawler re-sampling a swarm; 300 in all leaves room for a
    # seedbox announcing its torrents.
    http_requests: int = 300
    http_announces_per_video: int = 100

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")

    @property
    def video_window(self) -> float:
        # A video being watched must stay counted between two of its announces, or a crawler
        # pacing itself at the interval would never reach the limit.
        return max(self.window, self.announce_interval)


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: str
    source: str  # the caller's key: hash it before it is stored or sent anywhere
    count: int  # what the detector counted: videos, early announces, sockets, breaches
    window: float
    at: float


@dataclass(slots=True)
class Verdict:
    refusal: str | None = None  # the failure reason for this request, if it is refused
    blocked_until: float | None = None  # the source is blocked until then
    new_block: bool = False  # this request started the block: close the source's sockets
    alarms: list[Alarm] = field(default_factory=list)


class Guard:
    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._sources: dict[str, Source] = {}
        # Several tracker processes: the requests counted here, for the others to count too
        # (shared_guard.py); None in a single process.
        self.shared: list[tuple[str, str, tuple]] | None = None
        # Several processes: each source's open sockets on the others (sockets_elsewhere.py),
        # and the sightings of counted videos told to them lately (shared_guard.told_lately).
        self.elsewhere = None
        self.sightings_told: dict[tuple[str, tuple], float] = {}

    def __len__(self) -> int:
        return len(self._sources)

    def source(self, key: str, now: float) -> Source:
        source = self._sources.get(key)
        if source is None:
            source = self._sources[key] = Source(key, self.config, now)
        source.last_seen = now
        return source

    def blocked(self, source: Source, now: float) -> Verdict | None:
        if source.blocked_until > now:
            return Verdict(REFUSED_BLOCKED, source.blocked_until)
        return None

    # Sockets

    def open_socket(self, key: str, now: float) -> tuple[SocketMeter | None, Verdict | None]:
        """A meter for the new socket, or None and the refusal (checked before the upgrade)."""
        source = self.source(key, now)
        verdict = self.blocked(source, now)
        if verdict is not None:
            return None, verdict
        sockets = source.sockets
        if self.elsewhere is not None:
            sockets += self.elsewhere.count(key, now)
        if sockets >= self.config.max_sockets:
            if self.shared is not None:
                self.shared.append((key, "b", ()))
            return None, self.breach(source, REFUSED_SOCKETS, now)
        source.sockets += 1
        if self.shared is not None:
            self.shared.append((key, "o", ()))
        if sockets + 1 >= self.config.alarm_sockets:
            verdict = self._alarm(source, ALARM_SOCKETS, sockets + 1, now, None)
        return SocketMeter(source, self.config, now), verdict

    def close_socket(self, meter: SocketMeter, now: float) -> None:
        if meter.open:
            meter.open = False
            meter.source.sockets -= 1
            meter.source.last_seen = now
            if self.shared is not None:
                self.shared.append((meter.source.key, "c", ()))

    def meter_message(self, meter: SocketMeter, now: float) -> Verdict | None:
        source = meter.source
        if source.blocked_until > now:
            return Verdict(REFUSED_BLOCKED, source.blocked_until)
        source.last_seen = now
        config = self.config
        per_socket = config.socket_messages_per_minute
        per_source = config.source_messages_per_minute
        if not meter.bucket.take(per_socket, per_socket / 60.0, now):
            if self.shared is not None:
                self.shared.append((source.key, "b", ()))
            return self.breach(source, REFUSED_RATE, now)
        if not source.bucket.take(per_source, per_source / 60.0, now):
            if self.shared is not None:
                # Refused for the address's budget: every process counts the breach
                # (shared_guard.py), not only those its WebSocket messages go to.
                self.shared.append((source.key, "M", ()))
            return self.breach(source, REFUSED_RATE, now)
        if self.shared is not None:
            self.shared.append((source.key, "m", ()))
        return None

    def meter_source(self, source: Source, now: float) -> Verdict | None:
        """A message of the source on another process (shared_guard.py): its source budget."""
        if source.blocked_until > now:
            return None
        per_source = self.config.source_messages_per_minute
        if not source.bucket.take(per_source, per_source / 60.0, now):
            return self.breach(source, REFUSED_RATE, now)
        return None

    # HTTP requests

    def http_request(self, source: Source, now: float) -> Verdict | None:
        """Count one HTTP request of the source; refused if blocked or over its budget."""
        if self.shared is not None:
            self.shared.append((source.key, "r", ()))
        verdict = self.blocked(source, now)
        if verdict is not None:
            return verdict
        capacity = self.config.http_requests
        if not source.http_bucket.take(capacity, capacity / self.config.window, now):
            return self.breach(source, REFUSED_RATE, now)
        return None

    def http_announce(self, source: Source, video: Hashable, now: float) -> Verdict | None:
        """Count one HTTP announce of a video (its key, see request_videos) by the source;
        refused over its budget."""
        capacity = self.config.http_announces_per_video
        buckets = source.http_videos
        bucket = buckets.get(video)
        if bucket is None:
            if len(buckets) >= _HTTP_VIDEOS_REMEMBERED:
                # The oldest first; a source cannot be served more videos than this anyway.
                del buckets[next(iter(buckets))]
            bucket = buckets[video] = TokenBucket(capacity, now)
        if not bucket.take(capacity, capacity / self.config.window, now):
            return self.breach(source, REFUSED_RATE, now)
        return None

    # Requests about videos

    def request_videos(
        self,
        source: Source,
        info_hashes: Iterable[bytes],
        video_of: Callable[[bytes], Hashable | None],
        now: float,
        verdict: Verdict | None = None,
    ) -> Verdict | None:
        """Count the videos an announce or scrape asks about; refuse one too many.

        `video_of(info_hash)` is the key of the swarm's video (None: the instance does not
        publish it). Videos are counted, not swarms: a player switching between the HLS
        renditions of one video joins a swarm for each, and is still watching one video."""
        if self.shared is not None:
            self.shared.append((source.key, "v", tuple(info_hashes)))
        config = self.config
        window = config.video_window
        refill = config.max_videos / window
        for info_hash in info_hashes:
            video = video_of(info_hash)
            if video is None:
                # Asking about infohashes this instance never published is probing: it rings
                # an alarm but takes no video slot (there is no swarm to learn from, and the
                # tracker refuses it as unknown), so a viewer's stray torrent costs nothing.
                unknown = source.unknown
                if not unknown.refresh(info_hash, now) and unknown.room(
                    now, window, config.alarm_unknown_videos
                ):
                    unknown.put(info_hash, now)
                if len(unknown) >= config.alarm_unknown_videos:
                    verdict = self._alarm(source, ALARM_UNKNOWN_VIDEOS, len(unknown), now, verdict)
                continue
            if source.videos.refresh(video, now):
                continue
            refused = source.refused_videos
            allowed = source.videos.room(now, window, config.max_videos) and (
                source.new_videos.take(config.video_burst, refill, now)
            )
            if allowed:
                source.videos.put(video, now)
                if refused:
                    refused.discard(video)
                    refused.expire(now, window)
            elif not refused.refresh(video, now) and refused.room(
                now, window, max(config.alarm_videos, config.max_videos + 1)
            ):
                # Refused videos are not served, but they were asked about: they count for
                # the alarm (a crawler asks about all of them), not against the limit.
                refused.put(video, now)
            asked = len(source.videos) + len(refused)
            if asked >= config.alarm_videos:
                verdict = self._alarm(source, ALARM_VIDEOS, asked, now, verdict)
            if not allowed:
                if asked > config.max_videos:
                    return self.breach(source, REFUSED_VIDEOS, now, verdict)
                # Too many at once but not too many in all (tabs opened together): refused
                # for now, served at a later announce, and no step towards a block.
                verdict = verdict or Verdict()
                verdict.refusal = REFUSED_VIDEOS
                return verdict
        return verdict

    def sample(
        self,
        source: Source,
        announced: dict[bytes, float],
        info_hash: bytes,
        now: float,
        verdict: Verdict | None = None,
    ) -> tuple[bool, Verdict | None]:
        """Whether an announce may sample the swarm (get offers relayed, peers listed).

        `announced` is the socket's (WebSocket) or the source's (HTTP) memory of sampling
        announces. A client samples once per interval; asking again well before the interval
        is over only draws a fresh random sample, which is how a crawler collects a whole
        swarm. A few such early announces pass (a client that completes soon after it started,
        tests); from the alarm threshold on, within the window, they are answered without a
        sample: nothing is refused, nothing new is learned.
        """
        previous = announced.pop(info_hash, None)
        if previous is None and len(announced) >= _ANNOUNCES_REMEMBERED:
            del announced[next(iter(announced))]
        config = self.config
        if previous is None or now - previous >= config.announce_interval / 2:
            announced[info_hash] = now
            return True, verdict
        count = source.early.add(now, config.alarm_early_announces, config.window)
        if count < config.alarm_early_announces:
            announced[info_hash] = now
            return True, verdict
        announced[info_hash] = previous  # the interval still runs from the last sample
        return False, self._alarm(source, ALARM_EARLY_ANNOUNCES, count, now, verdict)

    # Breaches, blocks, alarms

    def breach(
        self, source: Source, reason: str, now: float, verdict: Verdict | None = None
    ) -> Verdict:
        """A request refused for `reason`; enough of them within the window block the source."""
        verdict = verdict or Verdict()
        verdict.refusal = reason
        config = self.config
        count = source.breaches.add(now, config.breaches_before_block, config.window)
        if count >= config.breaches_before_block:
            source.blocked_until = now + config.block_seconds
            source.breaches.clear()
            verdict.refusal = REFUSED_BLOCKED
            verdict.blocked_until = source.blocked_until
            verdict.new_block = True
            # Every block rings: it is rare and it is what the admins most need to know.
            source.alarmed.pop(ALARM_BLOCKED, None)
            self._alarm(source, ALARM_BLOCKED, count, now, verdict)
        return verdict

    def _alarm(
        self, source: Source, kind: str, count: int, now: float, verdict: Verdict | None
    ) -> Verdict | None:
        """Ring at most once per source and kind per window, not once per request."""
        if source.alarmed.get(kind, 0.0) > now:
            return verdict
        verdict = verdict or Verdict()
        source.alarmed[kind] = now + self.config.window
        verdict.alarms.append(Alarm(kind, source.key, count, self.config.window, now))
        return verdict

    def expire(self, now: float) -> int:
        """Forget sources idle for a window, unblocked and without sockets; returns how many."""
        window = self.config.window
        horizon = now - max(window, self.config.video_window)
        stale = [
            key
            for key, source in self._sources.items()
            if source.sockets <= 0 and source.blocked_until <= now and source.last_seen <= horizon
        ]
        for key in stale:
            del self._sources[key]
        if self.elsewhere is not None:
            self.elsewhere.expire(now)
        return len(stale)
