"""What the instance tells its tracker (tracker.core.Policy): the limits from the settings row,
and P2P on or off for each swarm it publishes (torrents and HLS renditions); loaded again when
the policy version moved.

The tracker answers thousands of messages a second and must not query the database for each:
the policy is loaded once, then again only when PolicyVersion moved (any process's change) or a
change in this process marked it stale. An explicit P2P switch loads only the swarms it
changed (p2p_of).
"""

import threading
import time
from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings

from instance.models import HLSRendition, InstanceSettings, VideoFile
from tracker.core import GuardConfig, Policy, TrackerConfig
from tracker.models import PolicyVersion

# A server process reads the policy version this often (tracker.service's poller), so a switch
# made by another process reaches it within about this time, traffic or not.
POLICY_POLL_SECONDS = 0.5
# What an admin is told: a change reaches every running server within a poll period and the
# load that follows it.
POLICY_PROPAGATION_SECONDS = 2 * POLICY_POLL_SECONDS
# A process without the poller (tests, a management command) checks the version when its
# cached policy is this old.
POLICY_MAX_AGE = 5.0
# The catalogue is reloaded at least this often, version or not: a safety net for rows written
# without save() (QuerySet.update, a migration, a database console).
FULL_RELOAD_SECONDS = 300.0


def tracker_config(row: InstanceSettings) -> TrackerConfig:
    """The core's limits for these settings: what the tracker applies and the FAQ states."""
    return TrackerConfig(
        announce_interval=row.announce_interval,
        min_interval=max(1, row.announce_interval // 2),
        max_peers_per_reply=row.max_peers_per_reply,
        max_message_bytes=settings.TRACKER_MAX_MESSAGE_BYTES,
        max_http_peers_per_address=row.max_http_peers_per_address,
    )


def guard_config(row: InstanceSettings) -> GuardConfig:
    return GuardConfig(
        window=row.guard_window,
        max_videos=row.max_videos_per_address,
        video_burst=row.max_videos_at_once,
        max_sockets=row.max_sockets_per_address,
        socket_messages_per_minute=row.max_messages_per_socket,
        source_messages_per_minute=row.max_messages_per_address,
        breaches_before_block=row.breaches_before_block,
        block_seconds=row.block_seconds,
        alarm_videos=row.alarm_videos,
        alarm_early_announces=row.alarm_early_announces,
        alarm_unknown_videos=row.alarm_unknown_videos,
        alarm_sockets=row.alarm_sockets,
        announce_interval=row.announce_interval,
        http_requests=row.max_http_requests_per_address,
        http_announces_per_video=row.max_http_announces_per_video,
    )


class Swarms(NamedTuple):
    """P2P in effect for each swarm, the video each belongs to (its primary key: an opaque
    key to the core, which counts videos, not swarms, per address), and the crowd threshold
    of each swarm that has one above 1 (a video's, the same for all its swarms; each swarm
    counts its own viewers)."""

    p2p: dict[bytes, bool]
    videos: dict[bytes, int]
    min_viewers: dict[bytes, int]


def _swarms(files, renditions, instance_p2p: bool, instance_min_viewers: int = 1) -> Swarms:
    """The swarm of each of these files' torrents (a VideoFile QuerySet) and of these HLS
    renditions (an HLSRendition QuerySet), reading only the columns it depends on.

    Both kinds of swarm share one table: a torrent's infohash is 20 binary bytes, an HLS
    rendition's is 20 ASCII characters (instance/hls_swarms.py), as each arrives on the wire."""
    p2p, videos, min_viewers = {}, {}, {}

    def add(info_hash: bytes, video) -> None:
        p2p[info_hash] = video.p2p_effective(instance_p2p)
        videos[info_hash] = video.pk
        threshold = video.min_viewers_effective(instance_min_viewers)
        if threshold > 1:
            min_viewers[info_hash] = threshold

    files = files.select_related("video").only("info_hash", "video__p2p", "video__p2p_min_viewers")
    for f in files:
        add(bytes.fromhex(f.info_hash), f.video)
    renditions = renditions.select_related("playlist__video").only(
        "info_hash", "playlist__video__p2p", "playlist__video__p2p_min_viewers"
    )
    for r in renditions:
        add(r.info_hash_bytes, r.playlist.video)
    return Swarms(p2p, videos, min_viewers)


def p2p_of(info_hashes: Iterable[bytes]) -> tuple[dict[bytes, bool | None], dict[bytes, int]]:
    """Whether P2P is on for each of these swarms now (None: not published any more), and
    the videos of those published."""
    wanted = list(info_hashes)
    files = VideoFile.objects.filter(info_hash__in=[info_hash.hex() for info_hash in wanted])
    renditions = HLSRendition.objects.filter(
        info_hash__in=[info_hash.decode("latin-1") for info_hash in wanted]
    )
    found = _swarms(files, renditions, InstanceSettings.load().p2p_enabled)
    return {info_hash: found.p2p.get(info_hash) for info_hash in wanted}, found.videos


class TrackerPolicy:
    """The loaded policy (`current`), and when to load it again."""

    def __init__(self) -> None:
        self.current = Policy()
        self._stale = True
        self._changes = 0  # counts mark_stale() calls, so one during a reload is not lost
        self._loaded_changes = -1
        self._version = -1  # PolicyVersion of the loaded table
        self._loaded_at = 0.0
        self._fully_loaded_at = -FULL_RELOAD_SECONDS
        self._lock = threading.Lock()

    @property
    def config(self) -> TrackerConfig:
        return self.current.tracker

    @property
    def stale(self) -> bool:
        return self._stale or time.monotonic() - self._loaded_at > POLICY_MAX_AGE

    def mark_stale(self) -> None:
        self._changes += 1
        self._stale = True

    def noted(self, version: int) -> None:
        """The caller applied itself the one change that moved the version to `version` (an
        explicit switch, whose save marked the policy stale once): no full reload for it. Any
        other change meanwhile, here or elsewhere, still gets one."""
        with self._lock:
            if version == self._version + 1 and self._changes == self._loaded_changes + 1:
                self._version, self._loaded_changes = version, self._changes
                self._stale = False

    def refresh(self) -> Policy | None:
        """The new policy if it changed, else None (sync: call it through sync_to_async from
        async code). Read-only on purpose: a save here would fire the signal again."""
        with self._lock:
            # Readers in other threads keep the previous, complete table until the new one is
            # built: marking the cache fresh before loading let them see an empty table.
            changes = self._changes
            version = PolicyVersion.current()
            now = time.monotonic()
            if (
                version == self._version
                and changes == self._loaded_changes
                and now - self._fully_loaded_at < FULL_RELOAD_SECONDS
            ):
                # Nothing changed anywhere: one indexed read instead of the whole catalogue.
                self._loaded_at = now
                self._stale = self._changes != changes
                return None
            row = InstanceSettings.load()
            swarms = _swarms(
                VideoFile.objects.all(),
                HLSRendition.objects.all(),
                row.p2p_enabled,
                row.p2p_min_viewers,
            )
            self.current = Policy(
                tracker=tracker_config(row),
                guard=guard_config(row),
                p2p=swarms.p2p,
                videos=swarms.videos,
                min_viewers=swarms.min_viewers,
            )
            self._version, self._loaded_changes = version, changes
            self._loaded_at = self._fully_loaded_at = now
            self._stale = self._changes != changes
            return self.current
