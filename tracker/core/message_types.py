"""Validated tracker requests, as produced by web_parser.py and http_parser.py.

Ids are raw bytes everywhere inside the core; they become text only on the wire (wire_id).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# BEP 3: info_hash is a 20-byte SHA-1, peer_id 20 arbitrary bytes; webtorrent's offer_id is
# 20 random bytes as well.
ID_LENGTH = 20

# No torrent is 8 EiB; larger counters (uploaded, downloaded, left) are garbage and would not fit
# a Redis/SQL integer.
MAX_COUNTER = 2**63 - 1


class Event(StrEnum):
    """An announce's event (BEP 3); a periodic announce has none (None)."""

    STARTED = "started"
    COMPLETED = "completed"
    STOPPED = "stopped"


class ProtocolError(Exception):
    """A request the tracker does not serve; the reply carries `reason` to the client.

    `info_hash` is the best-effort info_hash of the request so that the failure reply can name
    it (webtorrent drops replies whose info_hash is not one of its torrents). `action` is
    "scrape" when the request was recognisably a scrape, so the reply keeps that action. All
    three are set at construction and never changed: a parser that learns more raises a new
    error from the old one.
    """

    def __init__(self, reason: str, info_hash: bytes | None = None, action: str = "announce"):
        super().__init__(reason)
        self.reason = reason
        self.info_hash = info_hash
        self.action = action

    def naming(self, info_hash: bytes | None = None, action: str | None = None) -> ProtocolError:
        """The same error naming the request's info_hash or action, once the parser knows it."""
        return type(self)(
            self.reason,
            self.info_hash if info_hash is None else info_hash,
            self.action if action is None else action,
        )


class RemoteProtocolError(ProtocolError):
    """The client broke the protocol: a malformed, oversized or inconsistent request."""


class LocalProtocolError(ProtocolError):
    """A well-formed request this tracker refuses: an unknown or switched-off torrent, a peer_id
    held by another connection, an answer to no offer, a limit of the spy guard."""


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
    event: Event | None  # None for a periodic announce
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
    event: Event | None
    numwant: int | None
    compact: bool
    no_peer_id: bool


@dataclass(frozen=True, slots=True)
class HttpScrape:
    info_hashes: tuple[bytes, ...]
