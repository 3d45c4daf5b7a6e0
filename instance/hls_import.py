"""Giving a video its HLS streaming playlist: encode, then publish the folder and its rows at once.

Encoding writes into a hidden folder beside the published ones; only a complete encoding is
renamed into place (HLS_ROOT/<uuid>/) and recorded, in one transaction. A failure at any step
leaves neither files nor rows behind.
"""

import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .hls_encoding import EncodingFailed, encode_hls
from .models import HLSRendition, StreamingPlaylist, Video


class HLSFailed(Exception):
    """The video could not get HLS renditions; the message says why."""


def add_hls(video: Video, source: Path) -> StreamingPlaylist:
    """Encode `source` (the video's file) to HLS and publish it as `video`'s playlist."""
    root = Path(settings.HLS_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=root, prefix=f".building-{video.uuid}-"))
    published = root / str(video.uuid)
    try:
        try:
            facts = encode_hls(source, building)
        except EncodingFailed as error:
            raise HLSFailed(str(error)) from error
        with transaction.atomic():
            playlist = StreamingPlaylist.objects.create(video=video)
            for rendition in facts:
                row = HLSRendition(
                    playlist=playlist,
                    resolution=rendition.height,
                    width=rendition.width,
                    frame_rate=rendition.frame_rate,
                    bandwidth=rendition.bandwidth,
                    codecs=rendition.codecs,
                    size=rendition.size,
                    segment_count=rendition.segment_count,
                )
                row.info_hash = row.derive_info_hash()
                row.save()
            # A folder left by a crash before its rows were written is replaced.
            shutil.rmtree(published, ignore_errors=True)
            building.chmod(0o755)  # mkdtemp made it private; its files are public videos
            building.rename(published)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        if not StreamingPlaylist.objects.filter(video=video).exists():
            shutil.rmtree(published, ignore_errors=True)
        raise
    return playlist


def videos_without_hls():
    return Video.objects.filter(hls_playlist__isnull=True).prefetch_related("files")


def source_file(video: Video) -> Path | None:
    """The file to encode from: the video's highest-resolution web video."""
    video_file = video.top_file
    return Path(video_file.file.path) if video_file else None
