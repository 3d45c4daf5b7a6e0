"""The instance's catalogue: videos, their files and torrents, and the instance-wide settings."""

import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from . import torrents

# The tracker never lists more peers than this in one reply, whatever an admin sets: classic
# trackers cap at 50 by default (interop-notes) and the privacy FAQ promises small samples.
HARD_MAX_PEERS_PER_REPLY = 50


def default_max_peers_per_reply() -> int:
    return min(settings.TRACKER_MAX_PEERS_PER_REPLY, HARD_MAX_PEERS_PER_REPLY)


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
    max_peers_per_reply = models.PositiveSmallIntegerField(
        default=default_max_peers_per_reply,
        validators=[MinValueValidator(1), MaxValueValidator(HARD_MAX_PEERS_PER_REPLY)],
        help_text="Peers listed per HTTP tracker reply and offers relayed per announce.",
    )
    announce_interval = models.PositiveIntegerField(
        default=default_announce_interval,
        validators=[MinValueValidator(30), MaxValueValidator(3600)],
        help_text="Seconds between a client's announces.",
    )
    # Spy defences (issue 6): per-address request limits, alarms and blocks, counted in memory
    # only (tracker/core/guard.py, whose GuardConfig has the same defaults and says why).
    guard_window = models.PositiveIntegerField(
        "counting window", default=300, validators=[MinValueValidator(60), MaxValueValidator(86400)]
    )
    max_videos_per_address = models.PositiveIntegerField(
        "videos per address", default=8, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    max_videos_at_once = models.PositiveIntegerField(
        "videos at once per address",
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    max_sockets_per_address = models.PositiveIntegerField(
        "connections per address",
        default=16,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
    )
    max_messages_per_socket = models.PositiveIntegerField(
        "messages per connection per minute",
        default=120,
        validators=[MinValueValidator(10), MaxValueValidator(100000)],
    )
    max_messages_per_address = models.PositiveIntegerField(
        "messages per address per minute",
        default=600,
        validators=[MinValueValidator(10), MaxValueValidator(1000000)],
    )
    max_http_requests_per_address = models.PositiveIntegerField(
        "HTTP requests per address",
        default=300,
        validators=[MinValueValidator(10), MaxValueValidator(1000000)],
    )
    max_http_announces_per_video = models.PositiveIntegerField(
        "HTTP announces per address and video",
        default=100,
        validators=[MinValueValidator(2), MaxValueValidator(100000)],
    )
    breaches_before_block = models.PositiveIntegerField(
        "breaches before a block",
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    block_seconds = models.PositiveIntegerField(
        "block duration",
        default=3600,
        validators=[MinValueValidator(60), MaxValueValidator(604800)],
    )
    alarm_videos = models.PositiveIntegerField(
        "alarm: videos per address",
        default=6,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    alarm_early_announces = models.PositiveIntegerField(
        "alarm: early announces per address",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100000)],
    )
    alarm_unknown_videos = models.PositiveIntegerField(
        "alarm: unknown videos per address",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    alarm_sockets = models.PositiveIntegerField(
        "alarm: connections per address",
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
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
        # The origin, then the redundancy copy while it is published (instance/redundancy.py).
        return [self.file_url, *RedundancyCopy.objects.published_urls(self)]

    @property
    def magnet_uri(self) -> str:
        return torrents.magnet_uri(
            info_hash=self.info_hash,
            name=self.video.name,
            torrent_url=self.torrent_url,
            webseeds=self.webseeds,
        )


# --- Redundancy program (issue 7) -------------------------------------------------------------
# PeerTube's design: views counted per day (its videoView table) so that "trending" can rank by
# recent views; strategies most-views, trending and recently-added, each with a size budget and a
# minimum lifetime (config redundancy.videos.strategies); one row per copy (videoRedundancy) with
# the date it may expire. The workflow that moves copies between states is instance/redundancy.py.

GIB = 1024**3
# A copy that failed (corrupt origin piece, origin gone) is tried again this long after, not at
# every check: re-downloading a whole file every few minutes would only waste the origin's
# bandwidth while an admin looks at the reason.
FAILED_COPY_RETRY_AFTER = timedelta(hours=24)
# A copy in progress whose download has shown no sign of life (a written chunk, a retry) for this
# long lost its worker (killed, restarted, message lost): the next check queues it again.
STALLED_COPY_AFTER = timedelta(minutes=10)


class VideoViewDay(models.Model):
    """Views of a video on one day (UTC). Counts only: nothing about who watched."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="view_days")
    day = models.DateField()
    views = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["video", "day"], name="one_row_per_day")]

    def __str__(self):
        return f"{self.video_id} {self.day}: {self.views}"


class RedundancyStrategyName(models.TextChoices):
    MOST_VIEWS = "most-views", "Most views"
    TRENDING = "trending", "Trending"
    RECENTLY_ADDED = "recently-added", "Recently added"


class RedundancyStrategy(models.Model):
    """One of PeerTube's three strategies; defaults are those of PeerTube's example config."""

    name = models.CharField(max_length=20, choices=RedundancyStrategyName.choices, unique=True)
    enabled = models.BooleanField(default=False)
    size_budget = models.PositiveBigIntegerField(
        default=10 * GIB, help_text="Bytes that this strategy's copies may take."
    )
    min_lifetime_hours = models.PositiveIntegerField(
        default=48,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 365)],
        help_text="Hours a published copy is kept before a better candidate may replace it.",
    )
    trending_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Trending: views of the last this many days (today included) count.",
    )
    min_views = models.PositiveIntegerField(
        default=10, help_text="Recently added: only videos with at least this many views."
    )

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "redundancy strategies"

    def __str__(self):
        return self.get_name_display()

    @property
    def min_lifetime(self) -> timedelta:
        return timedelta(hours=self.min_lifetime_hours)

    def ranked_files(self, instance_p2p: bool) -> models.QuerySet:
        """The files this strategy would copy, best first (a video's files stay together).

        Only videos with P2P in effect: a copy serves as a webseed of the torrent, which a
        video without P2P never loads."""
        files = VideoFile.objects.select_related("video").filter(
            video__in=Video.objects.p2p_enabled(instance_p2p)
        )
        then = ("-video__created", "-video__id", "-resolution")
        if self.name == RedundancyStrategyName.MOST_VIEWS:
            return files.filter(video__views__gt=0).order_by("-video__views", *then)
        if self.name == RedundancyStrategyName.TRENDING:
            since = timezone.now().date() - timedelta(days=self.trending_days - 1)
            recent = models.Sum(
                "video__view_days__views", filter=models.Q(video__view_days__day__gte=since)
            )
            return files.annotate(recent=recent).filter(recent__gt=0).order_by("-recent", *then)
        return files.filter(video__views__gte=self.min_views).order_by(*then)


class CopyState(models.TextChoices):
    QUEUED = "queued", "Queued"
    DOWNLOADING = "downloading", "Downloading"
    VERIFYING = "verifying", "Verifying"
    PUBLISHED = "published", "Published"
    EXPIRED = "expired", "Expired"
    FAILED = "failed", "Failed"


COPY_IN_PROGRESS = (CopyState.QUEUED, CopyState.DOWNLOADING, CopyState.VERIFYING)


class RedundancyCopyQuerySet(models.QuerySet):
    def published(self) -> "RedundancyCopyQuerySet":
        return self.filter(state=CopyState.PUBLISHED)

    def published_urls(self, video_file: "VideoFile") -> list[str]:
        return [copy.url for copy in self.published().filter(video_file=video_file)]

    def holding_space(self) -> "RedundancyCopyQuerySet":
        """Copies that take (or are about to take) room in the redundancy storage."""
        return self.filter(state__in=[*COPY_IN_PROGRESS, CopyState.PUBLISHED])

    def used_bytes(self) -> int:
        return self.holding_space().aggregate(total=models.Sum("video_file__size"))["total"] or 0


class RedundancyCopy(models.Model):
    """The redundancy copy of one video file: at most one per file, reused when copied again."""

    video_file = models.OneToOneField(
        VideoFile, on_delete=models.CASCADE, related_name="redundancy_copy"
    )
    strategy = models.CharField(max_length=20, choices=RedundancyStrategyName.choices)
    state = models.CharField(max_length=12, choices=CopyState.choices, default=CopyState.QUEUED)
    state_changed = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=300, blank=True, help_text="Why it failed or expired.")
    bytes_done = models.PositiveBigIntegerField(default=0)
    # The download run allowed to write this copy; a run that lost it (stalled, dropped) stops.
    claim = models.CharField(max_length=32, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The identity the copy announces with as a seeder (instance/redundancy_seeding.py).
    peer_id = models.CharField(max_length=20, blank=True)
    next_announce_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = RedundancyCopyQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "redundancy copies"

    def __str__(self):
        return f"copy of {self.video_file} ({self.state})"

    @property
    def filename(self) -> str:
        return self.video_file.filename

    @property
    def path(self) -> Path:
        return settings.REDUNDANCY_ROOT / self.filename

    @property
    def part_path(self) -> Path:
        return settings.REDUNDANCY_ROOT / f"{self.filename}.part"

    @property
    def url(self) -> str:
        return f"{settings.PUBLIC_URL}/static/redundancy/{self.filename}"

    @property
    def progress(self) -> int:
        """Percent of the file downloaded and verified."""
        size = self.video_file.size
        return 100 if size == 0 else min(100, self.bytes_done * 100 // size)

    def is_protected(self, now) -> bool:
        """Published and younger than its minimum lifetime: no candidate may replace it."""
        return self.state == CopyState.PUBLISHED and bool(self.expires_at and self.expires_at > now)

    def retry_due(self, now) -> bool:
        due = self.state_changed + FAILED_COPY_RETRY_AFTER
        return self.state == CopyState.FAILED and due <= now

    def is_stalled(self, now) -> bool:
        return self.state in COPY_IN_PROGRESS and (
            self.heartbeat is None or self.heartbeat + STALLED_COPY_AFTER <= now
        )
