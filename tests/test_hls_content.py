"""HLS content made by import_video and build_hls, checked independently of the encoder: every
segment decoded with PyAV from its init segment, the master playlist against the rows, the
SHA-256 list recomputed, each swarm's infohash derived again from the notes' recipe, and no
trace left by a file that cannot be encoded."""

import base64
import hashlib
import io
import json
import re
import shutil
from fractions import Fraction
from pathlib import Path

import av
import pytest
from django.core.management import CommandError, call_command

from instance import hls_swarms
from instance.demo_media import generate_demo_video, probe_video
from instance.models import HLSRendition, StreamingPlaylist, Video, VideoFile

pytestmark = pytest.mark.django_db

# Small and quick to encode: 180p and the next lower rung (144p), 2 s segments at 12 fps.
SECONDS, WIDTH, HEIGHT, FPS = 5, 320, 180, 12


@pytest.fixture(scope="session")
def hls_source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hls-source")
    return generate_demo_video(
        folder / "source.mp4", seconds=SECONDS, width=WIDTH, height=HEIGHT, fps=FPS, seed=11
    )


@pytest.fixture(scope="session")
def unencodable_source(hls_source, tmp_path_factory) -> Path:
    """A file the import's probe accepts (its first and last frames decode) whose middle is
    zeros: decoding it fails part of the way, after renditions have started to be written."""
    data = bytearray(hls_source.read_bytes())
    start, end = int(len(data) * 0.3), int(len(data) * 0.5)
    data[start:end] = bytes(end - start)
    path = tmp_path_factory.mktemp("hls-broken") / "broken.mp4"
    path.write_bytes(bytes(data))
    probe_video(path)  # raises if the probe refused it: then this would test something else
    return path


def import_file(path: Path, name: str) -> Video:
    out = io.StringIO()
    call_command("import_video", str(path), "--name", name, stdout=out)
    return Video.objects.get(uuid=out.getvalue().split()[0])


def attributes(line: str) -> dict[str, str]:
    """The attributes of an #EXT-X-STREAM-INF line (RFC 8216 section 4.2), quotes removed."""
    pairs = re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1])
    return {key: value.strip('"') for key, value in pairs}


def master_levels(folder: Path) -> list[tuple[dict[str, str], str]]:
    lines = (folder / "master.m3u8").read_text().splitlines()
    return [
        (attributes(line), lines[n + 1])
        for n, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]


def media_playlist(folder: Path, name: str) -> tuple[str, list[tuple[str, float]]]:
    """(init segment, [(segment, EXTINF duration)]) of a media playlist."""
    init, segments, duration = None, [], None
    for line in (folder / name).read_text().splitlines():
        if line.startswith("#EXT-X-MAP:"):
            init = attributes(line)["URI"]
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",")[0])
        elif line and not line.startswith("#"):
            segments.append((line, duration))
    return init, segments


def decoded_segment(init: bytes, segment: bytes) -> dict:
    """What PyAV finds in one segment played from its init segment, as a player would."""
    with av.open(io.BytesIO(init + segment), format="mp4") as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        codecs = (video.codec_context.name, audio.codec_context.name)
        packets = [p for p in container.demux(video) if p.size]
        frames = [frame for packet in packets for frame in packet.decode()]
        frames += list(video.decode(None))
    return {
        "codecs": codecs,
        "first_packet_key": packets[0].is_keyframe,
        "first_frame_key": frames[0].key_frame,
        "frames": len(frames),
        "size": (frames[0].width, frames[0].height),
        "start": float(packets[0].pts * packets[0].time_base),
    }


def swarm_from_notes(swarm_id: str, level: dict[str, str]) -> bytes:
    """The infohash as ../shared/interop-notes.md measured it, from the playlist's attributes:
    base64(sha1("{BANDWIDTH}-{video codec}-{w}-{h}-{lang}-{channels}-{name}-{frameRate}-
    {videoRange}")), then base64 of 15 bytes of sha1("v2-{swarmId}-main-{index}")."""
    width, height = level["RESOLUTION"].split("x")
    video_codec = next(c for c in level["CODECS"].split(",") if c.startswith("avc1"))
    rate = Fraction(level["FRAME-RATE"])
    rate_text = str(rate.numerator) if rate.denominator == 1 else str(float(rate))
    text = f"{level['BANDWIDTH']}-{video_codec}-{width}-{height}----{rate_text}-"
    index = base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()
    stream = f"v2-{swarm_id}-main-{index}".encode()
    return base64.b64encode(hashlib.sha1(stream).digest()[:15])


def test_the_derivation_gives_the_infohash_a_real_browser_announced():
    # Measured (interop notes): a page with swarmId "spike-swarm" announced this for a level
    # 640x360, BANDWIDTH 985600, CODECS avc1.4d401e, no FRAME-RATE.
    short_id = hls_swarms.stream_short_id(
        bandwidth=985600, video_codec="avc1.4d401e", width=640, height=360
    )
    assert hls_swarms.stream_info_hash("spike-swarm", short_id) == "Ao59IgvVwrsGFMMsvVGg"


