"""JSON representations of videos in PeerTube's API shape (GET /api/v1/videos)."""

from .models import Video, VideoFile


def video_file_json(video_file: VideoFile) -> dict:
    return {
        "resolution": {"id": video_file.resolution, "label": f"{video_file.resolution}p"},
        "size": video_file.size,
        "infoHash": video_file.info_hash,
        "magnetUri": video_file.magnet_uri,
        "torrentUrl": video_file.torrent_url,
        "fileUrl": video_file.file_url,
    }


def video_json(video: Video, instance_p2p: bool) -> dict:
    return {
        "uuid": str(video.uuid),
        "name": video.name,
        "description": video.description,
        "duration": video.duration,
        "views": video.views,
        "createdAt": video.created.isoformat(),
        "p2pEnabled": video.p2p_effective(instance_p2p),
        "files": [video_file_json(f) for f in video.files.all()],
    }
