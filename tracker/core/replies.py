"""Builders for the messages the tracker sends back.

WebSocket replies are dicts ready for JSON with ids as 20-character latin-1 strings; HTTP
replies are dicts ready for bencode() with raw bytes.
"""

from __future__ import annotations

import socket

from .message_types import wire_id
from .swarm import Peer


def web_failure(action: str, reason: str, info_hash: bytes | None) -> dict:
    # Every message needs `action` and `info_hash`: webtorrent drops the socket on a message
    # without a valid action and ignores a reply for another info_hash (interop notes).
    return {
        "action": action,
        "failure reason": reason,
        "info_hash": "" if info_hash is None else wire_id(info_hash),
    }


def http_failure(reason: str) -> dict:
    return {"failure reason": reason}


_COMPACT_IPV4 = 6


def compact_peer(ip: str, port: int) -> bytes:
    """BEP 23: 4-byte address + 2-byte port, network order; BEP 7: 16 + 2 for `peers6`."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return socket.inet_pton(family, ip) + port.to_bytes(2, "big")


def http_peers(peers: list[Peer], compact: bool, no_peer_id: bool) -> dict:
    """The `peers` (and `peers6`) entries of an HTTP announce reply."""
    if not compact:
        # BEP 3 dictionary model; no_peer_id is the old bandwidth-saving flag clients send.
        listed = []
        for peer in peers:
            entry: dict = {"ip": peer.ip, "port": peer.port}
            if not no_peer_id:
                entry["peer id"] = peer.peer_id
            listed.append(entry)
        return {"peers": listed}
    ipv4: list[bytes] = []
    ipv6: list[bytes] = []
    for peer in peers:
        packed = peer.compact or compact_peer(peer.ip, peer.port)
        (ipv4 if len(packed) == _COMPACT_IPV4 else ipv6).append(packed)
    reply: dict = {"peers": b"".join(ipv4)}
    if ipv6:
        reply["peers6"] = b"".join(ipv6)
    return reply
