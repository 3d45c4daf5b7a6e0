"""Shared set-up for the tracker's shell tests: videos with chosen infohashes, wire ids."""

import hashlib
import itertools

from instance.models import InstanceSettings, P2PSetting, Video, VideoFile
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
