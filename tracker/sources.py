"""The source of a request as the shells see it: client address, source key, stored names.

Settings are read on each call (at connect or per HTTP request, never per WebSocket message), so
tests and a reloaded configuration apply at once.
"""

import hashlib
import hmac
import threading
import time
from datetime import UTC, date, datetime

from django.conf import settings

from tracker.core.addresses import (
    client_address,
    daily_key,
    in_networks,
    network_prefix,
    parse_address,
    source_hash,
)
from tracker.core.addresses import source_key as address_source_key

# The header by which the instance's own seeders are exempt from the guard (node_token()).
NODE_HEADER = "X-Peerveil-Node"

_keys: dict[date, bytes] = {}
_keys_lock = threading.Lock()
_node_tokens: dict[str, str] = {}

# source_of()'s memory: (direct address, settings ids) -> (address, source key).
ADDRESS_MEMORY_SECONDS = 60.0
_SOURCES_MAX = 65536
_sources: dict[tuple, tuple[str | None, str | None]] = {}
_sources_cleared_at = 0.0


def scope_peer(scope) -> tuple[str | None, str | None]:
    """An ASGI scope's direct peer address and its X-Forwarded-For, all such headers joined:
    several headers are one list, in order (RFC 9110 section 5.3)."""
    client = scope.get("client")
    forwarded = None
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            hops = value.decode("latin-1")
            forwarded = hops if forwarded is None else f"{forwarded},{hops}"
    return (client[0] if client else None), forwarded


def scope_address(scope) -> str | None:
    return client_address(*scope_peer(scope), settings.TRUSTED_PROXIES)


def source_of(direct: str | None, forwarded_for: str | None) -> tuple[str | None, str | None]:
    """The client address of an HTTP request and its source key (None: exempt).

    Parsing them costs about 9 us, a tenth of a whole announce, so they are remembered per
    direct peer; the table and its raw addresses are dropped every ADDRESS_MEMORY_SECONDS
    (checked on every call and by the sweeper, forget_addresses). Only the direct address is
    a key: a header the client writes must not grow the table. Behind trusted proxies every
    request is parsed."""
    global _sources_cleared_at
    trusted, exempt = settings.TRUSTED_PROXIES, settings.TRACKER_EXEMPT_NETWORKS
    if forwarded_for is not None and trusted:
        address = client_address(direct, forwarded_for, trusted)
        return address, source_key(address)
    now = time.monotonic()
    if now - _sources_cleared_at > ADDRESS_MEMORY_SECONDS or len(_sources) >= _SOURCES_MAX:
        _sources.clear()
        _sources_cleared_at = now
    # The settings objects are part of the key: a changed setting (tests) misses the table.
    cache_key = (direct, id(trusted), id(exempt))
    known = _sources.get(cache_key)
    if known is None:
        address = client_address(direct, None, trusted)
        known = _sources[cache_key] = (address, source_key(address))
    return known


def forget_addresses(now: float) -> None:
    """Drop source_of()'s table once it is ADDRESS_MEMORY_SECONDS old, traffic or not."""
    global _sources_cleared_at
    if now - _sources_cleared_at > ADDRESS_MEMORY_SECONDS:
        _sources.clear()
        _sources_cleared_at = now


def node_token() -> str:
    """What this instance's own seeders (redundancy copies) send in NODE_HEADER: their
    announces for every copied video must not count as one address collecting swarms."""
    secret = settings.SECRET_KEY
    token = _node_tokens.get(secret)
    if token is None:
        token = hmac.new(secret.encode(), b"peerveil node", hashlib.sha256).hexdigest()
        _node_tokens.clear()
        _node_tokens[secret] = token
    return token


def is_node_token(value: str | None) -> bool:
    # As bytes: compare_digest raises TypeError on non-ASCII text, which a client may send.
    return bool(value) and hmac.compare_digest(value.encode("latin-1"), node_token().encode())


def source_key(address: str | None) -> str | None:
    """The source the guard counts this address as (its key: the address, an IPv6 /64);
    None if it is exempt from the limits."""
    if in_networks(parse_address(address), settings.TRACKER_EXEMPT_NETWORKS):
        return None
    return address_source_key(address)


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
