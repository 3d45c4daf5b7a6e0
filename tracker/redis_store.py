"""The swarm store of a tracker process that shares its swarms with others through Redis.

The core calls a store synchronously on every message, and a Redis round trip per call would
put the network, and Redis's health, on the path of every announce. So this store does no I/O:
it answers from memory, from this process's own peers plus a replica of the other processes'
peers, and keeps a journal of its own changes. The process's Redis link (tracker/redis_link.py)
writes the journal to Redis and refreshes the replica of the swarms in use, a few times a
second, off the message path. What the core decides from it (counts, samples, whether a
peer_id is taken) is therefore as fresh as the last refresh (REFRESH_SECONDS). A swarm's
replica is rebuilt only when Redis has the swarm at another version than the one it was rebuilt
at (redis_scripts.VIEW), or changed here, and at least every FULL_VIEW_SECONDS
(redis_link.full_view_seconds).

A web peer of another process appears with a RemoteConnection (its process, its socket's
number there) and its source's name (the keyed hash of its address), never with an address;
and under its pseudonym (the keyed hash of its peer_id, redis_layout.pseudonyms), never with
its peer_id: Redis has it so (its dumps may write it to disk), and so do its offers, which
name their target by it. This process alone knows its own web peers' peer_ids, and maps
back the pseudonyms that Redis and the others give it (peer_id_of). An HTTP peer is shared
with its peer_id, and its compact address, only when `share_http` (Redis does not persist to
disk, see redis_layout.persists()); otherwise HTTP peers stay in the process that saw them.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tracker.core import InMemorySwarmStore, KindCounts, Peer
from tracker.redis_replica import Replica

PeerKey = tuple[bytes, bytes]  # (info_hash, peer_id)
# (info_hash, the peer's id in Redis): a web peer's pseudonym, an HTTP peer's peer_id. HTTP
# peers keep theirs: a classic client is given the listed peers' peer_ids, and an HTTP peer
# reaches Redis only when Redis writes nothing to disk, with its address besides.
StoredKey = tuple[bytes, bytes]

# What the journal holds for a peer: the Peer to write, or one of these removals.
REMOVE_OWN = "own"  # remove it from Redis only if this process wrote it last
REMOVE_ANY = "any"  # remove it whoever wrote it (another process's HTTP peer that stopped)


class SharedSwarmStore(Replica):
    """`name(source)` is the name every process gives a source: the keyed hash of its
    address, never the address (idempotent: a name is its own name). A peer is stored under
    it, so that the crowd threshold's distinct viewers and the per-address cap of HTTP peers
    count one address once, whichever processes its peers are on."""

    def __init__(
        self,
        process: str,
        pseudonym: Callable[[bytes, bytes], bytes],
        share_http: bool = False,
        name: Callable[[str], str] | None = None,
    ) -> None:
        self.process = process
        self.pseudonym = pseudonym  # redis_layout.pseudonyms
        self.share_http = share_http
        self.name = name or (lambda source: source)
        # Own peers by peer_id and the replica's by their ids in Redis, for O(k) sampling.
        self.view = InMemorySwarmStore()
        self.remote: dict[bytes, set[bytes]] = {}  # swarm -> ids in Redis of the replica
        self.journal: dict[StoredKey, Peer | str] = {}
        self.dropped: set[bytes] = set()  # swarms to empty in Redis (P2P switched off)
        self.completed: dict[bytes, int] = {}  # downloads not written yet
        self.downloaded: dict[bytes, int] = {}  # downloads as Redis counted them
        self.used: dict[bytes, float] = {}  # swarm -> last time this process used it
        # Own peers: when each was last journaled, what Redis then got, and its id there (a
        # web peer's pseudonym, computed once, at its first announce). A peer announcing
        # again unchanged is journaled again only `rewrite_after` seconds after the last time,
        # not at every announce (a client announcing more often than its interval).
        self.journaled: dict[PeerKey, tuple[float, tuple, bytes]] = {}
        self.own_web: dict[StoredKey, bytes] = {}  # own web peers' peer_ids by pseudonym
        self.rewrite_after = 0.0  # set by the link from the peers' time to live in Redis
        self.clock = 0.0  # the time of the link's last refresh, for swarms only scraped
        # Swarm -> (its version in Redis the replica was rebuilt at, when, the processes of its
        # web peers): the link's refresh asks Redis only for what changed since
        # (redis_scripts.VIEW). Forgotten whenever the replica changes here, so that the next
        # refresh rebuilds it.
        self.versions: dict[bytes, tuple[bytes, float, frozenset[str]]] = {}

    def connection_number(self, peer: Peer) -> int:
        # The service numbers its sockets (relay_id); other processes address them by it.
        return peer.connection.relay_id

    # SwarmStore

    def get(self, info_hash: bytes, peer_id: bytes) -> Peer | None:
        peer = self.view.get(info_hash, peer_id)
        if peer is None and info_hash in self.remote:
            # Another process's web peer is in the replica under its pseudonym: a socket here
            # must not take its peer_id. Hashed only for a peer_id new here (an own peer is
            # found first).
            peer = self.view.get(info_hash, self.pseudonym(info_hash, peer_id))
        return peer

    def put(self, info_hash: bytes, peer: Peer) -> None:
        if peer.source is not None:
            peer.source = self.name(peer.source)
        key = (info_hash, peer.peer_id)
        last = self.journaled.get(key)
        if last is not None:
            stored_id = last[2]
        elif peer.is_web:
            stored_id = self.pseudonym(info_hash, peer.peer_id)
            self.own_web[(info_hash, stored_id)] = peer.peer_id
        else:
            stored_id = peer.peer_id
        # Another process's HTTP peer announcing here now: this process's from now on. (A web
        # peer of the replica never comes here: get() found it, and the core refused.)
        self._unmark(info_hash, stored_id)
        self.view.put(info_hash, peer)
        self.used[info_hash] = peer.last_seen
        if peer.is_web or self.share_http:
            stored = (peer.connection, peer.seeder, peer.source, peer.compact)
            if last is None or last[1] != stored or peer.last_seen - last[0] > self.rewrite_after:
                self.journaled[key] = (peer.last_seen, stored, stored_id)
                self.journal[(info_hash, stored_id)] = peer

    def remove(self, info_hash: bytes, peer_id: bytes) -> Peer | None:
        peer = self.view.remove(info_hash, peer_id)
        if peer is not None:
            if self._unmark(info_hash, peer_id):
                self.journal[(info_hash, peer_id)] = REMOVE_ANY
            else:
                stored_id = self._forget_own(info_hash, peer)
                if peer.is_web or self.share_http:
                    self.journal[(info_hash, stored_id)] = REMOVE_OWN
        return peer

    def counts(self, info_hash: bytes) -> tuple[int, int, int]:
        self.used[info_hash] = self.clock
        complete, incomplete, _ = self.view.counts(info_hash)
        downloaded = self.downloaded.get(info_hash, 0) + self.completed.get(info_hash, 0)
        return complete, incomplete, downloaded

    def count_by_kind(self, info_hash: bytes) -> KindCounts:
        return self.view.count_by_kind(info_hash)

    def http_peers_from(self, info_hash: bytes, source: str) -> list[Peer]:
        return self.view.http_peers_from(info_hash, self.name(source))

    def viewers(self, info_hash: bytes) -> int:
        return self.view.viewers(info_hash)

    def record_completed(self, info_hash: bytes) -> None:
        self.completed[info_hash] = self.completed.get(info_hash, 0) + 1

    def sample_web(
        self, info_hash: bytes, k: int, rng: random.Random, exclude: bytes
    ) -> list[Peer]:
        return self.view.sample_web(info_hash, k, rng, exclude)

    def sample_http(
        self, info_hash: bytes, k: int, rng: random.Random, exclude: bytes
    ) -> list[Peer]:
        return self.view.sample_http(info_hash, k, rng, exclude)

    def expire(self, now: float, ttl: float) -> list[tuple[bytes, Peer]]:
        expired = self.view.expire(now, ttl)
        for info_hash, peer in expired:
            if self._unmark(info_hash, peer.peer_id):
                pass  # the replica of a swarm no longer refreshed: its owner keeps it in Redis
            else:
                stored_id = self._forget_own(info_hash, peer)
                if peer.is_web or self.share_http:
                    self.journal[(info_hash, stored_id)] = REMOVE_OWN
        return expired

    def drop_swarm(self, info_hash: bytes) -> list[Peer]:
        dropped = self.view.drop_swarm(info_hash)
        replica = self.remote.pop(info_hash, ())
        self.versions.pop(info_hash, None)
        for peer in dropped:
            stored_id = peer.peer_id
            if stored_id not in replica:
                stored_id = self._forget_own(info_hash, peer)
            self.journal.pop((info_hash, stored_id), None)
        self.dropped.add(info_hash)
        return dropped

    def info_hashes(self) -> list[bytes]:
        return self.view.info_hashes()

    def _unmark(self, info_hash: bytes, stored_id: bytes) -> bool:
        """Whether the peer was of the replica (it is not any more)."""
        replica = self.remote.get(info_hash)
        if replica is None or stored_id not in replica:
            return False
        replica.discard(stored_id)
        self.versions.pop(info_hash, None)
        if not replica:
            del self.remote[info_hash]
        return True

    def _stored_id(self, info_hash: bytes, peer: Peer) -> bytes:
        """An own peer's id in Redis (an HTTP peer not journaled yet: its peer_id)."""
        last = self.journaled.get((info_hash, peer.peer_id))
        return peer.peer_id if last is None else last[2]

    def _forget_own(self, info_hash: bytes, peer: Peer) -> bytes:
        """An own peer gone: its id in Redis, forgotten here."""
        last = self.journaled.pop((info_hash, peer.peer_id), None)
        if last is None:
            return peer.peer_id
        self.own_web.pop((info_hash, last[2]), None)
        return last[2]

    # What the Redis link and the service call

    def peer_id_of(self, info_hash: bytes, pseudonym: bytes) -> bytes | None:
        """The peer_id of this process's web peer that Redis and the other processes know by
        `pseudonym` in that swarm (the target of an offer they relay here, a claim Redis
        refused); None if it is not this process's, or left."""
        return self.own_web.get((info_hash, pseudonym))

    def take_journal(self) -> tuple[dict[StoredKey, Peer | str], set[bytes], dict[bytes, int]]:
        """The changes to write, forgotten here (the link writes them again after an outage
        through resync())."""
        journal, dropped, completed = self.journal, self.dropped, self.completed
        self.journal, self.dropped, self.completed = {}, set(), {}
        for info_hash, count in completed.items():
            self.downloaded[info_hash] = self.downloaded.get(info_hash, 0) + count
        return journal, dropped, completed

    def restore_journal(
        self, journal: dict[StoredKey, Peer | str], dropped: set[bytes], completed: dict[bytes, int]
    ) -> None:
        """Changes take_journal() gave out that did not reach Redis: due again, under any
        newer change to the same peer."""
        for key, change in journal.items():
            self.journal.setdefault(key, change)
        self.dropped |= dropped
        for info_hash, count in completed.items():
            self.completed[info_hash] = self.completed.get(info_hash, 0) + count
            self.downloaded[info_hash] -= count

    def resync(self) -> None:
        """Journal every own peer again: Redis lost its data (a restart) or missed writes."""
        self.versions = {}
        view = self.view
        for info_hash in view.info_hashes():
            replica = self.remote.get(info_hash, ())
            for peer in view.peers(info_hash):
                if peer.peer_id not in replica and (peer.is_web or self.share_http):
                    self.journal.setdefault((info_hash, self._stored_id(info_hash, peer)), peer)

    def swarms_in_use(self, now: float, since: float) -> list[bytes]:
        """Swarms with peers here, or used since then: the ones whose replica is refreshed."""
        self.clock = now
        stale = [h for h, at in self.used.items() if at < since]
        for info_hash in stale:
            del self.used[info_hash]
        return list(set(self.view.info_hashes()) | set(self.used))

    def use(self, info_hash: bytes, now: float) -> None:
        self.used[info_hash] = now
