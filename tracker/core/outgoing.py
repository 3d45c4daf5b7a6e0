"""What the tracker sends: typed messages, and the one place they become bytes on the wire.

The messages are immutable NamedTuples rather than frozen dataclasses: a frozen dataclass sets
each field through object.__setattr__, 0.5 to 0.75 us per message measured here, which was a
tenth of the core's work on an HTTP announce; a NamedTuple is built in a third of that.

WebSocket messages become JSON text with ids as 20-character latin-1 strings, as webtorrent and
p2p-media-loader expect; HTTP replies become bencoded dicts with raw bytes (BEP 3, 23, 48).
Every WebSocket message names its `action` and `info_hash` (a scrape reply its `files`): a client
drops a socket on a message without a valid action and ignores a reply for another torrent.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

import orjson

from .bencode import bencode
from .message_types import wire_id
from .swarm import Peer

# WebSocket

# Sent as the announce reply's "warning message" while a swarm is below its crowd threshold.
# Both webtorrent's and p2p-media-loader's tracker client (bittorrent-tracker) process a reply
# with a warning as usual (interval kept, re-announce at it) and only emit a warning event:
# the player keeps playing from the server and keeps announcing. A "failure reason" instead
# would make them skip the reply's interval.
CROWD_WARNING = "P2P starts when {threshold} people watch this video"


class AnnounceReply(NamedTuple):
    info_hash: bytes
    interval: int
    complete: int
    incomplete: int
    # A tracker's "warning message" (not in BEP 3, but read by bittorrent-tracker's clients
    # and libtorrent): the reply is processed as usual, and the client is told why no peer
    # comes (the swarm is below its crowd threshold).
    warning: str | None = None


class RelayedOffer(NamedTuple):
    """An offer from `peer_id` to the recipient; it answers with `offer_id`."""

    info_hash: bytes
    peer_id: bytes
    offer_id: bytes
    offer: dict  # exactly {"type": "offer", "sdp": str}, rebuilt by the parser


class RelayedAnswer(NamedTuple):
    info_hash: bytes
    peer_id: bytes  # the answerer
    offer_id: bytes
    answer: dict  # exactly {"type": "answer", "sdp": str}


class ScrapeReply(NamedTuple):
    files: dict[bytes, tuple[int, int, int]]  # info_hash -> (complete, incomplete, downloaded)


class Failure(NamedTuple):
    action: str  # "announce" or "scrape": the action of the message refused
    reason: str
    info_hash: bytes | None


WebMessage = AnnounceReply | RelayedOffer | RelayedAnswer | ScrapeReply | Failure


class RemoteOffer(NamedTuple):
    """An offer for a peer of another process (recipient: its RemoteConnection): that process
    records it as pending for `target` (the peer it was sampled as) before sending it on."""

    target: bytes
    sender: object  # this process's connection of the offering peer, where the answer goes
    offer: RelayedOffer


class RemoteAnswer(NamedTuple):
    """An answer for a peer of another process, which checks that `to_peer_id` is still its
    socket's before sending it on."""

    to_peer_id: bytes
    answer: RelayedAnswer


def web_json(message: WebMessage) -> dict:
    """The JSON object of a WebSocket message."""
    if type(message) is RelayedOffer:
        return _relayed("offer", message.offer, message)
    if type(message) is AnnounceReply:
        reply = {
            "action": "announce",
            "interval": message.interval,
            "info_hash": wire_id(message.info_hash),
            "complete": message.complete,
            "incomplete": message.incomplete,
        }
        if message.warning is not None:
            reply["warning message"] = message.warning
        return reply
    if type(message) is RelayedAnswer:
        return _relayed("answer", message.answer, message)
    if type(message) is ScrapeReply:
        return {
            "action": "scrape",
            "files": {wire_id(h): _file(c) for h, c in message.files.items()},
        }
    return {
        "action": message.action,
        "failure reason": message.reason,
        "info_hash": "" if message.info_hash is None else wire_id(message.info_hash),
    }


def _relayed(kind: str, signal: dict, message: RelayedOffer | RelayedAnswer) -> dict:
    # The SDP goes under "offer" or "answer"; peer_id names the peer that sent it.
    return {
        "action": "announce",
        kind: signal,
        "offer_id": wire_id(message.offer_id),
        "peer_id": wire_id(message.peer_id),
        "info_hash": wire_id(message.info_hash),
    }


def encode_web(message: WebMessage) -> str:
    """The text frame that carries a WebSocket message."""
    return orjson.dumps(web_json(message)).decode()


def web_frame(message: WebMessage) -> bytes:
    """encode_web's text as UTF-8 bytes (what another tracker process is sent)."""
    return orjson.dumps(web_json(message))


# HTTP


class HttpAnnounceReply(NamedTuple):
    interval: int
    min_interval: int
    complete: int
    incomplete: int
    peers: tuple[Peer, ...]  # only HTTP peers: a web peer has no address a client could use
    compact: bool
    no_peer_id: bool
    warning: str | None = None  # as AnnounceReply's


class HttpScrapeReply(NamedTuple):
    files: dict[bytes, tuple[int, int, int]]


class HttpFailure(NamedTuple):
    reason: str
    # Trackers answer a bad request with 200 and a failure reason (BEP 3): clients read the
    # body. A request the guard refuses gets 429, or 403 while its source is blocked.
    status: int = 200


HttpMessage = HttpAnnounceReply | HttpScrapeReply | HttpFailure


def http_dict(message: HttpMessage) -> dict:
    """The bencoded dictionary of an HTTP reply."""
    if type(message) is HttpAnnounceReply:
        reply = {
            "interval": message.interval,
            "min interval": message.min_interval,
            "complete": message.complete,
            "incomplete": message.incomplete,
        }
        reply.update(_http_peers(message.peers, message.compact, message.no_peer_id))
        if message.warning is not None:
            reply["warning message"] = message.warning
        return reply
    if type(message) is HttpScrapeReply:
        return {"files": {h: _file(c) for h, c in message.files.items()}}
    return {"failure reason": message.reason}


def encode_http(message: HttpMessage) -> tuple[int, bytes]:
    """The HTTP status and bencoded body of a reply."""
    status = message.status if type(message) is HttpFailure else 200
    return status, bencode(http_dict(message))


def _file(counts: tuple[int, int, int]) -> dict:
    complete, incomplete, downloaded = counts
    return {"complete": complete, "incomplete": incomplete, "downloaded": downloaded}


_COMPACT_IPV4 = 6


def compact_peer(ip: str, port: int) -> bytes:
    """BEP 23: 4-byte address + 2-byte port, network order; BEP 7: 16 + 2 for `peers6`."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return socket.inet_pton(family, ip) + port.to_bytes(2, "big")


def _http_peers(peers: tuple[Peer, ...], compact: bool, no_peer_id: bool) -> dict:
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
