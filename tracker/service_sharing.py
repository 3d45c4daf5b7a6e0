"""What a tracker process does with the instance's other tracker processes (PEERVEIL_REDIS_URL):
the TrackerService's part that talks to tracker/redis_link.py, which does the I/O.

Messages from the others arrive through the link's listener: offers and answers for this
process's sockets, P2P switches and policy changes, and the requests their spy guards counted.
Sources cross processes only as the keyed hash of their address (tracker.sources.hashed).
"""

import logging
import struct
from collections.abc import Iterable

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from tracker.core import RelayedAnswer, RelayedOffer, RemoteConnection, TrackerCore
from tracker.core.shared_guard import SNAPSHOT_SECONDS
from tracker.redis_layout import ANSWER, GUARD, OFFER, records

log = logging.getLogger(__name__)

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
            from tracker.redis_pubsub import publish_sync

            publish_sync(settings.REDIS_URL, settings.SECRET_KEY, message)

    def _share_through_redis(self) -> None:
        from tracker.redis_layout import namespace, new_process_id, pseudonyms
        from tracker.redis_link import RedisLink
        from tracker.redis_store import SharedSwarmStore

        pseudonym = pseudonyms(settings.SECRET_KEY)
        store = SharedSwarmStore(new_process_id(), pseudonym, name=self.source_name)
        with self.lock:
            self.core = TrackerCore(store, self.policy.current)
            self.core.share_guard()
        self.link = RedisLink(self, settings.REDIS_URL, namespace(settings.SECRET_KEY), store)

    # From the other tracker processes (tracker.redis_link's listener)

    async def from_elsewhere(self, payload: bytes) -> None:
        """What one PUBLISH of another process carried (redis_layout.records), or a P2P switch
        made anywhere (a JSON array): relayed offers and answers and counted requests handled
        under one hold of the lock, then the sends (each relayed text as it came)."""
        if payload[:1] == b"[":
            await self._control(orjson.loads(payload))
            return
        sends: list = []
        blocked: list = []
        now = self.now()
        with self.lock:
            try:
                for kind, fields, rest in records(payload):
                    try:
                        self._relayed_in(kind, fields, rest, sends, blocked, now)
                    except Exception as error:  # noqa: BLE001
                        # One malformed record (another version, a corrupted message), not
                        # the rest of what the PUBLISH carried.
                        log.warning("a record from another process was refused: %s",
                                    type(error).__name__)  # fmt: skip
            except (ValueError, struct.error) as error:
                log.warning("a payload from another process was cut short: %s",
                            type(error).__name__)  # fmt: skip
        for consumer, text in sends:
            await consumer.send_text(text)
        for key in blocked:
            self._close_source(key)

    def _relayed_in(
        self, kind: bytes, fields: tuple | None, rest: bytes, sends: list, blocked: list, now: float
    ) -> None:
        """One record of another process (under the lock): an offer or answer to send on if
        its recipient still holds the peer, or the requests its guard counted."""
        if kind == OFFER:
            to, target, process, number, info_hash, peer_id, offer_id = fields
            consumer = self.numbered.get(to)
            if consumer is None:
                return  # the socket closed meanwhile
            # The sender knows the target by its pseudonym only (the replica's, from Redis).
            target = self.link.store.peer_id_of(info_hash, target)
            if target is None:
                return  # the peer left meanwhile
            offer = RelayedOffer(info_hash, peer_id, offer_id, None)
            sender = RemoteConnection(process.decode(), number)
            text = rest.decode()  # first: a text that is not UTF-8 is refused with its record
            if self.core.offer_from_elsewhere(consumer, target, sender, offer, now).messages:
                sends.append((consumer, text))
        elif kind == ANSWER:
            to, target, info_hash, peer_id, offer_id = fields
            consumer = self.numbered.get(to)
            if consumer is None:
                return
            answer = RelayedAnswer(info_hash, peer_id, offer_id, None)
            text = rest.decode()
            if self.core.answer_from_elsewhere(consumer, target, answer).messages:
                sends.append((consumer, text))
        elif kind == GUARD:
            message = orjson.loads(rest)
            events = self._replayed(message["e"])
            blocked += self.core.replay_guard(events, now, message["f"])
        else:
            raise ValueError("an unknown record")

    async def _control(self, messages: list[dict]) -> None:
        for message in messages:
            kind = message["k"]
            if kind == "switch":
                changed = [bytes.fromhex(info_hash) for info_hash in message["h"]]
                await sync_to_async(self._switched_elsewhere)(changed)
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

    def guard_events(self, wanted: bool = True) -> tuple[list, dict[str, list]]:
        """The requests this process's guard counted, named by hash: those for every other
        process (with, every SNAPSHOT_SECONDS, its table of open sockets per source) and
        those for some only, by process (taken and dropped when there is no other process to
        tell: not `wanted`)."""
        now = self.now()
        table = now >= self._next_table
        if table:
            self._next_table = now + SNAPSHOT_SECONDS
        with self.lock:
            every, some = self.core.guard_events(now, table)
        if not wanted:
            return [], {}
        return self._named(every), {
            process: self._named(events) for process, events in some.items()
        }

    def _named(self, events: list) -> list:
        """One request is kind + name as one string, followed by its arguments in a list if
        it has any: most are WebSocket messages, without arguments, and a string is the
        cheapest to send and read back. A name forgotten since (the table starts again past
        _NAMES_MAX) is made again: an address never goes to Redis. The key "" heads a table
        of sockets."""
        name = self.hash_of.get
        source_name = self.source_name
        return [
            [kind + (key and (name(key) or source_name(key))), *(a.decode("latin-1") for a in args)]
            if args
            else kind + (key and (name(key) or source_name(key)))
            for key, kind, args in events
        ]

    def _replayed(self, events: list) -> list:
        """Another process's counted requests (guard_events' form), by this process's keys."""
        key_of = self.key_of
        replayed = []
        for event in events:
            if type(event) is str:
                replayed.append((key_of.get(event[1:], event[1:]), event[0], ()))
            else:
                head = event[0]
                args = tuple(arg.encode("latin-1") for arg in event[1:])
                replayed.append((key_of.get(head[1:], head[1:]), head[0], args))
        return replayed

    def _switched_elsewhere(self, info_hashes: list[bytes]) -> None:
        close_old_connections()
        self.p2p_changed(info_hashes)

    async def taken_elsewhere(self, info_hash: bytes, pseudonym: bytes) -> None:
        """Redis found the web peer it knows as `pseudonym` held by another process's socket:
        this process's claim to its peer_id is withdrawn, if it still holds it."""
        with self.lock:
            peer_id = self.link.store.peer_id_of(info_hash, pseudonym)
            if peer_id is None:
                return
            result = self.core.taken_elsewhere(info_hash, peer_id)
        await self.carry_out(result)

    def sharing(self) -> dict[str, bool] | None:
        """Whether this process shares its swarms through Redis, and how (None: it does not)."""
        if self.link is None:
            return None
        return {"up": self.link.up, "http_shared": self.link.store.share_http}
