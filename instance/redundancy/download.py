"""Making a redundancy copy: HTTP Range downloads from the origin webseed, every piece verified.

The copy is written to `<file>.part` in PEERVEIL_REDUNDANCY_ROOT, only pieces whose SHA-1 matches
the torrent's; a last pass re-reads and re-hashes the whole part file, and only then is it renamed
to its final name (atomic on one file system) and published. Nothing partial is ever served: the
copy's URL answers only for a published copy.

Resume, not restart: a download that stopped (worker killed, network error) continues from its
part file, whose leading pieces are hashed again first: a piece torn by the kill fails its hash and
is fetched again. A run downloads for at most SLICE_SECONDS and then queues its own continuation,
so a one-process worker also runs the periodic announces and checks while a large file comes in.

A run holds a claim on the copy (a random token in its row): a check that finds the copy stalled
or drops it takes the claim away, and the run stops at its next chunk.
"""

import hashlib
import http.client
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from django.utils import timezone

from tracker.core import bdecode

from . import USER_AGENT, lifecycle
from .models import COPY_IN_PROGRESS, CopyState, RedundancyCopy

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 30
# Bytes asked for in one Range request (whole pieces); the progress bar moves once per chunk.
CHUNK_BYTES = 4 * 1024 * 1024
SLICE_SECONDS = 60.0


class TransientDownloadError(Exception):
    """The network or the origin failed for now: retry later (Celery, with backoff)."""

    claim = ""


class PermanentDownloadError(Exception):
    """The copy cannot be made as things are (corrupt piece, origin file gone or changed)."""


@dataclass(frozen=True)
class Pieces:
    piece_length: int
    length: int
    hashes: tuple[bytes, ...]

    @classmethod
    def from_torrent(cls, metainfo: bytes) -> "Pieces":
        info = bdecode(metainfo)[b"info"]
        pieces = info[b"pieces"]
        hashes = tuple(pieces[i : i + 20] for i in range(0, len(pieces), 20))
        return cls(info[b"piece length"], info[b"length"], hashes)

    def bounds(self, index: int) -> tuple[int, int]:
        start = index * self.piece_length
        return start, min(start + self.piece_length, self.length)

    def matches(self, index: int, data: bytes) -> bool:
        return hashlib.sha1(data).digest() == self.hashes[index]


def verified_prefix(path: Path, pieces: Pieces) -> int:
    """Bytes at the start of `path` made of whole pieces that match their hashes."""
    if not path.exists():
        return 0
    done = 0
    with path.open("rb") as source:
        for index in range(len(pieces.hashes)):
            start, end = pieces.bounds(index)
            data = source.read(end - start)
            if len(data) != end - start or not pieces.matches(index, data):
                break
            done = end
    return done


def fetch(url: str, start: int, end: int, total: int) -> bytes:
    """Bytes [start, end) of the origin file of `total` bytes, with one Range request."""
    request = Request(url, headers={"Range": f"bytes={start}-{end - 1}", "User-Agent": USER_AGENT})
    try:
        with urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            if response.status != 206:
                raise PermanentDownloadError(
                    f"The origin answered {response.status} to a Range request (206 needed)."
                )
            if response.headers.get("Content-Range") != f"bytes {start}-{end - 1}/{total}":
                raise PermanentDownloadError(
                    "The origin file's size differs from the torrent's: the file was changed."
                )
            data = response.read()
    except HTTPError as error:
        if error.code >= 500 or error.code in (408, 429):
            raise TransientDownloadError(f"the origin answered HTTP {error.code}") from error
        raise PermanentDownloadError(f"The origin answered HTTP {error.code}.") from error
    except (URLError, OSError, http.client.HTTPException) as error:
        raise TransientDownloadError(f"network error: {error}") from error
    if len(data) != end - start:
        raise TransientDownloadError(f"short read: {len(data)} of {end - start} bytes")
    return data


def _beat(copy: RedundancyCopy, claim: str, **fields) -> bool:
    """Record progress (a sign of life) if this run still holds the copy."""
    return bool(
        RedundancyCopy.objects.filter(pk=copy.pk, claim=claim, state__in=COPY_IN_PROGRESS).update(
            heartbeat=timezone.now(), **fields
        )
    )


