"""Which WebSocket owns which peer_id, and which swarms each socket's peers are in.

The reference tracker (bittorrent-tracker 11) trusts the peer_id written in each message, so a
stranger can send a forged "stopped" and evict another peer. Here a peer_id belongs to the
socket that first announced it, for as long as that socket is open.
"""

from __future__ import annotations


class _Connection:
    __slots__ = ("peer_ids", "memberships")

    def __init__(self) -> None:
        self.peer_ids: set[bytes] = set()
        self.memberships: set[tuple[bytes, bytes]] = set()  # (info_hash, peer_id)


class ConnectionBook:
    """Connections are opaque hashable ids chosen by the caller, one per WebSocket."""

    def __init__(self, max_memberships: int, max_peer_ids: int) -> None:
        self.max_memberships = max_memberships
        self.max_peer_ids = max_peer_ids
        self._owners: dict[bytes, object] = {}
        self._connections: dict[object, _Connection] = {}

    def __len__(self) -> int:
        return len(self._connections)

    def owner(self, peer_id: bytes) -> object | None:
        return self._owners.get(peer_id)

    def join(self, connection: object, info_hash: bytes, peer_id: bytes) -> str | None:
        """Record the membership and bind the peer_id; return a failure reason if over a limit.

        The caller has checked that the peer_id is not owned by another connection."""
        state = self._connections.get(connection) or _Connection()
        if (info_hash, peer_id) in state.memberships:
            # Already counted (its peer may have been dropped by a shared store's expiry).
            return None
        # Counted per (swarm, peer_id): with one peer_id per socket, as browsers do, this is
        # the number of torrents announced on the socket. It bounds what one socket can store.
        if len(state.memberships) >= self.max_memberships:
            return "too many torrents on this connection"
        if peer_id not in state.peer_ids:
            # Bindings last until the socket closes, so cap them too, or a socket cycling
            # through fresh peer_ids would grow the table forever.
            if len(state.peer_ids) >= self.max_peer_ids:
                return "too many peer_ids on this connection"
            state.peer_ids.add(peer_id)
            self._owners[peer_id] = connection
        state.memberships.add((info_hash, peer_id))
        self._connections[connection] = state
        return None

    def leave(self, connection: object, info_hash: bytes, peer_id: bytes) -> bool:
        """Drop the membership; True if this connection had it (so its peer may be removed)."""
        state = self._connections.get(connection)
        if state is None or (info_hash, peer_id) not in state.memberships:
            return False
        state.memberships.discard((info_hash, peer_id))
        return True

    def disconnect(self, connection: object) -> set[tuple[bytes, bytes]]:
        """Release the connection's peer_ids; return its (info_hash, peer_id) memberships."""
        state = self._connections.pop(connection, None)
        if state is None:
            return set()
        for peer_id in state.peer_ids:
            if self._owners.get(peer_id) == connection:
                del self._owners[peer_id]
        return state.memberships
