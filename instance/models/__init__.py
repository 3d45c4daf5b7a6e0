"""The instance's models: its settings row, its catalogue (videos, their files and torrents)
and their HLS streaming playlists. Django finds them here; other code imports them from here."""

from .catalogue import P2PSetting, Video, VideoFile, VideoQuerySet, VideoViewDay
from .instance_settings import (
    InstanceSettings,
    default_announce_interval,
    default_max_peers_per_reply,
)
from .streaming import AUDIO_CODEC_PREFIXES, HLSRendition, StreamingPlaylist

__all__ = [
    "AUDIO_CODEC_PREFIXES",
    "HLSRendition",
    "InstanceSettings",
    "P2PSetting",
    "StreamingPlaylist",
    "Video",
    "VideoFile",
    "VideoQuerySet",
    "VideoViewDay",
    "default_announce_interval",
    "default_max_peers_per_reply",
]
