"""Serving files: which file a URL may name, HTTP Range (RFC 9110 section 14), and CORS.

Every route that maps a URL to a file (webseeds, torrents, redundancy copies, assets, and HLS
playlists and segments at /static/streaming-playlists/hls/<uuid>/<file>) finds it with
resolve_file, and nothing else.

webtorrent fetches webseed pieces with Range requests and, from another origin, sends a CORS
preflight asking for Range, Cache-Control and User-Agent. Without Range support
a download stalls forever.
"""

import asyncio
import mimetypes
import os
import re
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.http import http_date

# HLS (RFC 8216): playlists and fragmented MP4 media segments (RFC 8216 section 3.3).
mimetypes.add_type("application/vnd.apple.mpegurl", ".m3u8")
mimetypes.add_type("video/iso.segment", ".m4s")

# ASCII digits only: \d would also take other scripts' digits, which int() then accepts.
RANGE_PATTERN = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# No file has 20 digits of bytes (10**19 B is 8 EiB): a longer position lies beyond any file.
# int() of a long digit string costs quadratic time and fails past 4300 digits.
MAX_POSITION_DIGITS = 19
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, Cache-Control, User-Agent, Content-Type",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges",
    "Access-Control-Max-Age": "86400",
}


def resolve_file(root: Path | str, name: str) -> Path | None:
    """The regular file that the relative `name` (from a URL or the database) names under
    `root`, as its real path; None (a 404) for anything else.

    Refused before touching the disk: an empty or absolute name, a backslash (a separator
    elsewhere, never in our names), NUL, and empty, "." or ".." segments. What it names must be
    a regular file, not a folder, a FIFO (an open would block) or a device; then symlinks are
    followed, and its real path must still lie inside the real root (a link out is refused).
    """
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return None
    if any(part in ("", ".", "..") for part in name.split("/")):
        return None
    candidate = os.path.join(root, name)
    try:
        # One stat first: most names looked up (assets in each finder's folder) are missing,
        # and realpath costs a system call per path component.
        if not stat.S_ISREG(os.stat(candidate).st_mode):
            return None
    except OSError:
        return None
    real_root = os.path.realpath(root)
    real = os.path.realpath(candidate)
    return Path(real) if os.path.commonpath((real_root, real)) == real_root else None


def asset_locations() -> Iterator[tuple[str, str]]:
    """(URL prefix, folder) of the assets, in the order Django's staticfiles look: collected
    files (STATIC_ROOT) first, then each finder's storages, i.e. STATICFILES_DIRS with their
    prefixes and each app's static/ folder. Looked up with resolve_file, not the finders' own
    find(): its safe_join checks the path as written and follows a symlink out of the folder."""
    yield "", str(settings.STATIC_ROOT)
    for finder in finders.get_finders():
        for storage in getattr(finder, "storages", {}).values():
            yield getattr(storage, "prefix", None) or "", storage.location


def find_asset(name: str) -> Path | None:
    """The file /assets/<name> serves, or None."""
    for prefix, location in asset_locations():
        if not prefix:
            found = resolve_file(location, name)
        elif name.startswith(f"{prefix}/"):
            found = resolve_file(location, name.removeprefix(f"{prefix}/"))
        else:
            continue
        if found:
            return found
    return None


class UnsatisfiableRange(Exception):
    pass


def _position(digits: str, size: int) -> int:
    """A byte position. One of more digits than MAX_POSITION_DIGITS lies beyond any file and
    reads as `size`, the first position past its end: as a first byte it is unsatisfiable, as
    a last byte it ends at the end, as a suffix length it takes the whole file."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else size


def _numeric_order(digits: str) -> tuple[int, str]:
    """Sorts digit strings of any length as their numbers sort, without converting them."""
    digits = digits.lstrip("0") or "0"
    return len(digits), digits


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte positions asked for, or None to send the whole file.

    A header that is not a single valid byte range is ignored, as RFC 9110 allows; a valid
    range that lies wholly outside the file raises UnsatisfiableRange (416). Positions of any
    length are read as the numbers they are: one beyond the file starts nowhere (416) or ends
    at its end.
    """
    if not header:
        return None
    match = RANGE_PATTERN.fullmatch(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":
        # Suffix range: the last N bytes.
        suffix = _position(last_text, size)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange
        return max(0, size - suffix), size - 1
    if last_text and _numeric_order(last_text) < _numeric_order(first_text):
        return None
    first = _position(first_text, size)
    if first >= size:
        raise UnsatisfiableRange
    return first, size - 1 if not last_text else min(_position(last_text, size), size - 1)


async def _read_chunks(path: Path, first: int, length: int) -> AsyncIterator[bytes]:
    # Blocking reads go to a thread so one slow disk read never stalls the tracker's sockets.
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.to_thread(handle.seek, first)
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(settings.FILE_CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


def with_cors(response: HttpResponse) -> HttpResponse:
    for header, value in CORS_HEADERS.items():
        response[header] = value
    return response


def serve_file(request, root: Path | str, name: str, *, cors: bool = False) -> HttpResponse:
    """The file `name` under `root` (resolve_file), or a 404."""
    path = resolve_file(root, name)
    if path is None:
        raise Http404("No such file")
    return file_response(request, path, cors=cors)


def file_response(request, path: Path, *, cors: bool = False) -> HttpResponse:
    """A 200, 206 or 416 response for GET/HEAD of a file resolve_file found, or the CORS
    preflight for OPTIONS."""
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        return with_cors(response) if cors else response
    info = path.stat()
    size = info.st_size
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except UnsatisfiableRange:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return with_cors(response) if cors else response
    first, last = byte_range if byte_range else (0, size - 1)
    length = last - first + 1 if size else 0
    if request.method == "HEAD":
        response = HttpResponse(status=206 if byte_range else 200, content_type=content_type)
    else:
        response = StreamingHttpResponse(
            _read_chunks(path, first, length),
            status=206 if byte_range else 200,
            content_type=content_type,
        )
    if byte_range:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Last-Modified"] = http_date(info.st_mtime)
    return with_cors(response) if cors else response
