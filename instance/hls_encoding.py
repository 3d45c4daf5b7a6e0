"""Encoding a video into HLS renditions with PyAV's FFmpeg: fragmented MP4, H.264 and AAC,
segments of SEGMENT_SECONDS that each start on a keyframe, as separate files.

Separate segment files, not PeerTube's single file with byte ranges: p2p-media-loader 2.3.1
stalls playback when a byte-range segment from a peer fails validation (the HTTP retries then
fail with http-bytes-mismatch), while a separate file is fetched again over HTTP.

`encode_hls(source, folder)` writes into `folder`: a media playlist, an init segment and media
segments per rendition, the master playlist, and the SHA-256 of every media segment. It returns
what the master playlist says of each rendition, which is also what a player derives its swarm
from (instance/hls_swarms.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .hls_names import MASTER_NAME, SEGMENTS_SHA256_NAME, init_name, playlist_name, segment_pattern

SEGMENT_SECONDS = 2
# Heights of PeerTube's transcoding ladder; a video gets its own height and the next one below.
LADDER_HEIGHTS = (2160, 1440, 1080, 720, 480, 360, 240, 144)
MIN_HEIGHT = 16
# Average video bits per pixel and frame: about 440 kbit/s at 640x360, 24 fps.
VIDEO_BITS_PER_PIXEL = 0.08
AUDIO_BIT_RATE = 64_000
AUDIO_RATE = 48_000
AUDIO_CODEC = "mp4a.40.2"  # AAC-LC, what FFmpeg's aac encoder writes (RFC 6381)
DEFAULT_FRAME_RATE = Fraction(25)


class EncodingFailed(Exception):
    """The source could not be encoded to HLS; the message says why."""


@dataclass(frozen=True)
class RenditionFacts:
    """One level of the master playlist, as written there."""

    height: int
    width: int
    frame_rate: str  # FRAME-RATE, three decimals
    bandwidth: int  # BANDWIDTH: the peak bits per second of one segment
    codecs: str  # CODECS
    size: int  # bytes of the init and media segments
    segment_count: int

    @property
    def playlist_name(self) -> str:
        return playlist_name(self.height)

    @property
    def init_name(self) -> str:
        return init_name(self.height)


def ladder(height: int) -> list[int]:
    """The heights to encode: the source's, then the next lower one (at least MIN_HEIGHT)."""
    height -= height % 2
    lower = next((h for h in LADDER_HEIGHTS if h < height), None)
    if lower is None and height // 2 >= MIN_HEIGHT:
        lower = height // 2 - (height // 2) % 2
    return [height, lower] if lower else [height]


def encode_hls(source: Path, folder: Path) -> list[RenditionFacts]:
    """Encode `source` into `folder` (which must exist and be empty); renditions highest first."""
    try:
        with av.open(str(source)) as container:
            facts = _encode(container, folder)
    except (av.FFmpegError, ValueError, StopIteration) as error:
        raise EncodingFailed(f"{Path(source).name}: {error}") from error
    (folder / MASTER_NAME).write_text(master_playlist(facts))
    (folder / SEGMENTS_SHA256_NAME).write_text(
        json.dumps(segments_sha256(folder, facts), indent=1, sort_keys=True)
    )
    return facts


