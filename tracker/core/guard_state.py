"""What the guard remembers per source and per socket (tracker/core/guard.py uses it)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from .windows import DistinctWindow, RecentEvents, TokenBucket

if TYPE_CHECKING:
    from .guard import GuardConfig


class Source:
    __slots__ = (
        "key",
        "sockets",
        "bucket",
        "http_bucket",
        "http_videos",
        "videos",
        "new_videos",
        "refused_videos",
        "unknown",
        "early",
        "breaches",
        "blocked_until",
        "alarmed",
        "announced",
        "last_seen",
    )

    def __init__(self, key: str, config: GuardConfig, now: float) -> None:
        self.key = key
        self.sockets = 0
        self.bucket = TokenBucket(config.source_messages_per_minute, now)
        self.http_bucket = TokenBucket(config.http_requests, now)
        self.http_videos: dict[Hashable, TokenBucket] = {}  # video -> HTTP announces
        self.videos = DistinctWindow()
        self.new_videos = TokenBucket(config.video_burst, now)
        self.refused_videos = DistinctWindow()
        self.unknown = DistinctWindow()
        self.early = RecentEvents()
        self.breaches = RecentEvents()
        self.blocked_until = 0.0
        self.alarmed: dict[str, float] = {}  # alarm kind -> end of its quiet window
        self.announced: dict[bytes, float] = {}  # HTTP: info_hash -> last announce
        self.last_seen = now


class SocketMeter:
    """Per-socket state, held by the caller with its socket."""

    __slots__ = ("source", "bucket", "announced", "open")

    def __init__(self, source: Source, config: GuardConfig, now: float) -> None:
        self.source = source
        self.bucket = TokenBucket(config.socket_messages_per_minute, now)
        self.announced: dict[bytes, float] = {}
        self.open = True
