"""What a tracker process does with the instance's other tracker processes (PEERVEIL_REDIS_URL):
the TrackerService's part that talks to tracker/redis_link.py, which does the I/O.

Messages from the others arrive through the link's listener: offers and answers for this
process's sockets, P2P switches and policy changes, and the requests their spy guards counted.
Sources cross processes only as the keyed hash of their address (tracker.sources.hashed).
"""

from collections.abc import Iterable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from tracker.core import RelayedAnswer, RelayedOffer, RemoteConnection, TrackerCore
from tracker.core.shared_guard import SNAPSHOT_SECONDS

# Source names remembered for the shared guard before the table starts again (a source counted
# under its hash meanwhile is adopted again when it returns).
_NAMES_MAX = 65536


class SharedTracker:
    """Mixed into TrackerService: `link` is None in a process that shares nothing."""

    link = None
    _next_table = 0.0  # when this process next sends its table of open sockets per source

    def switched(self, info_hashes: Iterable[bytes]) -> None:
        """A P2P switch committed here: applied, and pushed to every tracker process (they
        would see it through the policy version within POLICY_POLL_SECONDS otherwise)."""
        info_hashes = list(info_hashes)
        self.p2p_changed(info_hashes)
        self._tell_everyone({"k": "switch", "h": [info_hash.hex() for info_hash in info_hashes]})

    def settings_changed(self) -> None:
        """The limits or the instance's switch changed: loaded here, pushed everywhere."""
        self.reload()
        self._tell_everyone({"k": "reload"})

    def _tell_everyone(self, message: dict) -> None:
        if settings.REDIS_URL:
            from tracker.redis_link import publish_sync

            publish_sync(settings.REDIS_URL, settings.SECRET_KEY, message)

    def _share_through_redis(self) -> None:
        from tracker.redis_link import RedisLink, namespace, new_process_id
        from tracker.redis_store import SharedSwarmStore

        store = SharedSwarmStore(new_process_id(), name=self.source_name)
        with self.lock:
            self.core = TrackerCore(store, self.policy.current)
            self.core.share_guard()
        self.link = RedisLink(self, settings.REDIS_URL, namespace(settings.SECRET_KEY), store)

    # From the other tracker processes (tracker.redis_link's listener)

    async def from_elsewhere(self, message: dict) -> None:
        kind = message["k"]
        if kind in ("o", "a"):
            consumer = self.numbered.get(message["to"])
            if consumer is None:
                return  # the socket closed meanwhile
            info_hash, peer_id, offer_id, signal = (
                message["h"].encode("latin-1"),
                message["p"].encode("latin-1"),
                message["i"].encode("latin-1"),
                message["s"],
            )
            target = message["t"].encode("latin-1")
            with self.lock:
                if kind == "o":
                    sender = RemoteConnection(*message["f"])
                    offer = RelayedOffer(info_hash, peer_id, offer_id, signal)
                    result = self.core.offer_from_elsewhere(
                        consumer, target, sender, offer, self.now()
                    )
                else:
                    answer = RelayedAnswer(info_hash, peer_id, offer_id, signal)
                    result = self.core.answer_from_elsewhere(consumer, target, answer)
            await self.carry_out(result)
        elif kind == "switch":
            changed = [bytes.fromhex(info_hash) for info_hash in message["h"]]
            await sync_to_async(self._switched_elsewhere)(changed)
        elif kind == "g":
            if message["f"] != self.link.process:
                self._replay_guard(message["e"], message["f"])
        elif kind == "reload":
            self.policy.mark_stale()
            await self._reload_in_thread()

    def source_name(self, key: str) -> str:
        """The name all processes give a source (the store's `name`): its keyed hash."""
        name = self.hash_of.get(key)
        if name is not None:
            return name
        if key in self.key_of:
            return key  # a name already
        self._learn(key, locked=True)
        return self.hash_of[key]

    def _learn(self, key: str | None, locked: bool = False) -> None:
        """Name a source as the other processes do (the keyed hash of its address); what
        they counted for it before it came here is its own from now on (`locked`: called
        under the lock, by the store)."""
        if key is None or key in self.hash_of:
            return
        if len(self.hash_of) >= _NAMES_MAX:
            self.hash_of.clear()
            self.key_of.clear()
        from tracker.sources import hashed

        stand_in = self.hash_of[key] = hashed(key)
        self.key_of[stand_in] = key
        if locked:
            return  # inside a core call (the store naming a peer): no adoption from there
        with self.lock:
            self.core.adopt_source(stand_in, key)

    def guard_events(self) -> list[list]:
        """The requests this process's guard counted, named by hash, for the others, and
        every SNAPSHOT_SECONDS its table of open sockets per source."""
        now = self.now()
        table = now >= self._next_table
        if table:
            self._next_table = now + SNAPSHOT_SECONDS
        with self.lock:
            events = self.core.guard_events(table)
        hash_of = self.hash_of
        return [
            [hash_of.get(key, key), kind, [arg.decode("latin-1") for arg in args]]
            for key, kind, args in events
        ]

    def _replay_guard(self, events: list, process: str) -> None:
        key_of = self.key_of
        replayed = [
            (key_of.get(name, name), kind, tuple(arg.encode("latin-1") for arg in args))
            for name, kind, args in events
        ]
        with self.lock:
            blocked = self.core.replay_guard(replayed, self.now(), process)
        for key in blocked:
            self._close_source(key)

    def _switched_elsewhere(self, info_hashes: list[bytes]) -> None:
        close_old_connections()
        self.p2p_changed(info_hashes)

    async def taken_elsewhere(self, info_hash: bytes, peer_id: bytes) -> None:
        with self.lock:
            result = self.core.taken_elsewhere(info_hash, peer_id)
        await self.carry_out(result)

    def sharing(self) -> dict[str, bool] | None:
        """Whether this process shares its swarms through Redis, and how (None: it does not)."""
        if self.link is None:
            return None
        return {"up": self.link.up, "http_shared": self.link.store.share_http}
