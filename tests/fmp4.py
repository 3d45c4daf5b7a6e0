"""Just enough of ISO BMFF (fragmented MP4) for tests: find a segment's video samples and flip
bytes inside one, the way a faulty or malicious peer would alter a segment it shares."""

import struct
from collections.abc import Iterator

CONTAINERS = {b"moov", b"trak", b"mdia", b"moof", b"traf"}


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset of the box, size) of each box in data[start:end], one level deep."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size == 1:
            size = struct.unpack_from(">Q", data, offset + 8)[0]
        elif size == 0:
            size = end - offset
        if size < 8:
            raise ValueError(f"bad box size {size} at {offset}")
        yield kind, offset, size
        offset += size


def _find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None):
    """Every box at `path` (types, outermost first) under data[start:end]."""
    for kind, offset, size in boxes(data, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            yield offset, size
        else:
            yield from _find(data, path[1:], offset + 8, offset + size)


def video_track_id(init_segment: bytes) -> int:
    """The track_ID of the init segment's video track (handler "vide")."""
    for trak, size in _find(init_segment, [b"moov", b"trak"]):
        hdlr = next(_find(init_segment, [b"mdia", b"hdlr"], trak + 8, trak + size))[0]
        if init_segment[hdlr + 16 : hdlr + 20] == b"vide":
            tkhd = next(_find(init_segment, [b"tkhd"], trak + 8, trak + size))[0]
            version = init_segment[tkhd + 8]
            return struct.unpack_from(">I", init_segment, tkhd + (28 if version else 20))[0]
    raise ValueError("no video track")


def video_samples(segment: bytes, track_id: int) -> list[tuple[int, int]]:
    """(offset in the segment, size) of each sample of `track_id` in a media segment."""
    samples = []
    for moof, moof_size in _find(segment, [b"moof"]):
        for traf, traf_size in _find(segment, [b"traf"], moof + 8, moof + moof_size):
            tfhd = next(_find(segment, [b"tfhd"], traf + 8, traf + traf_size))[0]
            tfhd_flags = int.from_bytes(segment[tfhd + 9 : tfhd + 12], "big")
            if struct.unpack_from(">I", segment, tfhd + 12)[0] != track_id:
                continue
            default_size = None
            if tfhd_flags & 0x10:  # default-sample-size-present
                fields = 16 + 8 * bool(tfhd_flags & 0x1) + 4 * bool(tfhd_flags & 0x2)
                fields += 4 * bool(tfhd_flags & 0x8)
                default_size = struct.unpack_from(">I", segment, tfhd + fields)[0]
            for trun, _ in _find(segment, [b"trun"], traf + 8, traf + traf_size):
                flags = int.from_bytes(segment[trun + 9 : trun + 12], "big")
                count = struct.unpack_from(">I", segment, trun + 12)[0]
                position = trun + 16
                data_offset = 0
                if flags & 0x1:
                    data_offset = struct.unpack_from(">i", segment, position)[0]
                    position += 4
                if flags & 0x4:
                    position += 4
                offset = moof + data_offset  # default-base-is-moof, as FFmpeg writes
                for _ in range(count):
                    size = default_size
                    if flags & 0x100:
                        position += 4
                    if flags & 0x200:
                        size = struct.unpack_from(">I", segment, position)[0]
                        position += 4
                    if flags & 0x400:
                        position += 4
                    if flags & 0x800:
                        position += 4
                    samples.append((offset, size))
                    offset += size
    return samples


def corrupted(segment: bytes, track_id: int, flips: int = 4) -> bytes:
    """The segment with the last `flips` bytes of its last video sample inverted: inside the mdat
    payload, past the sample's NAL length prefixes, so the container still parses."""
    offset, size = video_samples(segment, track_id)[-1]
    if size <= flips + 4:
        raise ValueError("the last video sample is too small to alter")
    altered = bytearray(segment)
    for position in range(offset + size - flips, offset + size):
        altered[position] ^= 0xFF
    return bytes(altered)
