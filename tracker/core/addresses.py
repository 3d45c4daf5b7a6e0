"""Who is asking: the client address behind trusted proxies, the key the guard counts it under,
and the only forms of it that may be stored or sent (a keyed hash and a coarse network).

Raw addresses stay in memory. Wherever a source must be named at rest (alarms, logs, e-mail,
webhooks, shared rate-limit caches) it is named by an HMAC whose key changes every UTC day, so
that records of different days cannot be linked, and at most by its /16 (IPv4) or /32 (IPv6).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from datetime import date

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The key of a request whose direct peer has no address (a Unix socket with no forwarded
# address): all such requests count as one source rather than escaping the limits.
UNKNOWN_SOURCE = "unknown"
# Households and phones get a whole IPv6 /64 (RFC 6177): one subscriber, one source, or a
# client could use a fresh address of its /64 for every request.
IPV6_SOURCE_PREFIX = 64
# The network shown with an alarm. An IPv4 /24 is often a single business or a street of
# households; a /16 (65,536 addresses) names an operator and region, never a person. IPv6 /32
# is the usual allocation of one operator (an ISP), /48 would be a single site.
IPV4_SHOWN_PREFIX = 16
IPV6_SHOWN_PREFIX = 32
HASH_HEX_DIGITS = 16


def parse_address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(
    direct: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    """The client's address: the direct peer, unless it is a trusted proxy (or a local socket
    without an address); then the right-most address of X-Forwarded-For that is not a trusted
    proxy. Everything left of it was written by the client and proves nothing."""
    peer = parse_address(direct)
    if direct and peer is None:
        return None
    if peer is not None and not in_networks(peer, trusted):
        return str(peer)
    hops = [hop for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # Garbage where a proxy should have written an address: trust nothing further.
            break
        if not in_networks(address, trusted):
            return str(address)
        peer = address
    return None if peer is None else str(peer)


def source_key(address: str | None) -> str:
    """What the guard counts requests under: the address, or its /64 for IPv6."""
    parsed = parse_address(address)
    if parsed is None:
        return UNKNOWN_SOURCE
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_SOURCE_PREFIX}", strict=False))
    return str(parsed)


def network_prefix(key: str) -> str:
    """The coarse network of a source key, the only part of an address ever shown."""
    try:
        network = ipaddress.ip_network(key, strict=False)
    except ValueError:
        return UNKNOWN_SOURCE
    bits = IPV4_SHOWN_PREFIX if network.version == 4 else IPV6_SHOWN_PREFIX
    return str(network.supernet(new_prefix=min(bits, network.prefixlen)))


def daily_key(secret: str, day: date) -> bytes:
    """The hashing key of one UTC day: a new day, unlinkable hashes."""
    message = f"peerveil source hash {day.isoformat()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def source_hash(key: bytes, source: str) -> str:
    digest = hmac.new(key, source.encode(), hashlib.sha256).hexdigest()
    return digest[:HASH_HEX_DIGITS]
