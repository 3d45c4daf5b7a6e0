"""Parse and validate one WebSocket (webtorrent) tracker message.

The wire format is the one of bittorrent-tracker's websocket-tracker.js and server.js. Unlike
the reference server, every field is checked here, so the state machine never sees a value of
the wrong type (an `offers` array holding null crashes the reference tracker).
"""

from __future__ import annotations

from typing import Any

import orjson

from .config import HARD_MAX_PEERS, TrackerConfig
from .message_types import (
    ID_LENGTH,
    MAX_COUNTER,
    Event,
    RemoteProtocolError,
    WebAnnounce,
    WebAnswer,
    WebOffer,
    WebScrape,
)

# The reference client sends no event for a periodic announce, but older clients send
# "update" (the reference server's default) or an empty string: all mean "periodic".
_EVENTS = {
    None: None,
    "": None,
    "update": None,
    "started": Event.STARTED,
    "completed": Event.COMPLETED,
    "stopped": Event.STOPPED,
}

_MISSING = object()


def parse_web_message(
    raw: str | bytes, config: TrackerConfig
) -> WebAnnounce | WebAnswer | WebScrape:
    """Return the validated message or raise RemoteProtocolError; never raises anything else."""
    obj = _load_object(raw, config.max_message_bytes)
    action = obj.get("action")
    if action == "scrape":
        return _parse_scrape(obj, config)
    if action != "announce":
        raise RemoteProtocolError("invalid action")
    info_hash = read_id(obj, "info_hash")
    try:
        if "answer" in obj:
            return _parse_answer(obj, info_hash)
        return _parse_announce(obj, info_hash, config)
    except RemoteProtocolError as error:
        # The info_hash was valid: name it in the failure so the client can match the reply.
        raise error.naming(info_hash=info_hash) from None


def _load_object(raw: Any, limit: int) -> dict:
    if isinstance(raw, str):
        size = len(raw)
        # A str counts characters; UTF-8 needs up to 4 bytes each, so only measure the exact
        # byte size when the character count alone cannot decide.
        if size <= limit < size * 4:
            size = len(raw.encode("utf-8", "surrogatepass"))
    elif isinstance(raw, bytes | bytearray | memoryview):
        size = len(raw)
    else:
        raise RemoteProtocolError("invalid message")
    if size > limit:
        raise RemoteProtocolError("message too large")
    try:
        obj = orjson.loads(raw)
    except (ValueError, TypeError):  # orjson.JSONDecodeError is a ValueError
        raise RemoteProtocolError("invalid JSON") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError("message is not a JSON object")
    return obj


def read_id(obj: dict, key: str) -> bytes:
    """A 20-character string, one character per byte (U+0000..U+00FF), as webtorrent sends."""
    value = obj.get(key)
    if isinstance(value, str) and len(value) == ID_LENGTH:
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            pass
    raise RemoteProtocolError(f"invalid {key}")


def _read_counter(obj: dict, key: str, default: Any) -> Any:
    value = obj.get(key, _MISSING)
    if value is _MISSING:
        return default
    # type() rather than isinstance(): JSON true must not pass as 1.
    if type(value) is not int or not 0 <= value <= MAX_COUNTER:
        raise RemoteProtocolError(f"invalid {key}")
    return value


def _parse_announce(obj: dict, info_hash: bytes, config: TrackerConfig) -> WebAnnounce:
    peer_id = read_id(obj, "peer_id")
    event = obj.get("event")
    if not isinstance(event, str | None):
        raise RemoteProtocolError("invalid event")
    if event not in _EVENTS:
        raise RemoteProtocolError("unknown event")
    left = obj.get("left")
    # webtorrent sends left: null until it has the metadata (NaN serialised by JSON).
    left = None if left is None else _read_counter(obj, "left", None)
    return WebAnnounce(
        info_hash=info_hash,
        peer_id=peer_id,
        event=_EVENTS[event],
        numwant=_read_numwant(obj, config),
        uploaded=_read_counter(obj, "uploaded", 0),
        downloaded=_read_counter(obj, "downloaded", 0),
        left=left,
        offers=_read_offers(obj, config),
    )


def _read_numwant(obj: dict, config: TrackerConfig) -> int:
    value = obj.get("numwant")
    if value is None:
        # Not given: the tracker decides (the reference derives it from the offer count).
        return config.max_peers_per_reply
    if type(value) is not int or abs(value) > MAX_COUNTER:
        raise RemoteProtocolError("invalid numwant")
    # numwant is a wish (BEP 3): clamp, never refuse.
    return min(max(value, 0), HARD_MAX_PEERS)


def _read_offers(obj: dict, config: TrackerConfig) -> tuple[WebOffer, ...]:
    offers = obj.get("offers", _MISSING)
    if offers is _MISSING:
        return ()
    if not isinstance(offers, list):
        raise RemoteProtocolError("invalid offers")
    if len(offers) > config.max_offers_per_announce:
        raise RemoteProtocolError("too many offers")
    return tuple(_read_offer(item) for item in offers)


def _read_offer(item: Any) -> WebOffer:
    if not isinstance(item, dict):
        raise RemoteProtocolError("invalid offer")
    offer_id = read_id(item, "offer_id")
    return WebOffer(offer_id=offer_id, offer=_read_signal(item.get("offer"), "offer"))


def _read_signal(value: Any, kind: str) -> dict:
    """An SDP offer or answer of simple-peer (trickle off): {"type": kind, "sdp": str}."""
    if not isinstance(value, dict) or value.get("type") != kind:
        raise RemoteProtocolError(f"invalid {kind}")
    sdp = value.get("sdp")
    if not isinstance(sdp, str):
        raise RemoteProtocolError(f"invalid {kind}")
    return {"type": kind, "sdp": sdp}


def _parse_answer(obj: dict, info_hash: bytes) -> WebAnswer:
    return WebAnswer(
        info_hash=info_hash,
        peer_id=read_id(obj, "peer_id"),
        to_peer_id=read_id(obj, "to_peer_id"),
        offer_id=read_id(obj, "offer_id"),
        answer=_read_signal(obj.get("answer"), "answer"),
    )


def _parse_scrape(obj: dict, config: TrackerConfig) -> WebScrape:
    value = obj.get("info_hash")
    if isinstance(value, str):
        try:
            return WebScrape(info_hashes=(read_id(obj, "info_hash"),))
        except RemoteProtocolError as error:
            raise error.naming(action="scrape") from None
    if not value:
        # Without info_hash the reference lists every torrent it knows: a private tracker
        # must not (BEP 48 allows a tracker to refuse a full scrape).
        raise RemoteProtocolError("full scrape is not allowed", action="scrape")
    if not isinstance(value, list):
        raise RemoteProtocolError("invalid info_hash", action="scrape")
    if len(value) > config.max_scrape_infohashes:
        raise RemoteProtocolError("too many info_hashes", action="scrape")
    hashes: dict[bytes, None] = {}
    for item in value:
        try:
            hashes[read_id({"info_hash": item}, "info_hash")] = None
        except RemoteProtocolError as error:
            raise error.naming(action="scrape") from None
    # Duplicates dropped, first-seen order kept.
    return WebScrape(info_hashes=tuple(hashes))
