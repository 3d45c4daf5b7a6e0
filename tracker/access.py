"""Which infohashes the tracker serves, and its tunable limits, cached in process.

The tracker answers thousands of messages a second and must not query the database for each
(issue 3): the table of this instance's infohashes and the instance settings are loaded once and
loaded again only after a change to a video, a file or the settings marks the cache stale.
"""

import threading
import time

from django.conf import settings

from instance.models import InstanceSettings, VideoFile
from tracker.core import TrackerConfig

UNKNOWN_INFOHASH = "Unknown infoHash"
P2P_DISABLED = "P2P is disabled for this video"
# Signals mark the cache stale at once for changes made in this process; a change made by
# another process (a management command, another server) is seen within this many seconds.
POLICY_MAX_AGE = 5.0


class TrackerPolicy:
    def __init__(self) -> None:
        self._allowed: dict[bytes, bool] = {}
        self.config = TrackerConfig()
        self._stale = True
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    @property
    def stale(self) -> bool:
        return self._stale or time.monotonic() - self._loaded_at > POLICY_MAX_AGE

    def mark_stale(self) -> None:
        self._stale = True

    def refresh(self) -> None:
        """Reload from the database (sync: call it through sync_to_async from async code).

        Read-only on purpose: a save here would fire the signal that calls refresh() again,
        under this same lock."""
        with self._lock:
            self._stale = False
            self._loaded_at = time.monotonic()
            row = InstanceSettings.load()
            files = VideoFile.objects.select_related("video").only("info_hash", "video__p2p")
            self._allowed = {
                bytes.fromhex(f.info_hash): f.video.p2p_effective(row.p2p_enabled) for f in files
            }
            self.config = TrackerConfig(
                announce_interval=row.announce_interval,
                min_interval=max(1, row.announce_interval // 2),
                max_peers_per_reply=row.max_peers_per_reply,
                max_message_bytes=settings.TRACKER_MAX_MESSAGE_BYTES,
            )

    def allowed(self) -> set[bytes]:
        return {info_hash for info_hash, allowed in self._allowed.items() if allowed}

    def access(self, info_hash: bytes) -> str | None:
        """None if the tracker serves this infohash, else the failure reason to send."""
        allowed = self._allowed.get(info_hash)
        if allowed is None:
            return UNKNOWN_INFOHASH
        return None if allowed else P2P_DISABLED
