"""The swarms' state machine for classic clients: HTTP announce and scrape (BEP 3, BEP 23's
compact lists, BEP 48's scrape). Mixed into Tracker (tracker.py), whose store, policy and
connections it uses; sans-I/O like the rest of the core.
"""

from __future__ import annotations

import random

from .addresses import source_key
from .message_types import Event, HttpAnnounce, HttpScrape, LocalProtocolError
from .outgoing import (
    CROWD_WARNING,
    HttpAnnounceReply,
    HttpMessage,
    HttpScrapeReply,
    compact_peer,
)
from .swarm import Peer


class HttpSwarm:
    def handle_http_announce(
        self, message: HttpAnnounce, now: float, rng: random.Random, capped: bool = True
    ) -> HttpMessage:
        """`capped` False: a source the caller exempts from every limit (the front door), whose
        peers are not counted per address."""
        info_hash, peer_id = message.info_hash, message.peer_id
        existing = self.store.get(info_hash, peer_id)
        mine = existing is not None and not existing.is_web and existing.ip == message.ip
        refusal = self.access(info_hash)
        if refusal is not None:
            if mine:
                self.store.remove(info_hash, peer_id)
            raise LocalProtocolError(refusal)
        # A peer_id is held by its web socket, or by the address that first announced it.
        if self._connections.owner(peer_id) is not None or (existing is not None and not mine):
            raise LocalProtocolError("peer_id is in use")
        if message.event == Event.STOPPED:
            if mine:
                self.store.remove(info_hash, peer_id)
            return self._http_reply(info_hash, [], message)
        if message.event == Event.COMPLETED and mine and not existing.seeder:
            self.store.record_completed(info_hash)
        ip, port = message.ip, message.port
        source = None if existing is None else existing.source  # mine: the same address
        if existing is None and capped:
            # The parser normalised the address (http_parser._normalise_ip): a dotted quad is
            # its own source key, and only an IPv6 address needs parsing for its /64.
            source = ip if ":" not in ip else source_key(ip)
            self._make_room(info_hash, source)
        peer = Peer(peer_id, None, ip, port, message.left, now, compact_peer(ip, port), source)
        self.store.put(info_hash, peer)
        below = self.crowd_shortfall(info_hash)
        if below is not None:
            return self._http_reply(info_hash, [], message, below)
        wanted = self.config.max_peers_per_reply
        if message.numwant is not None:
            wanted = min(wanted, message.numwant)
        # Only HTTP peers are listed: a web peer has no address a classic client could use,
        # and its IP is never stored.
        peers = self.store.sample_http(info_hash, wanted, rng, exclude=peer_id)
        return self._http_reply(info_hash, peers, message)

    def _make_room(self, info_hash: bytes, source: str) -> None:
        """Before a new peer of `source` joins: forget the ones of that source that announced
        longest ago, so that it holds at most max_http_peers_per_address places. A forgotten
        client that announces again is a new peer, and replaces the next one."""
        peers = self.store.http_peers_from(info_hash, source)
        excess = len(peers) + 1 - self.config.max_http_peers_per_address
        for peer in peers[: max(0, excess)]:
            self.store.remove(info_hash, peer.peer_id)

    def _http_reply(
        self, info_hash: bytes, peers: list[Peer], message: HttpAnnounce, below: int | None = None
    ) -> HttpAnnounceReply:
        complete, incomplete, _ = self.store.counts(info_hash)
        config = self.config
        return HttpAnnounceReply(
            config.announce_interval,
            config.min_interval,
            complete,
            incomplete,
            tuple(peers),
            message.compact,
            message.no_peer_id,
            None if below is None else CROWD_WARNING.format(threshold=below),
        )

    def handle_http_scrape(self, message: HttpScrape) -> HttpMessage:
        files, refusal = self._scrape(message.info_hashes)
        if not files:
            raise LocalProtocolError(refusal)
        return HttpScrapeReply(files)
