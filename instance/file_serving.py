"""Serving files with HTTP Range (RFC 9110 section 14) and the CORS a webseed needs.

webtorrent fetches webseed pieces with Range requests and, from another origin, sends a CORS
preflight asking for Range, Cache-Control and User-Agent (interop-notes). Without Range support
a download stalls forever.
"""

import asyncio
import mimetypes
import re
from collections.abc import AsyncIterator
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import http_date

RANGE_PATTERN = re.compile(r"^bytes=(\d*)-(\d*)$")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, Cache-Control, User-Agent, Content-Type",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges",
    "Access-Control-Max-Age": "86400",
}


class UnsatisfiableRange(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte positions asked for, or None to send the whole file.

    A header that is not a single valid byte range is ignored, as RFC 9110 allows; a valid
    range that lies wholly outside the file raises UnsatisfiableRange (416).
    """
    if not header:
        return None
    match = RANGE_PATTERN.match(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":
        # Suffix range: the last N bytes.
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else None
    if last is not None and last < first:
        return None
    if first >= size:
        raise UnsatisfiableRange
    return first, size - 1 if last is None else min(last, size - 1)


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


def file_response(request, path: Path, *, cors: bool = False) -> HttpResponse:
    """A 200, 206 or 416 response for GET/HEAD of a file, or the CORS preflight for OPTIONS."""
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        return with_cors(response) if cors else response
    stat = path.stat()
    size = stat.st_size
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
    response["Last-Modified"] = http_date(stat.st_mtime)
    return with_cors(response) if cors else response
