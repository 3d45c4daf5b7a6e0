"""Small, real, playable demo videos, and a probe that tells whether a file is a video.

`generate_demo_video` writes an H.264 + AAC MP4 (yuv420p, faststart, a keyframe every second)
showing a moving colour pattern that differs per seed, over a soft sine tone. It uses PyAV, whose
wheels ship FFmpeg with libx264, so no system FFmpeg is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48_000
AUDIO_FRAME = 1024  # samples per AAC frame
VIDEO_BIT_RATE = 1_800_000
AUDIO_BIT_RATE = 96_000
# Demuxers that read still images; such a file is a picture, not a video.
IMAGE_DEMUXERS = ("image2", "_pipe", "gif", "apng", "webp")


class NotAVideo(ValueError):
    """The file is not a video this instance can decode; the message says why."""


@dataclass(frozen=True)
class VideoProbe:
    duration: float  # seconds
    width: int
    height: int


def generate_demo_video(
    path: Path,
    *,
    seconds: float = 6,
    width: int = 640,
    height: int = 360,
    fps: int = 24,
    seed: int = 0,
    title: str = "",
    bit_rate: int = VIDEO_BIT_RATE,
) -> Path:
    """Write a `seconds` long H.264 + AAC MP4 to `path` and return `path`.

    Same arguments, same pattern and tone; a different seed gives a different picture, so
    different bytes and a different infohash.
    """
    path = Path(path)
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError("width and height must be even and at least 16 (yuv420p)")
    if not 1 <= fps <= 120:
        raise ValueError("fps must be between 1 and 120")
    frame_count = max(1, round(seconds * fps))
    pattern = _Pattern(width, height, seed)
    rng = np.random.default_rng(seed)
    tone = 220.0 * 2 ** (int(rng.integers(0, 12)) / 12)

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        if title:
            out.metadata["title"] = title
        video = out.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": "veryfast",
                # A keyframe every second, never fewer: seeking and streaming need them.
                "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0",
            },
        )
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        video.bit_rate = bit_rate
        video.codec_context.gop_size = fps
        frame_time_base = Fraction(1, fps)

        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        audio.bit_rate = AUDIO_BIT_RATE

        for index in range(frame_count):
            frame = pattern.frame(index / fps, index / frame_count)
            frame.pts = index
            frame.time_base = frame_time_base
            out.mux(video.encode(frame))
        out.mux(video.encode())

        total = round(frame_count / fps * AUDIO_RATE)
        for start in range(0, total, AUDIO_FRAME):
            samples = _tone(start, min(AUDIO_FRAME, total - start), tone, total)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = start
            frame.time_base = Fraction(1, AUDIO_RATE)
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return path


def probe_video(path: Path) -> VideoProbe:
    """Duration and size of the first video stream; NotAVideo when there is none to decode."""
    path = Path(path)
    try:
        with av.open(str(path), mode="r") as container:
            format_name = container.format.name
            if any(marker in format_name for marker in IMAGE_DEMUXERS):
                raise NotAVideo(f"{path.name} is a still image ({format_name}), not a video")
            if not container.streams.video:
                raise NotAVideo(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            if stream.codec_context is None or not stream.codec_context.name:
                raise NotAVideo(f"{path.name}: unknown video codec")
            duration = _duration(container, stream)
            frame = next(container.decode(stream), None)
            if frame is None:
                raise NotAVideo(f"{path.name}: no video frame could be decoded")
            width = stream.codec_context.width or frame.width
            height = stream.codec_context.height or frame.height
            if duration and not _tail_decodes(container, stream, duration):
                raise NotAVideo(f"{path.name} is truncated: its end cannot be decoded")
    except NotAVideo:
        raise
    except (av.FFmpegError, UnicodeDecodeError, EOFError) as error:
        raise NotAVideo(f"{path.name} cannot be read as a video: {error}") from error
    if not width or not height:
        raise NotAVideo(f"{path.name}: video stream has no picture size")
    if not duration or not math.isfinite(duration) or duration <= 0:
        raise NotAVideo(f"{path.name}: video has no duration")
    return VideoProbe(duration=float(duration), width=int(width), height=int(height))


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _tail_decodes(
    container: av.container.InputContainer, stream: av.VideoStream, duration: float
) -> bool:
    """Whether a frame near the end decodes: a cut-off upload with its index up front fails."""
    if stream.time_base is None:
        return True
    try:
        target = max(0.0, duration - 0.5)
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
    except av.FFmpegError:
        return True  # not seekable: the first frame has to do
    try:
        return next(container.decode(stream), None) is not None
    except av.FFmpegError:
        return False


def _tone(start: int, count: int, frequency: float, total: int) -> np.ndarray:
    """Stereo float samples: a sine with a slow tremolo, faded in and out over 50 ms."""
    t = (start + np.arange(count, dtype=np.float64)) / AUDIO_RATE
    wave = np.sin(2 * np.pi * frequency * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    fade = AUDIO_RATE * 0.05
    index = start + np.arange(count)
    envelope = np.clip(np.minimum(index, total - index) / fade, 0.0, 1.0)
    left = 0.25 * wave * envelope
    right = 0.25 * np.sin(2 * np.pi * frequency * 1.5 * t) * envelope * 0.6
    return np.stack([left, right]).astype(np.float32)


class _Pattern:
    """A drifting plasma in seed-chosen colours, a few moving lights, grain and a progress bar.

    Drawn at a quarter of the size and scaled up by FFmpeg: numpy at full size is the slow part.
    """

    SCALE = 4

    def __init__(self, width: int, height: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.width = width
        self.height = height
        self.low_width = max(8, -(-width // self.SCALE))
        self.low_height = max(8, -(-height // self.SCALE))
        y, x = np.mgrid[0 : self.low_height, 0 : self.low_width].astype(np.float32)
        self.x = x / self.low_width
        self.y = y / self.low_height
        self.freq = rng.uniform(2.0, 7.0, size=(3, 2)).astype(np.float32)
        self.speed = rng.uniform(0.4, 1.6, size=3).astype(np.float32)
        self.hue = rng.uniform(0, 2 * np.pi, size=3).astype(np.float32)
        self.lights = rng.uniform(0.0, 1.0, size=(4, 4)).astype(np.float32)
        # Grain that scrolls: gives the encoder some real detail to spend bits on.
        grain_shape = (self.low_height, self.low_width * 2, 1)
        self.grain = rng.uniform(-0.08, 0.08, size=grain_shape).astype(np.float32)

    def frame(self, t: float, progress: float) -> av.VideoFrame:
        """The picture at time `t`, as a yuv420p frame of the full size."""
        x, y = self.x, self.y
        f, s = self.freq, self.speed
        v = (
            np.sin(2 * np.pi * (f[0, 0] * x + s[0] * t))
            + np.sin(2 * np.pi * (f[1, 0] * y - s[1] * t * 0.7))
            + np.sin(2 * np.pi * (f[2, 0] * (x + y) / 2 + f[2, 1] * 0.1 * np.sin(t) + s[2] * t))
        )
        image = np.empty((self.low_height, self.low_width, 3), dtype=np.float32)
        for channel in range(3):
            image[..., channel] = 0.5 + 0.45 * np.sin(v * 1.3 + self.hue[channel] + channel * 2.1)
        for cx, cy, speed, phase in self.lights:
            px = 0.5 + 0.4 * np.sin(2 * np.pi * (speed * 0.3 * t + phase) + cx * 6)
            py = 0.5 + 0.4 * np.cos(2 * np.pi * (speed * 0.23 * t + phase) + cy * 6)
            glow = np.exp(-((x - px) ** 2 * 16 / 9 + (y - py) ** 2) * 60)
            image += glow[..., None] * 0.8
        offset = int(t * 11) % self.low_width
        image += self.grain[:, offset : offset + self.low_width]
        bar = max(1, self.low_height // 60)
        image[-bar:, : max(1, int(progress * self.low_width))] = 1.0
        pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
        small = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        return small.reformat(
            width=self.width, height=self.height, format="yuv420p", interpolation="BICUBIC"
        )
