"""The panel's swarm overview: per video, web and HTTP peers now and over the last hour.

A video has several swarms: a torrent per file, and one per HLS rendition (p2p-media-loader's
players join the rendition they play). Its counts are the sum over them; its page also shows
each swarm's. Only counts reach this module (tracker.service.swarm_counts and the in-memory
history).
"""

import time
from dataclasses import dataclass, replace

from instance.models import HLSRendition, Video, VideoFile
from tracker.core import KindCounts
from tracker.service import service
from tracker.swarm_history import SAMPLE_SECONDS, SAMPLES_KEPT, Sample, history

NO_PEERS = KindCounts(0, 0, 0, 0)

# Chart geometry (SVG user units): one bar per sampled minute plus one for now.
BAR_WIDTH = 4
BAR_STEP = 5
CHART_HEIGHT = 40


def added(a: KindCounts, b: KindCounts) -> KindCounts:
    return KindCounts(*(x + y for x, y in zip(a, b, strict=True)))


def web_peers(counts: KindCounts) -> int:
    return counts.web_seeders + counts.web_leechers


def http_peers(counts: KindCounts) -> int:
    return counts.http_seeders + counts.http_leechers


@dataclass(frozen=True)
class Bar:
    x: int
    web_y: float
    web_height: float
    http_y: float
    http_height: float
    label: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: int
    bar_width: int = BAR_WIDTH
    width: int = (SAMPLES_KEPT + 1) * BAR_STEP
    height: int = CHART_HEIGHT


def chart(points: list[tuple[float, KindCounts]], now: float, current: KindCounts) -> Chart:
    """Stacked bars (web below, HTTP above) for samples of the last hour and the counts now."""
    slots: dict[int, KindCounts] = {}
    for at, counts in points:
        minutes_ago = int((now - at) // SAMPLE_SECONDS)
        if 0 <= minutes_ago < SAMPLES_KEPT:
            slots[minutes_ago] = counts
    slots[-1] = current  # the rightmost bar
    peak = max(web_peers(c) + http_peers(c) for c in slots.values())
    scale = CHART_HEIGHT / max(peak, 1)
    bars = []
    for minutes_ago, counts in sorted(slots.items(), reverse=True):
        web_height = web_peers(counts) * scale
        http_height = http_peers(counts) * scale
        when = "now" if minutes_ago < 0 else f"{minutes_ago + 1} min ago"
        bars.append(
            Bar(
                x=(SAMPLES_KEPT - 1 - minutes_ago) * BAR_STEP,
                web_y=CHART_HEIGHT - web_height,
                web_height=web_height,
                http_y=CHART_HEIGHT - web_height - http_height,
                http_height=http_height,
                label=f"{when}: {web_peers(counts)} web, {http_peers(counts)} HTTP",
            )
        )
    return Chart(bars=bars, peak=peak)


@dataclass(frozen=True)
class SwarmPart:
    """One swarm of a video: what it carries ("torrent", "HLS 720p") and its peers now."""

    label: str
    now: KindCounts


@dataclass(frozen=True)
class SwarmRow:
    video: Video
    now: KindCounts
    chart: Chart
    parts: tuple[SwarmPart, ...] = ()

    @property
    def web_peers(self) -> int:
        return web_peers(self.now)

    @property
    def http_peers(self) -> int:
        return http_peers(self.now)


def _summed(counts: dict[bytes, KindCounts], info_hashes: list[bytes]) -> KindCounts:
    total = NO_PEERS
    for info_hash in info_hashes:
        total = added(total, counts.get(info_hash, NO_PEERS))
    return total


def _row(
    video: Video, info_hashes: list[bytes], now_counts: dict, samples: list[Sample], now: float
) -> SwarmRow:
    current = _summed(now_counts, info_hashes)
    points = [(sample.at, _summed(sample.counts, info_hashes)) for sample in samples]
    return SwarmRow(video=video, now=current, chart=chart(points, now, current))


def _videos_of(info_hashes: set[bytes]) -> dict[Video, list[bytes]]:
    """The videos these swarms belong to, with those of their swarms that are among them.

    A torrent's infohash is stored in hex, a rendition's as its 20 ASCII characters."""
    files = VideoFile.objects.filter(info_hash__in=[h.hex() for h in info_hashes])
    renditions = HLSRendition.objects.filter(
        info_hash__in=[h.decode("latin-1") for h in info_hashes]
    )
    hashes_of: dict[Video, list[bytes]] = {}
    for video_file in files.select_related("video"):
        hashes_of.setdefault(video_file.video, []).append(video_file.info_hash_bytes)
    for rendition in renditions.select_related("playlist__video"):
        hashes_of.setdefault(rendition.playlist.video, []).append(rendition.info_hash_bytes)
    return hashes_of


def active_swarms(limit: int = 50) -> list[SwarmRow]:
    """Videos with peers now or within the last hour, the most peers now first."""
    now_counts = service.swarm_counts()
    samples = history.samples()
    seen = set(now_counts).union(*(sample.counts for sample in samples))
    now = time.time()
    rows = [
        _row(video, hashes, now_counts, samples, now) for video, hashes in _videos_of(seen).items()
    ]
    rows.sort(key=lambda row: (-(row.web_peers + row.http_peers), row.video.name))
    return rows[:limit]


def labelled_swarms(video: Video) -> list[tuple[str, bytes]]:
    """(label, infohash) of each swarm of the video: its torrents, then its HLS renditions,
    highest first. Reads video.files and video.hls_playlist.renditions (prefetch them)."""
    files = list(video.files.all())
    swarms = [
        ("torrent" if len(files) == 1 else f"torrent {f.resolution}p", f.info_hash_bytes)
        for f in files
    ]
    return swarms + [(f"HLS {r.resolution}p", r.info_hash_bytes) for r in hls_renditions(video)]


def hls_renditions(video: Video) -> list[HLSRendition]:
    """The video's HLS renditions, highest first; none without HLS."""
    playlist = video.streaming_playlist
    return [] if playlist is None else list(playlist.renditions.all())


def video_swarm(video: Video) -> SwarmRow:
    swarms = labelled_swarms(video)
    now_counts = service.swarm_counts()
    row = _row(video, [h for _, h in swarms], now_counts, history.samples(), time.time())
    parts = tuple(SwarmPart(label, now_counts.get(h, NO_PEERS)) for label, h in swarms)
    return replace(row, parts=parts)
