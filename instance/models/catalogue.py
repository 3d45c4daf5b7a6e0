"""The instance's catalogue: videos, their files and torrents, and their views per day."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from tracker.core import MAX_CROWD_THRESHOLD

from .. import torrents, webseeds
from .instance_settings import InstanceSettings
from .streaming import HLSRendition, StreamingPlaylist


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

    @property
    def top_file(self) -> "VideoFile | None":
        """Its highest-resolution file (files are ordered that way): what the webtorrent player
        streams and what HLS is encoded from."""
        return next(iter(self.files.all()), None)

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
