"""Tunable limits of the tracker core.

Every limit exists so that one misbehaving client cannot grow the tracker's memory or make it
send unbounded traffic to other clients (the reference bittorrent-tracker has none of them).
"""

from __future__ import annotations

from dataclasses import dataclass

# Ceiling on peers listed in one HTTP reply and on offers relayed for one announce. Classic
# trackers cap around 50 by default (80-200 at most); numwant is only a wish (BEP 3).
HARD_MAX_PEERS = 50
# The highest crowd threshold an instance or a video may set: "P2P only from N viewers" (N=1 is
# no threshold). A thousand distinct addresses in one swarm is already a crowd in which one
# address says little about who watched.
MAX_CROWD_THRESHOLD = 1000


@dataclass(frozen=True)
class TrackerConfig:
    # Seconds between announces that clients are told to keep. 120 s is what the reference
    # tracker sends; webtorrent re-announces (with fresh offers) at exactly this period.
    announce_interval: int = 120
    min_interval: int = 60
    # Clamped to HARD_MAX_PEERS in __post_init__.
    max_peers_per_reply: int = 20
    max_offers_per_announce: int = 10
    # Offers relayed per announce; the rest are dropped. webtorrent's client never makes more
    # than 5 (bittorrent-tracker lib/client/websocket-tracker.js: Math.min(opts.numwant, 5)),
    # and each relayed offer is an answer, with its sender's address in the SDP, that a
    # crawler collects: relaying the 10 a message may carry only served crawlers.
    max_relayed_offers: int = 5
    max_message_bytes: int = 65536
    max_infohashes_per_connection: int = 50
    # webtorrent gives up on an unanswered offer after 50 s (OFFER_TIMEOUT in
    # bittorrent-tracker's websocket-tracker.js); an answer later than this is useless.
    offer_ttl: float = 60.0
    max_scrape_infohashes: int = 50
    # HTTP peers one address may hold in one swarm; a new one replaces the one of that address
    # that announced longest ago. "Address" is the guard's source key (addresses.source_key):
    # an IPv4 address, an IPv6 /64, since a host picks any address of its /64 at will. One
    # address announcing 100 peer_ids held 100 places of a swarm, so the random samples other
    # clients got listed mostly it: a collector in most places is the peer the swarm's clients
    # connect to, and learns their addresses. A home rarely runs more than a few BitTorrent
    # clients on one video.
    max_http_peers_per_address: int = 4

    def __post_init__(self) -> None:
        for name in (
            "announce_interval",
            "min_interval",
            "max_peers_per_reply",
            "max_offers_per_announce",
            "max_relayed_offers",
            "max_message_bytes",
            "max_infohashes_per_connection",
            "offer_ttl",
            "max_scrape_infohashes",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_http_peers_per_address < 1:
            # Zero would let no HTTP peer in at all; P2P has its own switch for that.
            raise ValueError("max_http_peers_per_address must be at least 1")
        if self.max_peers_per_reply > HARD_MAX_PEERS:
            # frozen dataclass: the only way to normalise a field after init.
            object.__setattr__(self, "max_peers_per_reply", HARD_MAX_PEERS)

    @property
    def peer_ttl(self) -> float:
        # Two missed announces before a silent peer is dropped: one lost announce is tolerated.
        return 2 * self.announce_interval

    @property
    def idle_connection_timeout(self) -> float:
        # A socket that sent nothing for two intervals (plus slack for a slow announce) is dead.
        return 2 * self.announce_interval + 30

    @property
    def max_pending_offers_per_connection(self) -> int:
        # Enough for every swarm the connection may join to receive a full announce's worth of
        # offers; beyond it the oldest pending offer is forgotten (see pending_offers.py).
        return max(1, self.max_offers_per_announce * self.max_infohashes_per_connection)

    @property
    def max_peer_ids_per_connection(self) -> int:
        # A browser uses one peer_id for all its torrents; several are tolerated (Node clients
        # sharing a socket) but not an unbounded number of bindings.
        return max(1, self.max_infohashes_per_connection)