def run_claim(run_id: str) -> str:
    """The claim a run takes, derived from its id (the task's): the same message, delivered
    again after its worker was killed, takes up its own claim again."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:32]


def download_slice(copy_id: int, claim: str = "", run_id: str = "") -> str | None:
    """Work on a copy for up to SLICE_SECONDS. Without `claim`, claim a queued copy first (or
    take up the claim of `run_id` again).

    Returns the claim to continue with, or None when there is nothing more to do (published,
    failed, or no longer this run's). Raises TransientDownloadError (with .claim) to be retried.
    """
    fresh = not claim
    if fresh:
        claim = run_claim(run_id) if run_id else uuid.uuid4().hex
        claimed = RedundancyCopy.objects.filter(pk=copy_id, state=CopyState.QUEUED).update(
            state=CopyState.DOWNLOADING,
            claim=claim,
            heartbeat=timezone.now(),
            state_changed=timezone.now(),
        )
        if not claimed and not _beat(RedundancyCopy(pk=copy_id), claim):
            return None
    copy = (
        RedundancyCopy.objects.select_related("video_file__video")
        .filter(pk=copy_id, claim=claim, state__in=COPY_IN_PROGRESS)
        .first()
    )
    if copy is None:
        return None
    try:
        return _work(copy, claim, fresh)
    except TransientDownloadError as error:
        _beat(copy, claim, reason=f"Retrying after {error}."[:300])
        error.claim = claim
        raise
    except PermanentDownloadError as error:
        lifecycle.copy_failed(copy.pk, claim, str(error))
        return None
    except Exception as error:
        lifecycle.copy_failed(copy.pk, claim, f"Unexpected error: {error!r}")
        raise


def _work(copy: RedundancyCopy, claim: str, fresh: bool) -> str | None:
    video_file = copy.video_file
    pieces = Pieces.from_torrent(Path(video_file.torrent.path).read_bytes())
    if pieces.length != video_file.size:
        raise PermanentDownloadError("The torrent's length differs from the file's size.")
    part = copy.part_path
    part.parent.mkdir(parents=True, exist_ok=True)
    # A run killed between the rename and the database update left a whole, unpublished file:
    # take it back as the part file (a fresh run then checks its hashes; a continuation, whose
    # bytes_done is the whole file, verifies it before publishing).
    if copy.path.exists():
        os.replace(copy.path, part)
    if fresh:
        done = verified_prefix(part, pieces)
        if done:
            logger.info(
                "redundancy: copy %d resumes at %d of %d bytes", copy.pk, done, pieces.length
            )
    else:
        done = copy.bytes_done
    with part.open("ab"):
        pass
    os.truncate(part, done)
    if not _beat(copy, claim, bytes_done=done, reason=""):
        return None
    deadline = time.monotonic() + SLICE_SECONDS
    per_request = max(1, CHUNK_BYTES // pieces.piece_length)
    with part.open("r+b") as out:
        out.seek(done)
        while done < pieces.length:
            first = done // pieces.piece_length
            last = min(first + per_request, len(pieces.hashes)) - 1
            start, end = pieces.bounds(first)[0], pieces.bounds(last)[1]
            data = fetch(video_file.file_url, start, end, pieces.length)
            for index in range(first, last + 1):
                piece_start, piece_end = pieces.bounds(index)
                piece = data[piece_start - start : piece_end - start]
                if not pieces.matches(index, piece):
                    # Fetched again once, alone: a second mismatch is the origin's file.
                    piece = fetch(video_file.file_url, piece_start, piece_end, pieces.length)
                    if not pieces.matches(index, piece):
                        raise PermanentDownloadError(
                            f"Piece {index} of {len(pieces.hashes)} does not match the "
                            "torrent's SHA-1: the origin file is corrupt or was changed."
                        )
                out.write(piece)
            out.flush()
            done = end
            if not _beat(copy, claim, bytes_done=done):
                return None
            if done < pieces.length and time.monotonic() > deadline:
                return claim  # at least one chunk per slice: every slice makes progress
        os.fsync(out.fileno())
    if not _beat(copy, claim, state=CopyState.VERIFYING, state_changed=timezone.now()):
        return None
    copy.state = CopyState.VERIFYING
    if verified_prefix(part, pieces) != pieces.length:
        raise PermanentDownloadError("The downloaded file does not match the torrent on disk.")
    os.replace(part, copy.path)
    if not lifecycle.publish(copy, claim):
        # Dropped meanwhile: the check that dropped it may have missed the renamed file.
        copy.path.unlink(missing_ok=True)
    return None
