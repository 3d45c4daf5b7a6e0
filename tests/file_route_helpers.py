"""A folder for each file route with one real file in it, a secret beside them, and reading
a response's body whether it streams (asynchronously) or not."""

from pathlib import Path

from asgiref.sync import async_to_sync

from instance.models import StreamingPlaylist, Video, VideoFile
from instance.redundancy.models import CopyState, RedundancyCopy
from instance.torrents import build_torrent

MARKER = b"peerveil-outside-secret-7c1e"
# The published video's uuid, so that its HLS route has a fixed prefix.
HLS_UUID = "4f0c2d7e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"


def body(response) -> bytes:
    if not response.streaming:
        return response.content

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)()


def make_roots(settings, tmp_path: Path) -> dict[str, Path]:
    """Media, redundancy and collected-assets folders in tmp, a secret beside them, and a
    published video file with its torrent, redundancy copy and HLS playlist."""
    settings.REDUNDANCY_ROOT = tmp_path / "redundancy"
    settings.STATIC_ROOT = tmp_path / "assets"
    media = settings.MEDIA_ROOT
    for folder in (media / "web-videos", media / "torrents", settings.REDUNDANCY_ROOT):
        folder.mkdir(parents=True)
    settings.STATIC_ROOT.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("secret", "secret.mp4", "secret.torrent", "secret.js"):
        (outside / name).write_bytes(MARKER)
    (media / "web-videos" / "good.mp4").write_bytes(b"video bytes")
    built = build_torrent(media / "web-videos" / "good.mp4", name="good.mp4", webseeds=[])
    (media / "torrents" / "good.torrent").write_bytes(built.metainfo)
    (settings.REDUNDANCY_ROOT / "good.mp4").write_bytes(b"video bytes")
    hls = settings.HLS_ROOT / HLS_UUID
    hls.mkdir(parents=True)
    (hls / "master.m3u8").write_bytes(b"#EXTM3U\n")
    video = Video.objects.create(name="Safe", duration=1, uuid=HLS_UUID)
    StreamingPlaylist.objects.create(video=video)
    video_file = VideoFile.objects.create(
        video=video,
        resolution=360,
        width=640,
        size=11,
        file="web-videos/good.mp4",
        torrent="torrents/good.torrent",
        info_hash=built.info_hash,
        piece_length=built.piece_length,
    )
    RedundancyCopy.objects.create(
        video_file=video_file, strategy="most-views", state=CopyState.PUBLISHED
    )
    return {
        "media": media,
        "redundancy": settings.REDUNDANCY_ROOT,
        "assets": settings.STATIC_ROOT,
        "hls": hls,
        "outside": outside,
    }
