"""Parse and validate classic HTTP announce and scrape requests (BEP 3, BEP 48).

The caller percent-decodes the query string to raw bytes itself: info_hash and peer_id are
binary, not UTF-8, so a text-decoding query parser would corrupt them.
"""

from __future__ import annotations

import ipaddress
import socket

from .config import HARD_MAX_PEERS, TrackerConfig
from .message_types import (
    ID_LENGTH,
    MAX_COUNTER,
    Event,
    HttpAnnounce,
    HttpScrape,
    RemoteProtocolError,
)

_MAX_DIGITS = len(str(MAX_COUNTER))  # 19: longer numbers are garbage.

_EVENTS = {
    b"": None,
    b"started": Event.STARTED,
    b"completed": Event.COMPLETED,
    b"stopped": Event.STOPPED,
}

_DEFAULT_CONFIG = TrackerConfig()


def parse_http_announce(params: dict[bytes, bytes], ip: str) -> HttpAnnounce:
    """`params` maps each raw query key to its first raw value; `ip` is the client's address
    as seen by the server. A client-supplied `ip` parameter is ignored: it would let anyone
    list a third party's address in a swarm."""
    info_hash = _read_id(params, b"info_hash")
    try:
        return _parse_announce(params, info_hash, ip)
    except RemoteProtocolError as error:
        raise error.naming(info_hash=info_hash) from None


def _parse_announce(params: dict[bytes, bytes], info_hash: bytes, ip: str) -> HttpAnnounce:
    peer_id = _read_id(params, b"peer_id")
    port = _read_number(params, b"port", None)
    if not 1 <= port <= 65535:
        raise RemoteProtocolError("invalid port")
    event = params.get(b"event", b"")
    if event not in _EVENTS:
        raise RemoteProtocolError("invalid event")
    numwant = _read_number(params, b"numwant", -1)
    return HttpAnnounce(
        info_hash=info_hash,
        peer_id=peer_id,
        ip=_normalise_ip(ip),
        port=port,
        uploaded=_read_number(params, b"uploaded", 0),
        downloaded=_read_number(params, b"downloaded", 0),
        left=_read_number(params, b"left", None),
        event=_EVENTS[event],
        numwant=None if numwant < 0 else min(numwant, HARD_MAX_PEERS),
        # BEP 23: compact is the default of every modern client; only compact=0 opts out.
        compact=params.get(b"compact") != b"0",
        no_peer_id=params.get(b"no_peer_id", b"0") != b"0",
    )


def parse_http_scrape(
    params_multi: dict[bytes, list[bytes]], config: TrackerConfig = _DEFAULT_CONFIG
) -> HttpScrape:
    """BEP 48: one or more info_hash parameters; none at all would be a full scrape."""
    values = params_multi.get(b"info_hash") or []
    if not values:
        raise RemoteProtocolError("full scrape is not allowed", action="scrape")
    if len(values) > config.max_scrape_infohashes:
        raise RemoteProtocolError("too many info_hashes", action="scrape")
    hashes: dict[bytes, None] = {}
    for value in values:
        if not isinstance(value, bytes) or len(value) != ID_LENGTH:
            raise RemoteProtocolError("invalid info_hash", action="scrape")
        hashes[value] = None
    return HttpScrape(info_hashes=tuple(hashes))


def _read_id(params: dict[bytes, bytes], key: bytes) -> bytes:
    value = params.get(key)
    if not isinstance(value, bytes) or len(value) != ID_LENGTH:
        raise RemoteProtocolError(f"invalid {key.decode()}")
    return value


def _read_number(params: dict[bytes, bytes], key: bytes, default: int | None) -> int:
    value = params.get(key)
    if value is None:
        if default is None:
            raise RemoteProtocolError(f"missing {key.decode()}")
        return default
    # bytes.isdigit() accepts ASCII digits only: no sign, space, "_" or Unicode digits,
    # all of which int() would happily take.
    if not isinstance(value, bytes) or not value.isdigit() or len(value) > _MAX_DIGITS:
        raise RemoteProtocolError(f"invalid {key.decode()}")
    number = int(value)
    if number > MAX_COUNTER:
        raise RemoteProtocolError(f"invalid {key.decode()}")
    return number


def _normalise_ip(ip: str) -> str:
    try:
        # The common case, in C: a dotted quad (inet_pton refuses leading zeros, as ipaddress).
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, ip))
    except (OSError, TypeError, ValueError):
        pass
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise RemoteProtocolError("invalid ip") from None
    if getattr(address, "scope_id", None):
        # A zoned link-local address means nothing to another host.
        raise RemoteProtocolError("invalid ip")
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; list them as IPv4 (BEP 23).
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)
