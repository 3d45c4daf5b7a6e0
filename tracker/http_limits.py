"""Request limits of the HTTP tracker with django-ratelimit: per address, and per address and video.

The counters live in Django's cache (local memory by default, Redis when configured), under keys
that django-ratelimit derives with SHA-256 from the value it is given. An unsalted hash of an IPv4
address is reversed by trying all 2^32 of them, so the value given here is the address's keyed
daily hash (tracker.sources.hashed), never the address.
"""

from django_ratelimit.core import is_ratelimited

from tracker.access import HttpLimits

GROUP_ADDRESS = "tracker.http.address"
GROUP_VIDEO = "tracker.http.address-video"


def _limited(request, group: str, value: str, count: int, window: int) -> bool:
    return is_ratelimited(
        request,
        group=group,
        key=lambda _group, _request: value,
        rate=f"{count}/{window}s",
        increment=True,
    )


def address_exceeded(request, source_hash: str, limits: HttpLimits) -> bool:
    """Count one more request from this source; True once it is over the limit."""
    return _limited(request, GROUP_ADDRESS, source_hash, limits.per_address, limits.window)


def video_exceeded(request, source_hash: str, info_hash: bytes, limits: HttpLimits) -> bool:
    """Count one more announce of this video from this source; True once over the limit."""
    value = f"{source_hash}:{info_hash.hex()}"
    return _limited(request, GROUP_VIDEO, value, limits.per_address_and_video, limits.window)
