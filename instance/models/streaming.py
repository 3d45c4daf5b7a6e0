"""A video's HLS streaming playlist and its renditions (PeerTube's VideoStreamingPlaylist)."""

from pathlib import Path

from django.conf import settings
from django.db import models

from .. import hls_names, hls_swarms


class StreamingPlaylist(models.Model):
    """A video's HLS streaming playlist (PeerTube's VideoStreamingPlaylist of type HLS): the
    master playlist, a playlist per rendition and its segments as separate files in
    HLS_ROOT/<video uuid>/, and the SHA-256 of every segment in a JSON beside them.

    Players share its segments over P2P with p2p-media-loader, one swarm per rendition."""

    HLS = 1  # PeerTube's VideoStreamingPlaylistType.HLS
    MASTER_NAME = hls_names.MASTER_NAME
    SEGMENTS_SHA256_NAME = hls_names.SEGMENTS_SHA256_NAME

    video = models.OneToOneField(
        "instance.Video", on_delete=models.CASCADE, related_name="hls_playlist"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"HLS of {self.video.name}"

    @property
    def folder_name(self) -> str:
        return str(self.video.uuid)

    @property
    def folder(self) -> Path:
        return settings.HLS_ROOT / self.folder_name

    @property
    def base_url(self) -> str:
        return f"{settings.PUBLIC_URL}/static/streaming-playlists/hls/{self.folder_name}/"

    @property
    def playlist_url(self) -> str:
        return self.base_url + self.MASTER_NAME

    @property
    def segments_sha256_url(self) -> str:
        return self.base_url + self.SEGMENTS_SHA256_NAME

    @property
    def swarm_id(self) -> str:
        """What the page gives p2p-media-loader as `swarmId`: the video's uuid, so a change of
        the instance's address or of the playlist's URL keeps the swarms."""
        return str(self.video.uuid)


class HLSRendition(models.Model):
    """One level of a master playlist: its playlist, init segment and media segments."""

    playlist = models.ForeignKey(
        StreamingPlaylist, on_delete=models.CASCADE, related_name="renditions"
    )
    resolution = models.PositiveIntegerField(help_text="Height in pixels.")
    width = models.PositiveIntegerField()
    frame_rate = models.CharField(max_length=16, help_text='FRAME-RATE as written: "24.000".')
    bandwidth = models.PositiveIntegerField(help_text="BANDWIDTH: a segment's peak bits/s.")
    codecs = models.CharField(max_length=100, help_text='CODECS: "avc1.64001e,mp4a.40.2".')
    size = models.PositiveBigIntegerField(help_text="Bytes of its init and media segments.")
    segment_count = models.PositiveIntegerField()
    # 20 ASCII characters: the swarm p2p-media-loader joins for it (instance/hls_swarms.py).
    info_hash = models.CharField("swarm infohash", max_length=20, unique=True)

    class Meta:
        ordering = ["-resolution"]
        constraints = [
            models.UniqueConstraint(
                fields=["playlist", "resolution"], name="one_rendition_per_resolution"
            )
        ]

    def __str__(self):
        return f"{self.playlist.video.name} (HLS {self.resolution}p)"

    @property
    def playlist_name(self) -> str:
        return hls_names.playlist_name(self.resolution)

    @property
    def playlist_url(self) -> str:
        return self.playlist.base_url + self.playlist_name

    @property
    def fps(self) -> int | float:
        """FRAME-RATE as a number, as PeerTube's API gives `fps`: 24, 29.97."""
        value = float(self.frame_rate)
        return int(value) if value.is_integer() else value

    @property
    def has_audio(self) -> bool:
        return any(c.startswith(AUDIO_CODEC_PREFIXES) for c in self.codecs.split(","))

    @property
    def video_codec(self) -> str:
        """The video part of CODECS, which hls.js reports as the level's videoCodec."""
        return next(c for c in self.codecs.split(",") if not c.startswith(AUDIO_CODEC_PREFIXES))

    @property
    def info_hash_bytes(self) -> bytes:
        return self.info_hash.encode("ascii")

    def derive_info_hash(self) -> str:
        """The infohash a player computes for this level of the master playlist."""
        short_id = hls_swarms.stream_short_id(
            bandwidth=self.bandwidth,
            video_codec=self.video_codec,
            width=self.width,
            height=self.resolution,
            frame_rate=self.frame_rate,
        )
        return hls_swarms.stream_info_hash(self.playlist.swarm_id, short_id)


# RFC 6381 codec names of the audio formats an HLS rendition may carry.
AUDIO_CODEC_PREFIXES = ("mp4a", "opus", "ac-3", "ec-3", "flac")