def master_playlist(facts: list[RenditionFacts]) -> str:
    """The master playlist. hls.js reads BANDWIDTH, CODECS, RESOLUTION and FRAME-RATE, and
    p2p-media-loader derives each level's swarm from exactly these; no AVERAGE-BANDWIDTH, so
    the two can never disagree about which bitrate counts."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in facts:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},"
            f'CODECS="{rendition.codecs}",RESOLUTION={rendition.width}x{rendition.height},'
            f"FRAME-RATE={rendition.frame_rate}"
        )
        lines.append(rendition.playlist_name)
    return "\n".join(lines) + "\n"


def media_segments(folder: Path, rendition: RenditionFacts) -> list[tuple[str, float]]:
    """(file name, duration) of each media segment, in the order of its playlist."""
    segments, duration = [], None
    for line in (folder / rendition.playlist_name).read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#"):
            segments.append((line, duration or 0.0))
    return segments


def segments_sha256(folder: Path, facts: list[RenditionFacts]) -> dict[str, str]:
    """{segment file name: SHA-256 in hex} for every media segment: what a player checks a
    segment received from a peer against (init segments and playlists always come from the
    server)."""
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for rendition in facts
        for name, _ in media_segments(folder, rendition)
    }


@dataclass
class _Output:
    height: int
    width: int
    container: av.container.OutputContainer
    video: av.VideoStream
    audio: av.AudioStream | None
    samples: int = 0


def _encode(container: av.container.InputContainer, folder: Path) -> list[RenditionFacts]:
    if not container.streams.video:
        raise EncodingFailed("no video stream")
    source_video = container.streams.video[0]
    source_audio = container.streams.audio[0] if container.streams.audio else None
    rate = source_video.average_rate or source_video.guessed_rate or DEFAULT_FRAME_RATE
    rate = Fraction(rate).limit_denominator(1001)
    context = source_video.codec_context
    source_width, source_height = context.width, context.height
    if not source_width or not source_height:
        raise EncodingFailed("the video stream has no picture size")
    outputs = [
        _open_output(
            folder,
            height,
            _width_for(height, source_width, source_height),
            rate,
            with_audio=source_audio is not None,
        )
        for height in ladder(source_height)
    ]
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
    gop = max(1, round(rate * SEGMENT_SECONDS))
    first_time, last_index = None, -1
    streams = [source_video] + ([source_audio] if source_audio else [])
    try:
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    if frame.time is None:
                        continue
                    first_time = frame.time if first_time is None else first_time
                    # Constant frame rate out: a frame's index comes from its time, so a
                    # variable-rate source keeps its audio in sync; repeats are dropped.
                    index = round((frame.time - first_time) * rate)
                    if index <= last_index:
                        continue
                    last_index = index
                    for output in outputs:
                        _mux_video(output, frame, index, rate, gop)
                else:
                    for resampled in resampler.resample(frame):
                        for output in outputs:
                            _mux_audio(output, resampled)
        for resampled in resampler.resample(None):
            for output in outputs:
                _mux_audio(output, resampled)
        for output in outputs:
            output.container.mux(output.video.encode())
            if output.audio is not None:
                output.container.mux(output.audio.encode())
    finally:
        for output in outputs:
            output.container.close()
    if last_index < 0:
        raise EncodingFailed("no video frame could be decoded")
    frame_rate = f"{float(rate):.3f}"
    return [_facts(folder, output, frame_rate) for output in outputs]


def _width_for(height: int, source_width: int, source_height: int) -> int:
    width = round(source_width * height / source_height)
    return max(2, width - width % 2)


def _open_output(
    folder: Path, height: int, width: int, rate: Fraction, *, with_audio: bool
) -> _Output:
    gop = max(1, round(rate * SEGMENT_SECONDS))
    container = av.open(
        str(folder / playlist_name(height)),
        mode="w",
        format="hls",
        options={
            "hls_time": str(SEGMENT_SECONDS),
            "hls_playlist_type": "vod",
            "hls_segment_type": "fmp4",
            "hls_flags": "independent_segments",
            "hls_segment_filename": str(folder / segment_pattern(height)),
            "hls_fmp4_init_filename": init_name(height),
        },
    )
    bit_rate = int(width * height * float(rate) * VIDEO_BITS_PER_PIXEL)
    video = container.add_stream(
        "libx264",
        rate=rate,
        options={
            "preset": "veryfast",
            "profile": "high",
            "forced-idr": "1",
            # A keyframe exactly every segment and nowhere else: every segment starts on one,
            # and segments of all renditions start at the same times (level switches).
            "x264-params": (
                f"keyint={gop}:min-keyint={gop}:scenecut=0:"
                f"vbv-maxrate={bit_rate * 2 // 1000}:vbv-bufsize={bit_rate * 2 // 1000}"
            ),
        },
    )
    video.width, video.height = width, height
    video.pix_fmt = "yuv420p"
    video.bit_rate = bit_rate
    video.codec_context.gop_size = gop
    audio = None
    if with_audio:
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        audio.bit_rate = AUDIO_BIT_RATE
    return _Output(height, width, container, video, audio)


def _mux_video(output: _Output, frame: av.VideoFrame, index: int, rate: Fraction, gop: int):
    scaled = frame.reformat(
        width=output.width, height=output.height, format="yuv420p", interpolation="BICUBIC"
    )
    scaled.pts = index
    scaled.time_base = 1 / rate
    if index % gop == 0:
        scaled.pict_type = av.video.frame.PictureType.I
    output.container.mux(output.video.encode(scaled))


def _mux_audio(output: _Output, frame: av.AudioFrame) -> None:
    if output.audio is None:
        return
    frame.pts = output.samples
    frame.time_base = Fraction(1, AUDIO_RATE)
    output.samples += frame.samples
    output.container.mux(output.audio.encode(frame))


def _facts(folder: Path, output: _Output, frame_rate: str) -> RenditionFacts:
    init = folder / init_name(output.height)
    partial = RenditionFacts(output.height, output.width, frame_rate, 0, "", 0, 0)
    segments = media_segments(folder, partial)
    if not segments:
        raise EncodingFailed(f"{output.height}p: no segment was written")
    sizes = {name: (folder / name).stat().st_size for name, _ in segments}
    peak = max(sizes[name] * 8 / max(duration, 0.1) for name, duration in segments)
    codecs = [_avc1_codec(init.read_bytes())]
    if output.audio is not None:
        codecs.append(AUDIO_CODEC)
    return RenditionFacts(
        height=output.height,
        width=output.width,
        frame_rate=frame_rate,
        bandwidth=math.ceil(peak),
        codecs=",".join(codecs),
        size=init.stat().st_size + sum(sizes.values()),
        segment_count=len(segments),
    )


def _avc1_codec(init_segment: bytes) -> str:
    """RFC 6381's avc1.PPCCLL from the init segment's avcC box (ISO 14496-15 5.3.3.1: version,
    then profile, constraint flags and level, one byte each)."""
    at = init_segment.find(b"avcC")
    if at < 0 or len(init_segment) < at + 8:
        raise EncodingFailed("the init segment has no H.264 configuration (avcC)")
    profile, constraints, level = init_segment[at + 5 : at + 8]
    return f"avc1.{profile:02x}{constraints:02x}{level:02x}"
