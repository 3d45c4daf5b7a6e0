"""The front door's entries for a tracker process that shares its swarms with others
(PEERVEIL_REDIS_URL): offers and answers another process relayed here, a peer_id the shared
store found held elsewhere, and the spy guard's requests counted here for the others and
there for this one (shared_guard.py). Mixed into TrackerCore (front_door.py); sans-I/O."""

from __future__ import annotations

from . import shared_guard
from .outgoing import RelayedAnswer, RelayedOffer
from .results import NOTHING, Result
from .swarm import RemoteConnection


class SeveralProcesses:
    # Relay from other processes (a shared store): already admitted by the sender's process

    def offer_from_elsewhere(
        self,
        connection: object,
        target: bytes,
        sender: RemoteConnection,
        offer: RelayedOffer,
        now: float,
    ) -> Result:
        """An offer another process relayed to its peer `target` on this `connection`."""
        sent = self.swarms.offer_from_elsewhere(connection, target, sender, offer, now)
        return Result(messages=tuple(sent)) if sent else NOTHING

    def answer_from_elsewhere(
        self, connection: object, to_peer_id: bytes, answer: RelayedAnswer
    ) -> Result:
        """An answer, checked by the answerer's process, to this connection's `to_peer_id`."""
        sent = self.swarms.answer_from_elsewhere(connection, to_peer_id, answer)
        return Result(messages=tuple(sent)) if sent else NOTHING

    def taken_elsewhere(self, info_hash: bytes, peer_id: bytes) -> Result:
        """The shared store holds `peer_id` for another process's socket: refuse this one's."""
        sent = self.swarms.taken_elsewhere(info_hash, peer_id)
        return Result(messages=tuple(sent)) if sent else NOTHING

    # The guard of several processes (shared_guard.py)

    def share_guard(self) -> None:
        """Record the requests the guard counts, for the other processes to count too."""
        shared_guard.share(self.guard)

    def guard_events(self, now: float, sockets: bool = False) -> tuple[list, dict[str, list]]:
        """The requests counted since the last call, by source key (the shell names them):
        those for every other process, and those for some only, by process; `sockets`: then
        the table of open sockets per source (every SNAPSHOT_SECONDS)."""
        return shared_guard.take_events(self.guard, sockets, now, self._video_of)

    def replay_guard(self, events, now: float, process: str = "") -> list[str]:
        """Count the requests other processes counted (`process` sent them); returns the
        sources now blocked (close their sockets here)."""
        guard = self.guard
        return shared_guard.replay(guard, events, self._video_of, self._counted_as, now, process)

    def adopt_source(self, stand_in: str, key: str) -> None:
        """What was counted under `stand_in` (how other processes name `key`) is `key`'s."""
        shared_guard.adopt(self.guard, stand_in, key)
