"""Importing a video file into the instance: probe, copy into media storage, build its torrent
and its HLS renditions.

Either everything is there afterwards (rows, file, torrent, HLS) or nothing is.
"""

import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .demo_media import NotAVideo, probe_video
from .hls_import import HLSFailed, add_hls
from .models import Video, VideoFile
from .torrents import build_torrent

# Containers browsers play and PeerTube accepts for web videos.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".webm", ".ogv", ".mkv", ".mov"}


class ImportFailed(Exception):
    """The file cannot become a video of this instance; the message says why."""


def import_video(source: Path, *, name: str, description: str = "") -> Video:
    source = Path(source)
    if not source.is_file():
        raise ImportFailed(f"No such file: {source}")
    suffix = source.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ImportFailed(
            f"{source.name}: unsupported extension {suffix or '(none)'}; "
            f"expected one of {', '.join(sorted(VIDEO_SUFFIXES))}"
        )
    name = name.strip()
    if not name or len(name) > Video._meta.get_field("name").max_length:
        raise ImportFailed("The name must have 1 to 120 characters.")
    try:
        probe = probe_video(source)
    except NotAVideo as error:
        raise ImportFailed(f"{source.name} is not a playable video: {error}") from error

    video_uuid = uuid.uuid4()
    stem = f"{video_uuid}-{probe.height}"
    file_name = f"web-videos/{stem}{suffix}"
    torrent_name = f"torrents/{stem}.torrent"
    file_path = settings.MEDIA_ROOT / file_name
    torrent_path = settings.MEDIA_ROOT / torrent_name
    written: list[Path] = []
    try:
        with transaction.atomic():
            file_path.parent.mkdir(parents=True, exist_ok=True)
            torrent_path.parent.mkdir(parents=True, exist_ok=True)
            written.append(file_path)
            shutil.copyfile(source, file_path)
            video = Video.objects.create(
                uuid=video_uuid,
                name=name,
                description=description,
                duration=max(1, int(-(-probe.duration // 1))),
            )
            video_file = VideoFile(
                video=video,
                resolution=probe.height,
                width=probe.width,
                size=file_path.stat().st_size,
                file=file_name,
                torrent=torrent_name,
            )
            built = build_torrent(file_path, name=file_path.name, webseeds=[video_file.file_url])
            written.append(torrent_path)
            torrent_path.write_bytes(built.metainfo)
            video_file.info_hash = built.info_hash
            video_file.piece_length = built.piece_length
            video_file.save()
            try:
                add_hls(video, file_path)
            except HLSFailed as error:
                raise ImportFailed(f"{source.name} cannot be encoded to HLS: {error}") from error
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return video
