"""The file names in a video's HLS folder: written by the encoder (instance/hls_encoding.py) and
named in URLs by the models (instance/models/streaming.py), from here only."""

MASTER_NAME = "master.m3u8"
SEGMENTS_SHA256_NAME = "segments-sha256.json"


def playlist_name(height: int) -> str:
    """A rendition's media playlist."""
    return f"{height}.m3u8"


def init_name(height: int) -> str:
    """A rendition's init segment."""
    return f"{height}-init.mp4"


def segment_pattern(height: int) -> str:
    """A rendition's media segments, as FFmpeg's hls muxer numbers them."""
    return f"{height}-%03d.m4s"
