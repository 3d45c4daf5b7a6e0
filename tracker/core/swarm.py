"""Swarm storage: the peers of each torrent, behind an interface a Redis store can implement.

Only plain values cross the interface (bytes ids, numbers, Peer records), never live Python
objects to mutate in place: a Peer returned by the store is a copy as far as callers know,
and every change goes back through put().
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NamedTuple, Protocol


@dataclass(slots=True)
class Peer:
    peer_id: bytes
    # Opaque id of the WebSocket connection of a web peer; None for an HTTP peer.
    connection: object | None
    # HTTP peers only: their address is what the tracker hands out (BEP 3). A web peer's IP
    # is never needed (WebRTC finds its own way) and never stored.
    ip: str | None
    port: int | None
    left: int | None  # None: unknown (no metadata yet), which counts as incomplete
    last_seen: float
    # HTTP peers only: address and port as a compact reply lists them (replies.compact_peer),
    # packed once per announce rather than once per reply that lists the peer.
    compact: bytes = b""
    # The guard's key of the peer's source (an address, an IPv6 /64; in memory like the
    # address): what the crowd threshold counts distinct viewers by, and for an HTTP peer what
    # the per-address cap counts it under. None: not counted (an exempt source, such as the
    # instance's own redundancy seeders).
    source: str | None = None

    @property
    def seeder(self) -> bool:
        return self.left == 0

    @property
    def is_web(self) -> bool:
        return self.connection is not None


class RemoteConnection(NamedTuple):
    """The socket of a web peer that another tracker process holds (a shared store's peers):
    offers and answers for it go to that process, which alone knows the socket."""

    process: str
    connection: int


class KindCounts(NamedTuple):
    web_seeders: int
    web_leechers: int
    http_seeders: int
    http_leechers: int


class SwarmStore(Protocol):
    def get(self, info_hash: bytes, peer_id: bytes) -> Peer | None: ...

    def put(self, info_hash: bytes, peer: Peer) -> None:
        """Insert or replace the peer with this peer_id in the swarm."""

    def remove(self, info_hash: bytes, peer_id: bytes) -> Peer | None: ...

    def counts(self, info_hash: bytes) -> tuple[int, int, int]:
        """(complete, incomplete, downloaded), as in a BEP 48 scrape."""

    def count_by_kind(self, info_hash: bytes) -> KindCounts: ...

    def http_peers_from(self, info_hash: bytes, source: str) -> list[Peer]:
        """The HTTP peers counted under `source`, the one put longest ago first."""

    def viewers(self, info_hash: bytes) -> int:
        """Distinct sources among the swarm's peers, web and HTTP (peers without one, from
        exempt sources, are not counted): one address with five sockets is one viewer."""

    def record_completed(self, info_hash: bytes) -> None: ...

    def sample_web(
        self, info_hash: bytes, k: int, rng: random.Random, exclude: bytes
    ) -> list[Peer]:
        """Up to k distinct random web peers, never the one whose peer_id is `exclude`."""

    def sample_http(
        self, info_hash: bytes, k: int, rng: random.Random, exclude: bytes
    ) -> list[Peer]: ...

    def expire(self, now: float, ttl: float) -> list[tuple[bytes, Peer]]:
        """Remove and return the peers last seen `ttl` seconds ago or earlier."""

    def drop_swarm(self, info_hash: bytes) -> list[Peer]: ...

    def info_hashes(self) -> list[bytes]:
        """The swarms that have at least one peer."""


class _Swarm:
    """One torrent's peers, with one list per kind so that sampling is O(k) (the reference
    tracker lists the whole swarm on every announce, O(swarm size))."""

    __slots__ = (
        "peers",
        "web",
        "web_index",
        "http",
        "http_index",
        "by_source",
        "viewers",
        "web_seeders",
        "seeders",
    )

    def __init__(self) -> None:
        self.peers: dict[bytes, Peer] = {}
        self.web: list[bytes] = []
        self.web_index: dict[bytes, int] = {}
        self.http: list[bytes] = []
        self.http_index: dict[bytes, int] = {}
        # HTTP peers per source key, in the order they were last put (dicts keep insertion
        # order): the first is the one that announced longest ago.
        self.by_source: dict[str, dict[bytes, None]] = {}
        # Peers per source key, web and HTTP: its length is the swarm's distinct viewers.
        self.viewers: dict[str, int] = {}
        self.web_seeders = 0
        self.seeders = 0

    def link(self, peer: Peer) -> None:
        self.peers[peer.peer_id] = peer
        ids, index = (self.web, self.web_index) if peer.is_web else (self.http, self.http_index)
        index[peer.peer_id] = len(ids)
        ids.append(peer.peer_id)
        self._count(peer, 1)
        self._index(peer)
        self._view(peer.source, 1)

    def unlink(self, peer_id: bytes) -> Peer | None:
        peer = self.peers.pop(peer_id, None)
        if peer is None:
            return None
        ids, index = (self.web, self.web_index) if peer.is_web else (self.http, self.http_index)
        # Swap-remove: move the last id into the hole, O(1) instead of list.remove's O(n).
        position = index.pop(peer_id)
        last = ids.pop()
        if last != peer_id:
            ids[position] = last
            index[last] = position
        self._count(peer, -1)
        self._unindex(peer)
        self._view(peer.source, -1)
        return peer

    def replace(self, peer: Peer) -> None:
        """Refresh a peer in place when its kind did not change (the common announce)."""
        old = self.peers[peer.peer_id]
        self._count(old, -1)
        self.peers[peer.peer_id] = peer
        self._count(peer, 1)
        if not peer.is_web and (old.source is not None or peer.source is not None):
            self._unindex(old)
            self._index(peer)  # at the end: the latest announce of its source
        if old.source != peer.source:
            self._view(old.source, -1)
            self._view(peer.source, 1)

    def _view(self, source: str | None, delta: int) -> None:
        if source is None:
            return
        viewers = self.viewers
        left = viewers.get(source, 0) + delta
        if left > 0:
            viewers[source] = left
        else:
            viewers.pop(source, None)

    def _count(self, peer: Peer, delta: int) -> None:
        if peer.seeder:
            self.seeders += delta
            if peer.is_web:
                self.web_seeders += delta

    def _index(self, peer: Peer) -> None:
        if peer.source is not None and not peer.is_web:
            self.by_source.setdefault(peer.source, {})[peer.peer_id] = None

    def _unindex(self, peer: Peer) -> None:
        if peer.source is not None and not peer.is_web:
            ids = self.by_source[peer.source]
            del ids[peer.peer_id]
            if not ids:
                del self.by_source[peer.source]

    def sample(self, ids: list[bytes], k: int, rng: random.Random, exclude: bytes) -> list[Peer]:
        size = len(ids)
        if k <= 0 or size == 0:
            return []
        peers = self.peers
        if size <= k:
            # Everyone is listed, in a random order: the list's order is the order of joining,
            # and clients that connect in listed order would all pile onto the oldest peers.
            listed = [peers[peer_id] for peer_id in ids if peer_id != exclude]
            rng.shuffle(listed)
            return listed
        # One index more than needed so that dropping `exclude` still leaves k when possible.
        picked = [ids[i] for i in rng.sample(range(size), min(k + 1, size))]
        return [self.peers[peer_id] for peer_id in picked if peer_id != exclude][:k]


class InMemorySwarmStore:
    """Single-process SwarmStore. All operations are O(1) or O(result size)."""

    def __init__(self) -> None:
        self._swarms: dict[bytes, _Swarm] = {}
        # Completed downloads outlive the swarm (a scrape reports them when nobody is there).
        self._downloaded: dict[bytes, int] = {}
        # Every (info_hash, peer_id) in order of last_seen: put() moves a key to the end, so
        # expire() stops at the first fresh peer instead of scanning every swarm. Assumes
        # callers pass a non-decreasing clock, which a monotonic clock is.
        self._by_age: dict[tuple[bytes, bytes], float] = {}

    def get(self, info_hash: bytes, peer_id: bytes) -> Peer | None:
        swarm = self._swarms.get(info_hash)
        return None if swarm is None else swarm.peers.get(peer_id)

    def put(self, info_hash: bytes, peer: Peer) -> None:
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            swarm = self._swarms[info_hash] = _Swarm()
        old = swarm.peers.get(peer.peer_id)
        if old is not None and old.is_web == peer.is_web:
            swarm.replace(peer)
        else:
            if old is not None:
                swarm.unlink(peer.peer_id)
            swarm.link(peer)
        key = (info_hash, peer.peer_id)
        self._by_age.pop(key, None)
        self._by_age[key] = peer.last_seen

    def remove(self, info_hash: bytes, peer_id: bytes) -> Peer | None:
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            return None
        peer = swarm.unlink(peer_id)
        if peer is not None:
            del self._by_age[(info_hash, peer_id)]
            if not swarm.peers:
                del self._swarms[info_hash]
        return peer

    def counts(self, info_hash: bytes) -> tuple[int, int, int]:
        downloaded = self._downloaded.get(info_hash, 0)
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            return 0, 0, downloaded
        return swarm.seeders, len(swarm.peers) - swarm.seeders, downloaded

    def count_by_kind(self, info_hash: bytes) -> KindCounts:
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            return KindCounts(0, 0, 0, 0)
        http_seeders = swarm.seeders - swarm.web_seeders
        return KindCounts(
            web_seeders=swarm.web_seeders,
            web_leechers=len(swarm.web) - swarm.web_seeders,
            http_seeders=http_seeders,
            http_leechers=len(swarm.http) - http_seeders,
        )

    def http_peers_from(self, info_hash: bytes, source: str) -> list[Peer]:
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            return []
        return [swarm.peers[peer_id] for peer_id in swarm.by_source.get(source, ())]

    def viewers(self, info_hash: bytes) -> int:
        swarm = self._swarms.get(info_hash)
        return 0 if swarm is None else len(swarm.viewers)

    def record_completed(self, info_hash: bytes) -> None:
        self._downloaded[info_hash] = self._downloaded.get(info_hash, 0) + 1

    def sample_web(
        self, info_hash: bytes, k: int, rng: random.Random, exclude: bytes
    ) -> list[Peer]:
        swarm = self._swarms.get(info_hash)
        return [] if swarm is None else swarm.sample(swarm.web, k, rng, exclude)

    def sample_http(
        self, info_hash: bytes, k: int, rng: random.Random, exclude: bytes
    ) -> list[Peer]:
        swarm = self._swarms.get(info_hash)
        return [] if swarm is None else swarm.sample(swarm.http, k, rng, exclude)

    def expire(self, now: float, ttl: float) -> list[tuple[bytes, Peer]]:
        cutoff = now - ttl
        stale: list[tuple[bytes, bytes]] = []
        for key, last_seen in self._by_age.items():
            if last_seen > cutoff:
                break
            stale.append(key)
        expired = []
        for info_hash, peer_id in stale:
            peer = self.remove(info_hash, peer_id)
            if peer is not None:
                expired.append((info_hash, peer))
        return expired

    def drop_swarm(self, info_hash: bytes) -> list[Peer]:
        swarm = self._swarms.pop(info_hash, None)
        if swarm is None:
            return []
        for peer_id in swarm.peers:
            del self._by_age[(info_hash, peer_id)]
        return list(swarm.peers.values())

    def info_hashes(self) -> list[bytes]:
        return list(self._swarms)

    def peers(self, info_hash: bytes) -> list[Peer]:
        """Every peer of the swarm (a shared store writes its own ones again after an outage)."""
        swarm = self._swarms.get(info_hash)
        return [] if swarm is None else list(swarm.peers.values())
