"""The changes of state of one redundancy copy: published, dropped (expired, or failed when found
corrupt on disk), failed during its download; and the files in the redundancy storage.

Each change is a conditional UPDATE of the copy's row (on the state, and on the claim of the
download run that holds it): two runs or checks acting at once change it once.
"""

import logging
import random
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from . import seeding
from .models import COPY_IN_PROGRESS, CopyState, RedundancyCopy, RedundancyStrategy

logger = logging.getLogger(__name__)


def drop(
    copy: RedundancyCopy,
    reason: str,
    now: datetime | None = None,
    *,
    state: CopyState = CopyState.EXPIRED,
) -> bool:
    """Unpublish and delete a copy (state expired, or failed: corrupted on disk), then leave its
    swarm. A failed one is tried again like a failed download (FAILED_COPY_RETRY_AFTER).

    The row changes first, so the copy leaves the webseed lists before its file goes away."""
    now = now or timezone.now()
    updated = RedundancyCopy.objects.filter(pk=copy.pk, state=copy.state).update(
        state=state,
        reason=reason[:300],
        claim="",
        state_changed=now,
        next_announce_at=None,
    )
    if not updated:
        return False
    remove_files(copy)
    if copy.state == CopyState.PUBLISHED:
        seeding.stop(copy)
    return True


def copy_failed(copy_id: int, claim: str, reason: str) -> bool:
    """Mark the copy failed (never published) if this download run still holds it."""
    copy = RedundancyCopy.objects.select_related("video_file").filter(pk=copy_id).first()
    if copy is None:
        return False
    updated = RedundancyCopy.objects.filter(
        pk=copy_id, claim=claim, state__in=COPY_IN_PROGRESS
    ).update(state=CopyState.FAILED, reason=reason[:300], claim="", state_changed=timezone.now())
    if updated:
        remove_files(copy)
        logger.warning("redundancy: copy %d failed: %s", copy_id, reason)
    return bool(updated)


def publish(copy: RedundancyCopy, claim: str, rng: random.Random | None = None) -> bool:
    """Make a verified copy (already at its final path) a webseed, for its minimum lifetime.

    Its re-verification (verify.py) starts at a random piece: no part of the file is
    always checked first."""
    now = timezone.now()
    start = (rng or random.SystemRandom()).randrange(copy.piece_count)
    strategy = RedundancyStrategy.objects.filter(name=copy.strategy).first()
    lifetime = (strategy or RedundancyStrategy(name=copy.strategy)).min_lifetime
    copy.state, copy.peer_id = CopyState.PUBLISHED, seeding.new_peer_id()
    updated = RedundancyCopy.objects.filter(
        pk=copy.pk, claim=claim, state=CopyState.VERIFYING
    ).update(
        state=CopyState.PUBLISHED,
        claim="",
        reason="",
        state_changed=now,
        heartbeat=now,
        bytes_done=copy.video_file.size,
        published_at=now,
        expires_at=now + lifetime,
        peer_id=copy.peer_id,
        next_announce_at=None,
        verified_at=now,
        verify_cursor=start,
    )
    if updated:
        seeding.start(copy)
    return bool(updated)


def remove_files(copy: RedundancyCopy) -> None:
    copy.path.unlink(missing_ok=True)
    copy.part_path.unlink(missing_ok=True)


def sweep_orphan_files() -> None:
    """Delete files in the redundancy storage that no copy holds (a deleted video, a leftover
    part file of a copy that has since been published or dropped)."""
    root = settings.REDUNDANCY_ROOT
    if not root.is_dir():
        return
    keep: set[str] = set()
    for copy in RedundancyCopy.objects.holding_space().select_related("video_file"):
        keep.add(copy.filename)
        if copy.state != CopyState.PUBLISHED:
            keep.add(copy.part_path.name)
    for path in root.iterdir():
        if path.is_file() and path.name not in keep:
            path.unlink(missing_ok=True)
