"""Which infohashes the tracker serves, and its tunable limits, cached in process.

The tracker answers thousands of messages a second and must not query the database for each
(issue 3): the table of this instance's infohashes and the instance settings are loaded once and
loaded again only after a change to a video, a file or the settings marks the cache stale.
"""

import threading
import time

from django.conf import settings

from instance.models import InstanceSettings, VideoFile
from tracker.core import GuardConfig, TrackerConfig
from tracker.models import PolicyVersion

UNKNOWN_INFOHASH = "Unknown infoHash"
P2P_DISABLED = "P2P is disabled for this video"
# Signals mark the cache stale at once for changes made in this process; a change made by
# another process (a management command, another server) is seen within this many seconds:
# the policy version (tracker.models.PolicyVersion) is read that often, the catalogue only
# when the version moved.
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


class TrackerPolicy:
    def __init__(self) -> None:
        self._allowed: dict[bytes, bool] = {}
        self.config = TrackerConfig()
        self.guard_config = GuardConfig()
        self._stale = True
        self._changes = 0  # counts mark_stale() calls, so one during a reload is not lost
        self._loaded_changes = -1
        self._version = -1  # PolicyVersion of the loaded table
        self._loaded_at = 0.0
        self._fully_loaded_at = -FULL_RELOAD_SECONDS
        self._lock = threading.Lock()

    @property
    def stale(self) -> bool:
        return self._stale or time.monotonic() - self._loaded_at > POLICY_MAX_AGE

    def mark_stale(self) -> None:
        self._changes += 1
        self._stale = True

    def refresh(self) -> None:
        """Reload from the database (sync: call it through sync_to_async from async code).

        Read-only on purpose: a save here would fire the signal that calls refresh() again,
        under this same lock."""
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
                return
            row = InstanceSettings.load()
            files = VideoFile.objects.select_related("video").only("info_hash", "video__p2p")
            self._allowed = {
                bytes.fromhex(f.info_hash): f.video.p2p_effective(row.p2p_enabled) for f in files
            }
            self.config = tracker_config(row)
            self.guard_config = guard_config(row)
            self._version, self._loaded_changes = version, changes
            self._loaded_at = self._fully_loaded_at = now
            self._stale = self._changes != changes

    def allowed(self) -> set[bytes]:
        return {info_hash for info_hash, allowed in self._allowed.items() if allowed}

    def known(self, info_hash: bytes) -> bool:
        """Whether this instance publishes the infohash (P2P on or off)."""
        return info_hash in self._allowed

    def access(self, info_hash: bytes) -> str | None:
        """None if the tracker serves this infohash, else the failure reason to send."""
        allowed = self._allowed.get(info_hash)
        if allowed is None:
            return UNKNOWN_INFOHASH
        return None if allowed else P2P_DISABLED
