"""The instance's catalogue: videos, their files and torrents, and the instance-wide settings."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from tracker.core import HARD_MAX_PEERS, MAX_CROWD_THRESHOLD, GuardConfig, TrackerConfig

from . import hls_swarms, torrents, webseeds
from .ice import validate_ice_servers


def default_max_peers_per_reply() -> int:
    # The tracker never lists more than HARD_MAX_PEERS peers in one reply, whatever is set.
    return min(settings.TRACKER_MAX_PEERS_PER_REPLY, HARD_MAX_PEERS)


def default_announce_interval() -> int:
    return settings.TRACKER_ANNOUNCE_INTERVAL


class InstanceSettings(models.Model):
    """The single settings row of the instance (primary key 1)."""

    p2p_enabled = models.BooleanField(
        "P2P enabled", default=True, help_text="Share video bandwidth between viewers."
    )
    p2p_requires_consent = models.BooleanField(
        "P2P waits for the viewer's consent",
        default=True,
        help_text="Play over HTTP until the viewer accepts the P2P privacy notice.",
    )
    # 1 (no threshold) is what the tracker always did, so existing instances keep it.
    p2p_min_viewers = models.PositiveIntegerField(
        "P2P only from N viewers",
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CROWD_THRESHOLD)],
        help_text="Below this many distinct viewers (addresses) in a video's swarm, the "
        "tracker connects nobody there and the video plays from the server. 1: no threshold.",
    )
    max_peers_per_reply = models.PositiveSmallIntegerField(
        default=default_max_peers_per_reply,
        validators=[MinValueValidator(1), MaxValueValidator(HARD_MAX_PEERS)],
        help_text="Peers listed per HTTP tracker reply and offers relayed per announce.",
    )
    announce_interval = models.PositiveIntegerField(
        default=default_announce_interval,
        validators=[MinValueValidator(30), MaxValueValidator(3600)],
        help_text="Seconds between a client's announces.",
    )
    # Spy defences: per-address request limits, alarms and blocks, counted in memory only.
    # The defaults are the core's (tracker/core/guard.py GuardConfig, which says why); its float
    # durations are whole seconds here.
    guard_window = models.PositiveIntegerField(
        "counting window",
        default=int(GuardConfig.window),
        validators=[MinValueValidator(60), MaxValueValidator(86400)],
    )
    max_videos_per_address = models.PositiveIntegerField(
        "videos per address",
        default=GuardConfig.max_videos,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    max_videos_at_once = models.PositiveIntegerField(
        "videos at once per address",
        default=GuardConfig.video_burst,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    max_sockets_per_address = models.PositiveIntegerField(
        "connections per address",
        default=GuardConfig.max_sockets,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
    )
    max_messages_per_socket = models.PositiveIntegerField(
        "messages per connection per minute",
        default=GuardConfig.socket_messages_per_minute,
        validators=[MinValueValidator(10), MaxValueValidator(100000)],
    )
    max_messages_per_address = models.PositiveIntegerField(
        "messages per address per minute",
        default=GuardConfig.source_messages_per_minute,
        validators=[MinValueValidator(10), MaxValueValidator(1000000)],
    )
    max_http_requests_per_address = models.PositiveIntegerField(
        "HTTP requests per address",
        default=GuardConfig.http_requests,
        validators=[MinValueValidator(10), MaxValueValidator(1000000)],
    )
    max_http_announces_per_video = models.PositiveIntegerField(
        "HTTP announces per address and video",
        default=GuardConfig.http_announces_per_video,
        validators=[MinValueValidator(2), MaxValueValidator(100000)],
    )
    breaches_before_block = models.PositiveIntegerField(
        "breaches before a block",
        default=GuardConfig.breaches_before_block,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    block_seconds = models.PositiveIntegerField(
        "block duration",
        default=int(GuardConfig.block_seconds),
        validators=[MinValueValidator(60), MaxValueValidator(604800)],
    )
    alarm_videos = models.PositiveIntegerField(
        "alarm: videos per address",
        default=GuardConfig.alarm_videos,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    alarm_early_announces = models.PositiveIntegerField(
        "alarm: early announces per address",
        default=GuardConfig.alarm_early_announces,
        validators=[MinValueValidator(1), MaxValueValidator(100000)],
    )
    alarm_unknown_videos = models.PositiveIntegerField(
        "alarm: unknown videos per address",
        default=GuardConfig.alarm_unknown_videos,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    alarm_sockets = models.PositiveIntegerField(
        "alarm: connections per address",
        default=GuardConfig.alarm_sockets,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
    )
    # One address (an IPv4 address, an IPv6 /64) holds at most this many HTTP peers of one
    # swarm; the core's TrackerConfig says why and has the default.
    max_http_peers_per_address = models.PositiveIntegerField(
        "HTTP peers per address and swarm",
        default=TrackerConfig.max_http_peers_per_address,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    # Empty (None): the default, PEERVEIL_ICE_SERVERS or else the instance's own STUN server
    # (instance/ice.py). Each server set here learns every P2P viewer's address.
    ice_servers = models.JSONField(
        "STUN / TURN servers",
        null=True,
        blank=True,
        default=None,
        validators=[validate_ice_servers],
        help_text='Leave empty for the default. A JSON list, e.g. [{"urls": '
        '"stun:stun.example.org:3478"}]; [] for none.',
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "instance settings"
        verbose_name_plural = "instance settings"

    def __str__(self):
        return "Instance settings"

    def clean(self):
        # Above its limit, a burst or an alarm threshold could never be reached.
        errors = {
            name: f"At most the limit ({getattr(self, limit)}), or it is never reached."
            for name, limit in (
                ("max_videos_at_once", "max_videos_per_address"),
                ("alarm_sockets", "max_sockets_per_address"),
            )
            if isinstance(getattr(self, name), int)
            and isinstance(getattr(self, limit), int)
            and getattr(self, name) > getattr(self, limit)
        }
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "InstanceSettings":
        """The settings row, or the defaults (unsaved) before an admin first saves them.

        Reading never writes: the tracker reloads this while other code may be saving it."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class P2PSetting(models.TextChoices):
    INHERIT = "inherit", "Inherit from the instance"
    ON = "on", "On"
    OFF = "off", "Off"


