"""Sans-I/O protocol core of the peerveil tracker (WebSocket signalling + HTTP announce).

No Django, Channels or asyncio here: the clock and randomness are parameters, so the whole
protocol is testable with plain function calls.
"""

from .bencode import BencodeError, bdecode, bencode
from .config import HARD_MAX_PEERS, TrackerConfig
from .gate import GuardedTracker
from .guard import Alarm, Guard, GuardConfig, SocketMeter, Verdict
from .messages import (
    HttpAnnounce,
    HttpScrape,
    ProtocolError,
    WebAnnounce,
    WebAnswer,
    WebOffer,
    WebScrape,
    parse_http_announce,
    parse_http_scrape,
    parse_web_message,
    wire_id,
)
from .swarm import InMemorySwarmStore, KindCounts, Peer, SwarmStore
from .tracker import Tracker

__all__ = [
    "HARD_MAX_PEERS",
    "Alarm",
    "BencodeError",
    "Guard",
    "GuardConfig",
    "GuardedTracker",
    "HttpAnnounce",
    "HttpScrape",
    "InMemorySwarmStore",
    "KindCounts",
    "Peer",
    "ProtocolError",
    "SocketMeter",
    "SwarmStore",
    "Tracker",
    "TrackerConfig",
    "Verdict",
    "WebAnnounce",
    "WebAnswer",
    "WebOffer",
    "WebScrape",
    "bdecode",
    "bencode",
    "parse_http_announce",
    "parse_http_scrape",
    "parse_web_message",
    "wire_id",
]
