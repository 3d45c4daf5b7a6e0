"""Sans-I/O protocol core of the peerveil tracker (WebSocket signalling + HTTP announce).

No Django, Channels or asyncio here: the clock and randomness are parameters, so the whole
protocol is testable with plain function calls. The shells call one object, TrackerCore
(front_door.py); what it returns is a value: messages to send, sockets to close, alarms.
"""

from .bencode import BencodeError, bdecode, bencode
from .config import HARD_MAX_PEERS, MAX_CROWD_THRESHOLD, TrackerConfig
from .front_door import CLOSE_POLICY_VIOLATION, P2P_DISABLED, UNKNOWN_INFOHASH, TrackerCore
from .guard import Alarm, GuardConfig, SocketMeter
from .message_types import (
    Event,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    wire_id,
)
from .outgoing import (
    RelayedAnswer,
    RelayedOffer,
    RemoteAnswer,
    RemoteOffer,
    encode_http,
    encode_web,
    http_dict,
    web_frame,
    web_json,
)
from .results import HttpResult, Policy, Result
from .swarm import InMemorySwarmStore, KindCounts, Peer, RemoteConnection, SwarmStore

__all__ = [
    "CLOSE_POLICY_VIOLATION",
    "HARD_MAX_PEERS",
    "MAX_CROWD_THRESHOLD",
    "P2P_DISABLED",
    "UNKNOWN_INFOHASH",
    "Alarm",
    "BencodeError",
    "Event",
    "GuardConfig",
    "HttpResult",
    "InMemorySwarmStore",
    "KindCounts",
    "LocalProtocolError",
    "Peer",
    "Policy",
    "ProtocolError",
    "RelayedAnswer",
    "RelayedOffer",
    "RemoteAnswer",
    "RemoteConnection",
    "RemoteOffer",
    "RemoteProtocolError",
    "Result",
    "SocketMeter",
    "SwarmStore",
    "TrackerConfig",
    "TrackerCore",
    "bdecode",
    "bencode",
    "encode_http",
    "encode_web",
    "web_frame",
    "http_dict",
    "web_json",
    "wire_id",
]