class VideoQuerySet(models.QuerySet):
    def p2p_enabled(self, instance_p2p: bool) -> "VideoQuerySet":
        """Videos whose effective P2P setting is on, given the instance-wide switch."""
        if instance_p2p:
            return self.exclude(p2p=P2PSetting.OFF)
        return self.filter(p2p=P2PSetting.ON)

    def search(self, text: str) -> "VideoQuerySet":
        """Videos whose name or uuid contains `text` (all of them for an empty text)."""
        text = text.strip()
        if not text:
            return self
        return self.filter(models.Q(name__icontains=text) | models.Q(uuid__icontains=text))


class Video(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    duration = models.PositiveIntegerField(help_text="Seconds, rounded up as PeerTube does.")
    views = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    p2p = models.CharField(
        "P2P", max_length=8, choices=P2PSetting.choices, default=P2PSetting.INHERIT
    )
    # None: the instance's threshold (InstanceSettings.p2p_min_viewers).
    p2p_min_viewers = models.PositiveIntegerField(
        "P2P only from N viewers",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CROWD_THRESHOLD)],
    )

    objects = VideoQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("watch", kwargs={"uuid": self.uuid})

    @property
    def duration_label(self) -> str:
        """The duration as a player shows it: 0:08, 12:34, 1:02:03."""
        hours, rest = divmod(self.duration, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"

    def p2p_effective(self, instance_p2p: bool | None = None) -> bool:
        """The P2P state that applies: the video's own choice, else the instance's switch."""
        if self.p2p == P2PSetting.ON:
            return True
        if self.p2p == P2PSetting.OFF:
            return False
        if instance_p2p is None:
            instance_p2p = InstanceSettings.load().p2p_enabled
        return instance_p2p

    def min_viewers_effective(self, instance_min_viewers: int | None = None) -> int:
        """The crowd threshold that applies to each of this video's swarms: its own, else the
        instance's."""
        if self.p2p_min_viewers is not None:
            return self.p2p_min_viewers
        if instance_min_viewers is None:
            instance_min_viewers = InstanceSettings.load().p2p_min_viewers
        return instance_min_viewers

    @property
    def streaming_playlist(self) -> "StreamingPlaylist | None":
        """Its HLS playlist, or None (select_related("hls_playlist") spares the query)."""
        try:
            return self.hls_playlist
        except StreamingPlaylist.DoesNotExist:
            return None

    def swarm_info_hashes(self) -> list[bytes]:
        """The infohash of every swarm of this video, as the tracker keys them: its torrents'
        and its HLS renditions'."""
        torrents = [bytes.fromhex(h) for h in self.files.values_list("info_hash", flat=True)]
        renditions = HLSRendition.objects.filter(playlist__video=self).values_list(
            "info_hash", flat=True
        )
        return torrents + [h.encode("ascii") for h in renditions]

    def record_view(self) -> None:
        """Count one view, in the total and in today's row (trending reads the days)."""
        Video.objects.filter(pk=self.pk).update(views=models.F("views") + 1)
        day, created = VideoViewDay.objects.get_or_create(
            video=self, day=timezone.now().date(), defaults={"views": 1}
        )
        if not created:
            VideoViewDay.objects.filter(pk=day.pk).update(views=models.F("views") + 1)


class VideoFile(models.Model):
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="files")
    resolution = models.PositiveIntegerField(help_text="Height in pixels.")
    width = models.PositiveIntegerField()
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    file = models.FileField(upload_to="web-videos/", max_length=200)
    torrent = models.FileField(upload_to="torrents/", max_length=200)
    info_hash = models.CharField("infohash (v1, hex)", max_length=40, unique=True)
    piece_length = models.PositiveIntegerField()

    class Meta:
        ordering = ["-resolution"]
        constraints = [
            models.UniqueConstraint(fields=["video", "resolution"], name="one_file_per_resolution")
        ]

    def __str__(self):
        return f"{self.video.name} ({self.resolution}p)"

    @property
    def filename(self) -> str:
        return Path(self.file.name).name

    @property
    def torrent_filename(self) -> str:
        return Path(self.torrent.name).name

    @property
    def file_url(self) -> str:
        return f"{settings.PUBLIC_URL}/static/web-videos/{self.filename}"

    @property
    def torrent_url(self) -> str:
        return f"{settings.PUBLIC_URL}/lazy-static/torrents/{self.torrent_filename}"

    @property
    def info_hash_bytes(self) -> bytes:
        return bytes.fromhex(self.info_hash)

    @property
    def webseeds(self) -> list[str]:
        # The origin, then those of the apps that provide more (the redundancy app: its copy
        # while published), through the registry in instance/webseeds.py.
        return [self.file_url, *webseeds.extra_webseeds(self)]

    @property
    def magnet_uri(self) -> str:
        return torrents.magnet_uri(
            info_hash=self.info_hash,
            name=self.video.name,
            torrent_url=self.torrent_url,
            webseeds=self.webseeds,
        )


class VideoViewDay(models.Model):
    """Views of a video on one day (UTC). Counts only: nothing about who watched."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="view_days")
    day = models.DateField()
    views = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["video", "day"], name="one_row_per_day")]

    def __str__(self):
        return f"{self.video_id} {self.day}: {self.views}"


class StreamingPlaylist(models.Model):
    """A video's HLS streaming playlist (PeerTube's VideoStreamingPlaylist of type HLS): the
    master playlist, a playlist per rendition and its segments as separate files in
    HLS_ROOT/<video uuid>/, and the SHA-256 of every segment in a JSON beside them.

    Players share its segments over P2P with p2p-media-loader, one swarm per rendition."""

    HLS = 1  # PeerTube's VideoStreamingPlaylistType.HLS
    MASTER_NAME = "master.m3u8"
    SEGMENTS_SHA256_NAME = "segments-sha256.json"

    video = models.OneToOneField(Video, on_delete=models.CASCADE, related_name="hls_playlist")
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
        return f"{self.resolution}.m3u8"

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
