"""The replica of a shared swarm store (tracker/redis_store.py): the other processes' peers of
the swarms in use here, as the Redis link's refresh reads them (redis_scripts.VIEW), rebuilt
only when Redis has a swarm at another version than the one it was rebuilt at."""

from __future__ import annotations

import socket

from tracker.core import Peer, RemoteConnection


class Replica:
    """Mixed into SharedSwarmStore: `view`, `remote`, `versions`, `downloaded`, `own_web` and
    `process` are its."""

    def replica_versions(self, swarms: list[bytes], now: float, full_every: float) -> list[bytes]:
        """For each swarm the link refreshes, the version its replica was rebuilt at, for VIEW
        to answer "unchanged"; b"" (rebuild it) if none, or if that was `full_every` seconds
        ago or more: a rebuild gives the replica's peers their last_seen. The versions of
        swarms no longer refreshed are forgotten: their replica expires here."""
        versions, self.versions = self.versions, {}
        seen = []
        for info_hash in swarms:
            version = versions.get(info_hash)
            if version is not None and now - version[1] < full_every:
                self.versions[info_hash] = version
                seen.append(version[0])
            else:
                seen.append(b"")
        return seen

    def may_hold(self, info_hash: bytes, processes: set[str]) -> bool:
        """Whether Redis may have web peers of these processes in the swarm: a replica of a
        known version is Redis's list at that version less own peers."""
        version = self.versions.get(info_hash)
        return version is None or not version[2].isdisjoint(processes)

    def replica_unchanged(self, info_hash: bytes, downloaded: int) -> None:
        """Redis has the swarm as the replica has it: only the downloads may have grown."""
        self.downloaded[info_hash] = downloaded

    def replace_replica(
        self,
        info_hash: bytes,
        web: dict[bytes, tuple[str, int, bool, str | None]],
        http: dict[bytes, tuple[str, bytes, bool, str | None]],
        downloaded: int,
        now: float,
        version: bytes = b"",
    ) -> None:
        """The other processes' peers of one swarm as Redis holds them now, at `version`: web
        peers by pseudonym (process, socket number, seeder, source's name), HTTP peers by
        peer_id (process that wrote it, compact address, seeder, source's name). A web peer of
        the replica has its pseudonym for peer_id. The version is kept only if the replica is
        Redis's list less this process's own writes: one that leaves out a peer for a reason
        of this process (a claim of its own over it) must be rebuilt once that is gone."""
        self.downloaded[info_hash] = downloaded
        view = self.view
        own_web = self.own_web
        before = self.remote.pop(info_hash, set())
        fresh: set[bytes] = set()
        exact = True
        holders = set()
        for pseudonym, (process, number, seeder, source) in web.items():
            if process == self.process:
                continue  # own peers are known here first-hand
            if (info_hash, pseudonym) in own_web:
                # So is one whose claim Redis refused (another process held its peer_id
                # first): taken_elsewhere withdraws it.
                exact = False
                continue
            fresh.add(pseudonym)
            holders.add(process)
            connection = RemoteConnection(process, number)
            left = 0 if seeder else 1
            view.put(info_hash, Peer(pseudonym, connection, None, None, left, now, b"", source))
        for peer_id, (process, compact, seeder, source) in http.items():
            if process == self.process:
                continue
            if peer_id not in before and view.get(info_hash, peer_id):
                exact = False  # an HTTP peer now announcing here, still another's in Redis
                continue
            fresh.add(peer_id)
            ip, port = unpack_compact(compact)
            left = 0 if seeder else 1
            view.put(info_hash, Peer(peer_id, None, ip, port, left, now, compact, source))
        for peer_id in before - fresh:
            view.remove(info_hash, peer_id)
        if fresh:
            self.remote[info_hash] = fresh
        if version and exact:
            self.versions[info_hash] = (version, now, frozenset(holders))
        else:
            self.versions.pop(info_hash, None)

    def forget_replica(self) -> None:
        """Serve from own peers only (Redis unreachable: the others' peers may be gone)."""
        self.versions = {}
        for info_hash, replica in self.remote.items():
            for peer_id in replica:
                self.view.remove(info_hash, peer_id)
        self.remote = {}


def unpack_compact(compact: bytes) -> tuple[str, int]:
    family = socket.AF_INET if len(compact) == 6 else socket.AF_INET6
    return socket.inet_ntop(family, compact[:-2]), int.from_bytes(compact[-2:], "big")