def test_import_makes_two_renditions_of_keyframe_aligned_h264_aac_segments(hls_source, settings):
    video = import_file(hls_source, "HLS clip")
    playlist = video.hls_playlist
    folder = settings.HLS_ROOT / str(video.uuid)
    assert playlist.folder == folder and folder.is_dir()
    rows = list(playlist.renditions.all())
    assert [(r.resolution, r.width) for r in rows] == [(180, 320), (144, 256)]
    all_starts = []
    for row in rows:
        init_name, segments = media_playlist(folder, row.playlist_name)
        init = (folder / init_name).read_bytes()
        assert len(segments) == row.segment_count == 3  # 2 s, 2 s, then the last 1 s
        starts = []
        for n, (name, duration) in enumerate(segments):
            found = decoded_segment(init, (folder / name).read_bytes())
            assert found["codecs"] == ("h264", "aac")
            assert found["first_packet_key"] and found["first_frame_key"], name
            assert found["size"] == (row.width, row.resolution)
            seconds = found["frames"] / FPS
            assert seconds == pytest.approx(duration, abs=1 / FPS)
            last = n == len(segments) - 1
            assert (0 < seconds <= 4) if last else (2 <= seconds <= 4), (name, seconds)
            starts.append(found["start"])
        assert sum(d for _, d in segments) == pytest.approx(SECONDS, abs=1 / FPS)
        # Every 2 s from the first picture (whose time is H.264's reordering delay), on every
        # level alike: a player switching levels between segments loses no picture.
        cuts = [start - starts[0] for start in starts]
        assert cuts == pytest.approx([0.0, 2.0, 4.0], abs=1 / FPS)
        all_starts.append(starts)
        files = [init_name, *(name for name, _ in segments)]
        assert row.size == sum((folder / name).stat().st_size for name in files)
    assert all_starts[0] == pytest.approx(all_starts[1])


def test_the_master_playlist_the_rows_the_sha256_list_and_the_swarms_agree(hls_source, settings):
    video = import_file(hls_source, "HLS facts")
    folder = settings.HLS_ROOT / str(video.uuid)
    rows = list(video.hls_playlist.renditions.all())
    levels = master_levels(folder)
    assert [uri for _, uri in levels] == [row.playlist_name for row in rows]
    hashes = {}
    for (level, _), row in zip(levels, rows, strict=True):
        assert level["RESOLUTION"] == f"{row.width}x{row.resolution}"
        assert (int(level["BANDWIDTH"]), level["CODECS"]) == (row.bandwidth, row.codecs)
        assert level["FRAME-RATE"] == row.frame_rate and float(row.frame_rate) == FPS
        assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", row.codecs)
        # BANDWIDTH is the peak rate of a segment (RFC 8216 section 4.3.4.2).
        _, segments = media_playlist(folder, row.playlist_name)
        peak = max((folder / name).stat().st_size * 8 / duration for name, duration in segments)
        assert peak <= row.bandwidth < peak + 1
        assert row.info_hash_bytes == swarm_from_notes(str(video.uuid), level)
        assert len(row.info_hash) == 20 and row.info_hash.isascii()
        hashes |= {
            name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name, _ in segments
        }
    assert json.loads((folder / "segments-sha256.json").read_text()) == hashes
    assert len(hashes) == 6


def test_build_hls_gives_renditions_to_videos_from_before_hls(hls_source, settings):
    video = import_file(hls_source, "From before HLS")
    with_hls = import_file(hls_source, "Already has HLS")
    kept = (settings.HLS_ROOT / str(with_hls.uuid) / "master.m3u8").stat().st_mtime_ns
    # An instance from before HLS: no playlist row, no folder.
    video.hls_playlist.delete()
    shutil.rmtree(settings.HLS_ROOT / str(video.uuid))
    out = io.StringIO()
    call_command("build_hls", stdout=out)
    assert out.getvalue() == f"{video.uuid}: HLS 180p, 144p\n"
    video.refresh_from_db()
    folder = settings.HLS_ROOT / str(video.uuid)
    rows = list(video.hls_playlist.renditions.all())
    assert [r.resolution for r in rows] == [180, 144]
    assert [uri for _, uri in master_levels(folder)] == ["180.m3u8", "144.m3u8"]
    for row, (level, _) in zip(rows, master_levels(folder), strict=True):
        assert row.info_hash_bytes == swarm_from_notes(str(video.uuid), level)
    # The video that had HLS is left alone, and a second run has nothing to do.
    assert (settings.HLS_ROOT / str(with_hls.uuid) / "master.m3u8").stat().st_mtime_ns == kept
    again = io.StringIO()
    call_command("build_hls", stdout=again)
    assert again.getvalue() == ""


def hls_leftovers(settings) -> list[str]:
    root = settings.HLS_ROOT
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_a_file_that_cannot_be_encoded_is_not_imported_at_all(unencodable_source, settings):
    with pytest.raises(CommandError, match="cannot be encoded to HLS"):
        import_file(unencodable_source, "Broken")
    assert not Video.objects.exists() and not VideoFile.objects.exists()
    assert not StreamingPlaylist.objects.exists() and not HLSRendition.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))
    assert hls_leftovers(settings) == []  # no rendition folder, no hidden .building-* one


def test_build_hls_reports_a_video_it_cannot_encode_and_leaves_no_partial_renditions(
    hls_source, unencodable_source, settings
):
    video = import_file(hls_source, "Broken later")
    video.hls_playlist.delete()
    shutil.rmtree(settings.HLS_ROOT / str(video.uuid))
    # Its web video is now a file that cannot be encoded.
    shutil.copyfile(unencodable_source, video.files.get().file.path)
    out, err = io.StringIO(), io.StringIO()
    call_command("build_hls", stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert f"{video.uuid}: " in err.getvalue() and "1 video(s) left without HLS" in err.getvalue()
    assert not StreamingPlaylist.objects.exists() and not HLSRendition.objects.exists()
    assert hls_leftovers(settings) == []
