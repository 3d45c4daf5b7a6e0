"""The redundancy program's models: strategies and the copies they keep.

PeerTube's design: views counted per day (its videoView table, here instance.models.VideoViewDay)
so that "trending" can rank by recent views; strategies most-views, trending and recently-added,
each with a size budget and a minimum lifetime (config redundancy.videos.strategies); one row per
copy (videoRedundancy) with the date it may expire. The workflow that moves copies between states
is check.py and lifecycle.py.

The tables keep the names they had when these models belonged to the `instance` app
(db_table): moving the models to this app changed no table (migrations/0001_initial.py).
"""

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from instance.models import Video, VideoFile

GIB = 1024**3
# A copy that failed (corrupt origin piece, origin gone) is tried again this long after, not at
# every check: re-downloading a whole file every few minutes would only waste the origin's
# bandwidth while an admin looks at the reason.
FAILED_COPY_RETRY_AFTER = timedelta(hours=24)
# A copy in progress whose download has shown no sign of life (a written chunk, a retry) for this
# long lost its worker (killed, restarted, message lost): the next check queues it again.
STALLED_COPY_AFTER = timedelta(minutes=10)


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
        db_table = "instance_redundancystrategy"
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
    # The identity the copy announces with as a seeder (seeding.py).
    peer_id = models.CharField(max_length=20, blank=True)
    next_announce_at = models.DateTimeField(null=True, blank=True)
    # Re-verification of a published copy (verify.py): when its bytes last
    # matched the torrent's SHA-1s (whole at publication, a window of pieces at each check since),
    # and the piece the next check's window starts at.
    verified_at = models.DateTimeField(null=True, blank=True)
    verify_cursor = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    objects = RedundancyCopyQuerySet.as_manager()

    class Meta:
        db_table = "instance_redundancycopy"
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
    def piece_count(self) -> int:
        return max(1, -(-self.video_file.size // self.video_file.piece_length))

    @property
    def unpublished_corrupt(self) -> bool:
        """Failed after it was published: a check found it corrupted on disk."""
        return self.state == CopyState.FAILED and self.published_at is not None

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


def published_copy_urls(video_file: VideoFile) -> list[str]:
    """The webseeds this app adds to a file: its copy while published (apps.py registers it)."""
    return RedundancyCopy.objects.published_urls(video_file)
