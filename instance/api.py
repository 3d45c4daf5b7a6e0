"""JSON representations of videos in PeerTube's API shape (GET /api/v1/videos).

`streamingPlaylists` follows PeerTube's VideoStreamingPlaylists schema (REST API reference,
models VideoStreamingPlaylists and VideoFile) with two deviations, both because renditions here
are separate segment files: a rendition has no `fileUrl` (PeerTube's points to one fragmented
MP4 holding every segment, which does not exist here) and no torrent (`magnetUri`,
`torrentUrl`): players share segments with p2p-media-loader, whose swarms need none.
"""

from django.db.models import QuerySet

from .models import HLSRendition, StreamingPlaylist, Video, VideoFile


def video_file_json(video_file: VideoFile) -> dict:
    return {
        "resolution": {"id": video_file.resolution, "label": f"{video_file.resolution}p"},
        "size": video_file.size,
        "infoHash": video_file.info_hash,
        "magnetUri": video_file.magnet_uri,
        "torrentUrl": video_file.torrent_url,
        "fileUrl": video_file.file_url,
    }


def rendition_json(rendition: HLSRendition) -> dict:
    return {
        "id": rendition.pk,
        "resolution": {"id": rendition.resolution, "label": f"{rendition.resolution}p"},
        "size": rendition.size,
        "fps": rendition.fps,
        "width": rendition.width,
        "height": rendition.resolution,
        "hasAudio": rendition.has_audio,
        "hasVideo": True,
        "playlistUrl": rendition.playlist_url,
    }


def streaming_playlists_json(video: Video) -> list[dict]:
    """The video's HLS playlist, if it has one, as PeerTube lists it (type 1: HLS)."""
    playlist = video.streaming_playlist
    if playlist is None:
        return []
    return [
        {
            "id": playlist.pk,
            "type": StreamingPlaylist.HLS,
            "playlistUrl": playlist.playlist_url,
            "segmentsSha256Url": playlist.segments_sha256_url,
            "files": [rendition_json(r) for r in playlist.renditions.all()],
            # Redundancy copies are of web videos only.
            "redundancies": [],
        }
    ]


def with_api_relations(videos: QuerySet) -> QuerySet:
    """What video_json reads, fetched in a fixed number of queries whatever the page size."""
    return videos.select_related("hls_playlist").prefetch_related(
        "files", "hls_playlist__renditions"
    )


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
        "streamingPlaylists": streaming_playlists_json(video),
    }
