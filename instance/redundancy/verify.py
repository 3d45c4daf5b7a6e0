"""Re-verifying published redundancy copies: a copy corrupted on disk after its publication is
unpublished at the next check that reads the bad piece, rather than served for the rest of its life.

A copy was verified whole before its publication (download.py). Re-hashing every copy
whole at every check would read all the copies' bytes every few minutes; instead each check hashes
a window of each copy's pieces against the torrent's SHA-1s: the ceil(n / PASS_CHECKS) pieces from
the copy's cursor, which then moves past them and wraps at the end. So every piece of a copy is
verified again within PASS_CHECKS checks, whatever its size, and a check reads about
1 / PASS_CHECKS of the bytes the copies hold. The cursor starts at a random piece at publication
(lifecycle.publish), so no part of a file is always checked first. A file that is gone or whose
size changed is found by the check after, whatever the cursor (a stat, no read).

A bad copy leaves the webseeds at once (the row first: torrent url-list, magnet ws= and the API
list published copies only), its file is deleted, it sends "stopped" to the tracker, and it is
marked failed with the reason: the check downloads it again after FAILED_COPY_RETRY_AFTER, like a
download that met a corrupt piece.

This runs in the Celery worker (the check_redundancy task), never in a web request: the panel's
"Run the check now" only queues the task.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.utils import timezone

from tracker.core import BencodeError

from . import lifecycle
from .download import Pieces
from .models import FAILED_COPY_RETRY_AFTER, CopyState, RedundancyCopy

logger = logging.getLogger(__name__)

# Checks in which every piece of a copy is verified once: 64 checks are 10 h 40 min at the default
# PEERVEIL_REDUNDANCY_CHECK_INTERVAL of 600 s. A check reads 1/64 of each copy: 16 pieces of a
# file of about 1000 pieces (instance/torrents.py, TARGET_PIECE_COUNT), e.g. 256 KiB of a 16 MB
# file or 64 MiB of a 4 GB one; 0.5 GB per check for copies holding 30 GB.
PASS_CHECKS = 64


@dataclass
class VerifyResult:
    verified: list[int] = field(default_factory=list)  # copies whose window matched
    unpublished: list[int] = field(default_factory=list)
    bytes_read: int = 0


def window(piece_count: int, cursor: int) -> list[int]:
    """The pieces a check verifies: ceil(piece_count / PASS_CHECKS) from `cursor`, wrapping."""
    size = -(-piece_count // PASS_CHECKS)
    return [(cursor + offset) % piece_count for offset in range(size)]


def _retry_note() -> str:
    hours = round(FAILED_COPY_RETRY_AFTER.total_seconds() / 3600)
    return f"Unpublished; downloaded again after {hours} h."


def find_corruption(path: Path, pieces: Pieces, indices: list[int]) -> tuple[str | None, int]:
    """Why the file at `path` no longer matches the torrent in these pieces (None if it does),
    and the bytes read to find out."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"The published file is gone from the redundancy storage. {_retry_note()}", 0
    if size != pieces.length:
        return (
            f"The published file is {size} bytes on disk, not {pieces.length}: it was changed "
            f"after its publication. {_retry_note()}"
        ), 0
    read = 0
    try:
        with path.open("rb") as source:
            for index in indices:
                start, end = pieces.bounds(index)
                source.seek(start)
                data = source.read(end - start)
                read += len(data)
                if not pieces.matches(index, data):
                    return (
                        f"Piece {index} of {len(pieces.hashes)} no longer matches the torrent's "
                        f"SHA-1: the copy was corrupted on disk after its publication. "
                        f"{_retry_note()}"
                    ), read
    except OSError as error:
        return f"Reading the published file failed ({error}). {_retry_note()}", read
    return None, read


def reverify(copy: RedundancyCopy, now: datetime, result: VerifyResult) -> None:
    """Verify the copy's next window of pieces; unpublish it (failed) if one does not match."""
    try:
        pieces = Pieces.from_torrent(Path(copy.video_file.torrent.path).read_bytes())
    except (OSError, BencodeError, KeyError, TypeError) as error:
        # The torrent is the origin's, not the copy's: nothing here says the copy is bad.
        logger.warning("redundancy: copy %d not verified, torrent unreadable: %s", copy.pk, error)
        return
    indices = window(len(pieces.hashes), copy.verify_cursor)
    reason, read = find_corruption(copy.path, pieces, indices)
    result.bytes_read += read
    if reason is not None:
        if lifecycle.drop(copy, reason, now, state=CopyState.FAILED):
            result.unpublished.append(copy.pk)
            logger.warning("redundancy: copy %d unpublished: %s", copy.pk, reason)
        return
    # Only if no other check moved the cursor meanwhile (two checks at once verify it twice).
    RedundancyCopy.objects.filter(
        pk=copy.pk, state=CopyState.PUBLISHED, verify_cursor=copy.verify_cursor
    ).update(verified_at=now, verify_cursor=(indices[-1] + 1) % len(pieces.hashes))
    result.verified.append(copy.pk)


def reverify_published(now: datetime | None = None) -> VerifyResult:
    """One check's re-verification of every published copy."""
    now = now or timezone.now()
    result = VerifyResult()
    for copy in RedundancyCopy.objects.published().select_related("video_file"):
        reverify(copy, now, result)
    if result.verified or result.unpublished:
        logger.info(
            "redundancy verification: %d copies verified, %d unpublished, %d bytes read",
            len(result.verified),
            len(result.unpublished),
            result.bytes_read,
        )
    return result
