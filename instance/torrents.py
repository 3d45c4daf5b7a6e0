"""BitTorrent v1 metainfo for the instance's video files (BEP 3, webseeds per BEP 19).

The stored .torrent holds the info dictionary, which fixes the infohash. Trackers and webseeds
live outside it, so they are written afresh whenever the torrent is served: a changed public
URL or a new webseed never changes the swarm a file belongs to.
"""

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import torf
from django.conf import settings

MIN_PIECE_LENGTH = 16 * 1024
MAX_PIECE_LENGTH = 4 * 1024 * 1024
# Small pieces start playback sooner; about a thousand pieces keeps the metainfo small.
TARGET_PIECE_COUNT = 1000


@dataclass(frozen=True)
class BuiltTorrent:
    metainfo: bytes
    info_hash: str
    piece_length: int


def tracker_urls() -> list[str]:
    """This instance's WebSocket tracker, then its HTTP tracker (PeerTube's order)."""
    parts = urlsplit(settings.PUBLIC_URL)
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    websocket = urlunsplit((ws_scheme, parts.netloc, "/tracker/socket", "", ""))
    return [websocket, f"{settings.PUBLIC_URL}/tracker/announce"]


def piece_length_for(size: int) -> int:
    length = MIN_PIECE_LENGTH
    while length < MAX_PIECE_LENGTH and size / length > TARGET_PIECE_COUNT:
        length *= 2
    return length


def build_torrent(path: Path, *, name: str, webseeds: list[str]) -> BuiltTorrent:
    # private is left unset: private=False writes "private: 0" into the info dictionary,
    # which changes the infohash (torf hashes the info dict as it holds it).
    torrent = torf.Torrent(
        path=path,
        name=name,
        trackers=[[url] for url in tracker_urls()],
        webseeds=webseeds,
        piece_size=piece_length_for(path.stat().st_size),
        created_by="peerveil",
    )
    torrent.generate()
    stream = io.BytesIO()
    torrent.write_stream(stream)
    return BuiltTorrent(stream.getvalue(), torrent.infohash, torrent.piece_size)


def render_torrent(stored: bytes, *, webseeds: list[str]) -> bytes:
    """The stored torrent with this instance's current trackers and the given webseeds."""
    torrent = torf.Torrent.read_stream(io.BytesIO(stored))
    torrent.trackers = [[url] for url in tracker_urls()]
    torrent.webseeds = webseeds
    stream = io.BytesIO()
    torrent.write_stream(stream)
    return stream.getvalue()


def magnet_uri(*, info_hash: str, name: str, torrent_url: str, webseeds: list[str]) -> str:
    """A magnet link as PeerTube builds it: xs (torrent URL), xt, dn, tr and ws."""
    params = [
        ("xs", torrent_url),
        ("xt", f"urn:btih:{info_hash}"),
        ("dn", name),
        *(("tr", url) for url in tracker_urls()),
        *(("ws", url) for url in webseeds),
    ]
    query = "&".join(f"{key}={quote(value, safe=':/')}" for key, value in params)
    return f"magnet:?{query}"
