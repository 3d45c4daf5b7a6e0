"""The tracker's request types and their parsers, in one import place.

The types live in message_types.py, the parsers in web_parser.py (WebSocket, webtorrent) and
http_parser.py (classic HTTP), each kept small.
"""

from .http_parser import parse_http_announce, parse_http_scrape
from .message_types import (
    EVENT_COMPLETED,
    EVENT_STARTED,
    EVENT_STOPPED,
    ID_LENGTH,
    HttpAnnounce,
    HttpScrape,
    ProtocolError,
    WebAnnounce,
    WebAnswer,
    WebOffer,
    WebScrape,
    wire_id,
)
from .web_parser import parse_web_message

__all__ = [
    "EVENT_COMPLETED",
    "EVENT_STARTED",
    "EVENT_STOPPED",
    "ID_LENGTH",
    "HttpAnnounce",
    "HttpScrape",
    "ProtocolError",
    "WebAnnounce",
    "WebAnswer",
    "WebOffer",
    "WebScrape",
    "parse_http_announce",
    "parse_http_scrape",
    "parse_web_message",
    "wire_id",
]
