"""What the watch and embed pages tell the player script: what to play, and whether P2P may run.

A video with an HLS streaming playlist plays it with hls.js and shares its segments with
p2p-media-loader (PeerTube 6's player); a video without one streams its MP4 over webtorrent.
The script (instance/static/instance/player.js) makes the last decisions in the browser, where
the viewer's own choice lives (localStorage). The server decides what the viewer cannot change:
P2P off for the instance or the video means the page never opens the tracker socket.
"""

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from tracker.crowd import crowd_of

from .ice import ice_servers, servers_shown
from .models import InstanceSettings, Video, VideoFile
from .torrents import tracker_urls

# PeerTube's embed and watch pages take ?p2p=0 to turn P2P off for one view.
P2P_OFF_VALUES = {"0", "false"}
PRIVACY_FAQ_PATH = "/about/privacy"


def hls_config(video: Video) -> dict | None:
    """The HLS part of the player's config, or None for a video without a streaming playlist."""
    playlist = video.streaming_playlist
    if playlist is None:
        return None
    return {
        "playlistUrl": playlist.playlist_url,
        "segmentsSha256Url": playlist.segments_sha256_url,
        # p2p-media-loader derives each rendition's swarm from it (instance/hls_swarms.py).
        "swarmId": playlist.swarm_id,
    }


def player_config(video: Video, video_file: VideoFile, *, p2p_param: str | None) -> dict:
    """The JSON the player script reads from the page (json_script "player-config")."""
    instance = InstanceSettings.load()
    p2p_allowed = video.p2p_effective(instance.p2p_enabled)
    crowd = crowd_of(video, instance) if p2p_allowed else None
    return {
        "videoUuid": str(video.uuid),
        "fileUrl": video_file.file_url,
        "fileSize": video_file.size,
        # Absolute: webtorrent's add() refuses a relative .torrent URL (it takes it for a path).
        "torrentUrl": video_file.torrent_url,
        "infoHash": video_file.info_hash,
        # Instance and video switches: when false, no viewer choice can turn P2P on.
        "p2pAllowed": p2p_allowed,
        # The crowd threshold line (instance/static/instance/crowd.js refreshes it): None
        # without a threshold, or where P2P is off anyway.
        "crowd": None
        if crowd is None or crowd.threshold <= 1
        else {**crowd.as_json(), "url": reverse("api-video-crowd", kwargs={"uuid": video.uuid})},
        "p2pOffForThisView": (p2p_param or "").lower() in P2P_OFF_VALUES,
        "p2pRequiresConsent": instance.p2p_requires_consent,
        # Browsers only use WebSocket trackers; the .torrent lists the HTTP one for others.
        "announce": [url for url in tracker_urls() if url.startswith(("ws:", "wss:"))],
        # Each STUN/TURN server learns the viewer's address; the page names them (instance/ice.py).
        "iceServers": ice_servers(instance),
        "hls": hls_config(video),
        "webtorrentUrl": static("vendor/webtorrent/webtorrent.min.js"),
        "serviceWorkerUrl": reverse("webtorrent-service-worker"),
    }


def player_context(video: Video, request, *, embedded: bool) -> dict:
    """Template context of a page with the player (watch or embed)."""
    video_file = video.top_file
    instance = InstanceSettings.load()
    config = (
        player_config(video, video_file, p2p_param=request.GET.get("p2p")) if video_file else None
    )
    return {
        "video": video,
        "video_file": video_file,
        "player_config": config,
        "embedded": embedded,
        # An embed lives on another site: its links must leave the iframe for the instance.
        "privacy_faq_url": f"{settings.PUBLIC_URL}{PRIVACY_FAQ_PATH}",
        "watch_url": f"{settings.PUBLIC_URL}{video.get_absolute_url()}",
        "embed_url": f"{settings.PUBLIC_URL}{reverse('embed', kwargs={'uuid': video.uuid})}",
        "autoplay": not embedded or request.GET.get("autoplay") == "1",
        "ice_servers_shown": servers_shown(instance),
    }
