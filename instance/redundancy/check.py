"""The redundancy program: which video files get an automated copy, and each copy's life cycle.

If automated programs fetch videos on their own, an address in a swarm no longer proves that a
person chose to watch. PeerTube's VideosRedundancyScheduler is the model: strategies most-views,
trending and recently-added, each filling its own size budget, and a copy is kept at least its
minimum lifetime before a better candidate may take its place.

Unlike PeerTube, which duplicates one random top video per strategy and run, a check here computes
the whole desired set, deterministically, and changes only the difference: the same check run
twice changes nothing. The copy's states:

    queued -> downloading -> verifying -> published -> expired
                    \\-> failed (a corrupt piece, the origin gone; tried again a day later)
    published -> failed (corrupted on disk since: unpublished by a check; tried again a day later)

The changes of state of one copy (publish, drop, fail) are lifecycle.py; downloads, download.py;
announcing as a seeder, seeding.py; re-verifying published copies, verify.py.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from instance.models import InstanceSettings

from .lifecycle import drop, sweep_orphan_files
from .models import (
    COPY_IN_PROGRESS,
    CopyState,
    RedundancyCopy,
    RedundancyStrategy,
    RedundancyStrategyName,
)

logger = logging.getLogger(__name__)


@dataclass
class CheckResult:
    queued: list[int] = field(default_factory=list)  # copies to download: new, retried, stalled
    renewed: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)  # in-progress copies now owned by another
    # Copies an earlier check queued that no download has claimed yet: their task may have been
    # lost with a worker killed between the row and the message. Sent again, a duplicate finds
    # the copy claimed and does nothing; not a change.
    unclaimed: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.queued or self.renewed or self.dropped or self.moved)


def desired_files(
    strategies: list[RedundancyStrategy], copies: dict[int, RedundancyCopy], now: datetime
) -> dict[int, str]:
    """Video file id -> the strategy that wants a copy of it, every budget respected.

    A published copy younger than its minimum lifetime stays with its strategy and counts
    against its budget first; the strategies then fill what is left in their order (PeerTube's
    order), each taking its ranked files that still fit. A file is copied once, for the first
    strategy that wants it. A copy that failed is not tried again before its retry is due.
    Switching a strategy off, or P2P off for a video, ends its copies' lifetime at once."""
    instance_p2p = InstanceSettings.load().p2p_enabled
    enabled = {strategy.name: strategy for strategy in strategies if strategy.enabled}
    wanted = {
        file_id: copy.strategy
        for file_id, copy in copies.items()
        if copy.is_protected(now)
        and copy.strategy in enabled
        and copy.video_file.video.p2p_effective(instance_p2p)
    }
    for strategy in enabled.values():
        used = sum(
            copy.video_file.size
            for file_id, copy in copies.items()
            if wanted.get(file_id) == strategy.name
        )
        for video_file in strategy.ranked_files(instance_p2p):
            copy = copies.get(video_file.id)
            if video_file.id in wanted or (
                copy and copy.state == CopyState.FAILED and not copy.retry_due(now)
            ):
                continue
            if used + video_file.size <= strategy.size_budget:
                wanted[video_file.id] = strategy.name
                used += video_file.size
    return wanted


def run_check(now: datetime | None = None) -> CheckResult:
    """Bring the copies to the desired set: queue new ones, renew or drop the rest."""
    now = now or timezone.now()
    strategies = list(RedundancyStrategy.objects.all())
    lifetimes = {strategy.name: strategy.min_lifetime for strategy in strategies}
    copies = {
        copy.video_file_id: copy
        for copy in RedundancyCopy.objects.select_related("video_file__video")
    }
    wanted = desired_files(strategies, copies, now)
    result = CheckResult()
    for file_id, strategy in wanted.items():
        copy = copies.get(file_id)
        if copy is None:
            copy, created = RedundancyCopy.objects.get_or_create(
                video_file_id=file_id,
                defaults={"strategy": strategy, "heartbeat": now, "state_changed": now},
            )
            if created:
                result.queued.append(copy.pk)
        elif copy.state in (CopyState.EXPIRED, CopyState.FAILED):
            if _requeue(copy, strategy, now):
                result.queued.append(copy.pk)
        elif copy.state == CopyState.PUBLISHED:
            if not copy.is_protected(now) and _renew(copy, strategy, now + lifetimes[strategy]):
                result.renewed.append(copy.pk)
        else:
            if copy.strategy != strategy and _move(copy, strategy):
                result.moved.append(copy.pk)
            if copy.is_stalled(now) and _restart_stalled(copy, now):
                result.queued.append(copy.pk)
            elif copy.state == CopyState.QUEUED:
                result.unclaimed.append(copy.pk)
    unwanted = [
        copy
        for file_id, copy in copies.items()
        if file_id not in wanted and copy.state in (*COPY_IN_PROGRESS, CopyState.PUBLISHED)
    ]
    for copy in unwanted:
        if drop(copy, _drop_reason(copy, strategies), now):
            result.dropped.append(copy.pk)
    sweep_orphan_files()
    if result.changed:
        logger.info(
            "redundancy check: %d queued, %d renewed, %d dropped",
            len(result.queued),
            len(result.renewed),
            len(result.dropped),
        )
    return result


def _drop_reason(copy: RedundancyCopy, strategies: list[RedundancyStrategy]) -> str:
    label = RedundancyStrategyName(copy.strategy).label
    if not any(s.name == copy.strategy and s.enabled for s in strategies):
        return f"Strategy {label} was switched off."
    if not copy.video_file.video.p2p_effective():
        return "P2P is off for this video: nobody loads its torrent and webseeds."
    if copy.state == CopyState.PUBLISHED:
        return f"Lifetime over and no longer selected by {label}."
    return f"No longer selected by {label} before it was published."


def _requeue(copy: RedundancyCopy, strategy: str, now) -> bool:
    return bool(
        RedundancyCopy.objects.filter(pk=copy.pk, state=copy.state).update(
            state=CopyState.QUEUED,
            strategy=strategy,
            state_changed=now,
            heartbeat=now,
            reason="",
            bytes_done=0,
            claim="",
            published_at=None,
            expires_at=None,
            peer_id="",
            next_announce_at=None,
            verified_at=None,
            verify_cursor=0,
        )
    )


def _renew(copy: RedundancyCopy, strategy: str, expires_at) -> bool:
    # PeerTube extends an expired copy that its strategy still selects (extendsLocalExpiration).
    return bool(
        RedundancyCopy.objects.filter(pk=copy.pk, state=CopyState.PUBLISHED).update(
            strategy=strategy, expires_at=expires_at
        )
    )


def _move(copy: RedundancyCopy, strategy: str) -> bool:
    return bool(
        RedundancyCopy.objects.filter(pk=copy.pk, state__in=COPY_IN_PROGRESS).update(
            strategy=strategy
        )
    )


def _restart_stalled(copy: RedundancyCopy, now) -> bool:
    # Only if nothing changed since it was read: a live download would have moved heartbeat.
    return bool(
        RedundancyCopy.objects.filter(
            pk=copy.pk, state=copy.state, claim=copy.claim, heartbeat=copy.heartbeat
        ).update(
            state=CopyState.QUEUED,
            claim="",
            heartbeat=now,
            state_changed=now,
            reason="The download stopped without finishing (worker stopped?): resuming.",
        )
    )
