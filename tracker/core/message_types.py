"""Validated tracker requests, as produced by web_parser.py and http_parser.py.

Ids are raw bytes everywhere inside the core; they become text only on the wire (wire_id).
"""

from __future__ import annotations

from dataclasses import dataclass

# BEP 3: info_hash is a 20-byte SHA-1, peer_id 20 arbitrary bytes; webtorrent's offer_id is
# 20 random bytes as well.
ID_LENGTH = 20

# No torrent is 8 EiB; larger counters (uploaded, downloaded, left) are garbage and would not fit
# a Redis/SQL integer.
MAX_COUNTER = 2**63 - 1

EVENT_STARTED = "started"
EVENT_COMPLETED = "completed"
EVENT_STOPPED = "stopped"


class ProtocolError(Exception):
    """Anything wrong with a client's request; the reply carries `reason` to the client.

    `info_hash` is the best-effort info_hash of the bad message so that the failure reply can
    name it (webtorrent drops replies whose info_hash is not one of its torrents). `action` is
    "scrape" when the bad message was recognisably a scrape, so the reply keeps that action.
    """

    def __init__(self, reason: str, info_hash: bytes | None = None, action: str = "announce"):
        super().__init__(reason)
        self.reason = reason
        self.info_hash = info_hash
        self.action = action


def wire_id(raw: bytes) -> str:
    """20 raw bytes -> the 20-character JSON string webtorrent expects (one char per byte)."""
    return raw.decode("latin-1")


@dataclass(frozen=True, slots=True)
class WebOffer:
    offer_id: bytes
    # Rebuilt as exactly {"type": "offer", "sdp": str}: nothing else a client put in it is ever
    # relayed to another peer.
    offer: dict


@dataclass(frozen=True, slots=True)
class WebAnnounce:
    info_hash: bytes
    peer_id: bytes
    event: str | None  # "started", "completed", "stopped", or None for a periodic announce
    numwant: int
    uploaded: int
    downloaded: int
    left: int | None  # None: the client has no metadata yet, so it is incomplete
    offers: tuple[WebOffer, ...]


@dataclass(frozen=True, slots=True)
class WebAnswer:
    info_hash: bytes
    peer_id: bytes
    to_peer_id: bytes
    offer_id: bytes
    answer: dict  # exactly {"type": "answer", "sdp": str}


@dataclass(frozen=True, slots=True)
class WebScrape:
    info_hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class HttpAnnounce:
    info_hash: bytes
    peer_id: bytes
    ip: str  # normalised text form; an IPv4-mapped IPv6 address is stored as IPv4
    port: int
    uploaded: int
    downloaded: int
    left: int
    event: str | None
    numwant: int | None
    compact: bool
    no_peer_id: bool


@dataclass(frozen=True, slots=True)
class HttpScrape:
    info_hashes: tuple[bytes, ...]
