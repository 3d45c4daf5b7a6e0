"""The swarm (tracker infohash) a p2p-media-loader 2.3.1 player joins for one HLS rendition.

The player does not use a torrent: it derives a 20-character infohash from the `swarmId` the
page sets and the attributes hls.js parsed from the master playlist
(p2p-media-loader-core src/utils/stream.ts generateStreamShortId and getStreamSwarmId,
src/utils/peer.ts getStreamHash):

    index       = base64(sha1("{bitrate}-{codecs}-{width}-{height}-{lang}-{channels}-{name}-"
                              "{frameRate}-{videoRange}"))      standard base64, padded
    stream id   = "v2-{swarmId}-{main|secondary}-{index}"
    info_hash   = base64(sha1(stream id)[:15])                   20 ASCII characters

For a level, bitrate is BANDWIDTH, codecs the video codec only (lower case, sorted if several),
frame rate the FRAME-RATE attribute without trailing zeros, video range upper case; language,
channels and name stay empty. The instance writes those attributes itself (hls_encoding.py), so
it knows each rendition's infohash before any player announces it. A browser test compares this
with what the shipped library announces: a later version that changes the derivation fails it.
"""

import base64
import hashlib

PEER_PROTOCOL_VERSION = "v2"
MAIN_STREAM = "main"  # a level with its own video; "secondary" is a separate audio track


def stream_short_id(
    *, bandwidth: int, video_codec: str, width: int, height: int, frame_rate: str = ""
) -> str:
    """The `index` of one level of the master playlist, as the player computes it."""
    codecs = ",".join(sorted(c.strip().lower() for c in video_codec.split(",") if c.strip()))
    rate = _normalized_frame_rate(frame_rate)
    text = f"{bandwidth}-{codecs}-{width}-{height}----{rate}-"
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode("ascii")


def stream_info_hash(swarm_id: str, short_id: str, stream_type: str = MAIN_STREAM) -> str:
    """The 20-character infohash the player announces for that stream of `swarm_id`."""
    stream_swarm_id = f"{PEER_PROTOCOL_VERSION}-{swarm_id}-{stream_type}-{short_id}"
    digest = hashlib.sha1(stream_swarm_id.encode()).digest()[:15]
    return base64.b64encode(digest).decode("ascii")


def _normalized_frame_rate(frame_rate: str) -> str:
    """JavaScript's Number(x).toString() of a decimal frame rate: "24.000" -> "24",
    "29.970" -> "29.97"; empty when it is not a number."""
    try:
        value = float(frame_rate)
    except ValueError:
        return ""
    return str(int(value)) if value.is_integer() else repr(value)
