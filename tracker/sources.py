"""The source of a request as the shells see it: client address, guard key, stored names.

Settings are read on each call (at connect or per HTTP request, never per WebSocket message), so
tests and a reloaded configuration apply at once.
"""

import hashlib
import hmac
import threading
from datetime import UTC, date, datetime

from django.conf import settings

from tracker.core.addresses import (
    client_address,
    daily_key,
    in_networks,
    network_prefix,
    parse_address,
    source_hash,
    source_key,
)

# The header by which the instance's own seeders are exempt from the guard (node_token()).
NODE_HEADER = "X-Peerveil-Node"

_keys: dict[date, bytes] = {}
_keys_lock = threading.Lock()


def request_address(request) -> str | None:
    return client_address(
        request.META.get("REMOTE_ADDR"),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.TRUSTED_PROXIES,
    )


def scope_address(scope) -> str | None:
    client = scope.get("client")
    forwarded = None
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            # Several headers are one list, in order (RFC 9110 section 5.3).
            hops = value.decode("latin-1")
            forwarded = hops if forwarded is None else f"{forwarded},{hops}"
    return client_address(client[0] if client else None, forwarded, settings.TRUSTED_PROXIES)


def node_token() -> str:
    """What this instance's own seeders (redundancy copies) send in NODE_HEADER: their
    announces for every copied video must not count as one address collecting swarms."""
    return hmac.new(settings.SECRET_KEY.encode(), b"peerveil node", hashlib.sha256).hexdigest()


def from_node(request) -> bool:
    return hmac.compare_digest(request.headers.get(NODE_HEADER, ""), node_token())


def guard_key(address: str | None) -> str | None:
    """What the guard counts this address under; None if it is exempt from the limits."""
    if in_networks(parse_address(address), settings.TRACKER_EXEMPT_NETWORKS):
        return None
    return source_key(address)


def hashed(key: str, at: datetime | None = None) -> str:
    """The keyed hash naming a source at rest: HMAC-SHA256 with the key of the UTC day."""
    day = (at or datetime.now(UTC)).astimezone(UTC).date()
    key_of_day = _keys.get(day)
    if key_of_day is None:
        with _keys_lock:
            # Only today's (and, around midnight, yesterday's) key is needed.
            for old in [d for d in _keys if (day - d).days > 1]:
                del _keys[old]
            key_of_day = _keys[day] = daily_key(settings.SECRET_KEY, day)
    return source_hash(key_of_day, key)


def network(key: str) -> str:
    return network_prefix(key)
