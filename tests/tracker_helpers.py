"""Shared set-up for the tracker's shell tests: videos with chosen infohashes, wire ids."""

import hashlib
import itertools

from instance.models import (
    HLSRendition,
    InstanceSettings,
    P2PSetting,
    StreamingPlaylist,
    Video,
    VideoFile,
)
from tracker.service import service

_numbers = itertools.count()


def make_info_hash(label: str) -> bytes:
    return hashlib.sha1(label.encode()).digest()


def add_video(label: str, p2p: str = P2PSetting.INHERIT) -> bytes:
    """A catalogue video whose one file has the infohash of `label` (no bytes on disk needed),
    loaded by this process's tracker at once, as an import is by a server's poller."""
    info_hash = make_info_hash(label)
    number = next(_numbers)
    video = Video.objects.create(name=label, duration=1, p2p=p2p)
    VideoFile.objects.create(
        video=video,
        resolution=360,
        width=640,
        size=1,
        file=f"web-videos/{number}.mp4",
        torrent=f"torrents/{number}.torrent",
        info_hash=info_hash.hex(),
        piece_length=16384,
    )
    service.reload()
    return info_hash


def wire(raw: bytes) -> str:
    return raw.decode("latin-1")


def peer_id(n: int) -> bytes:
    return f"-WW0208-{n:012d}".encode()


def set_tracker_limits(**limits) -> None:
    """Save instance settings (validated as the panel does) and apply them to the tracker now."""
    row = InstanceSettings.load()
    for name, value in limits.items():
        setattr(row, name, value)
    row.full_clean()
    row.save()
    service.reload()


def add_hls_video(label: str, p2p: str = P2PSetting.INHERIT) -> tuple[Video, list[bytes]]:
    """A catalogue video with a torrent (add_video) and two HLS renditions, rows only; returns
    it and the swarms of its renditions (20 ASCII characters each, as players announce them),
    highest first, loaded by this process's tracker at once."""
    add_video(label, p2p)
    video = Video.objects.get(name=label)
    playlist = StreamingPlaylist.objects.create(video=video)
    for height, width, bandwidth in ((720, 1280, 1_200_000), (480, 854, 600_000)):
        rendition = HLSRendition(
            playlist=playlist,
            resolution=height,
            width=width,
            frame_rate="24.000",
            bandwidth=bandwidth,
            codecs="avc1.64001f,mp4a.40.2",
            size=1,
            segment_count=1,
        )
        rendition.info_hash = rendition.derive_info_hash()
        rendition.save()
    service.reload()
    return video, [r.info_hash_bytes for r in playlist.renditions.all()]
