"""A tracker process's link to the Redis its sibling processes share: all the I/O of sharing.

Tasks, none on the message path (the core answers from memory, tracker/redis_store.py):
  sender    at the end of each loop turn that relayed something, at most every
            SEND_EVERY_SECONDS: the messages for other processes, one PUBLISH per process,
            on a connection that never waits for replies
            (tracker/redis_wire.py), with the requests this process's guard counted;
  writer    every FLUSH_SECONDS: the store's journal (one script call per swarm), in one
            pipeline, and the guard's requests not sent yet;
  refresher every REFRESH_SECONDS: this process's heartbeat, then the replica of the swarms in
            use here (expired peers and dead processes' peers removed on the way): of each,
            only its version if it is the one the replica was rebuilt at, else every peer;
  listener  pub/sub: offers and answers for this process's sockets, and P2P switches and policy
            changes made anywhere, delivered by a task of their own (tracker/redis_pubsub.py).
Offers and answers go over raw pub/sub, a channel per process (bench/relay_bench.py measured
Channels' RedisPubSubChannelLayer against it). A target in this process never comes here.

Redis unreachable: nothing waits for it. Announces are served from this process's own peers
(the replica is dropped, its peers may be gone), relayed messages for other processes are
dropped (their senders' next announce offers again), and the journal is written again in full
when Redis answers (a restarted Redis is refilled at once, not only by the next announces).
"""

import asyncio
import contextlib
import logging

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from tracker import redis_scripts
from tracker.core import RemoteConnection
from tracker.core.sockets_elsewhere import FORGET_AFTER_SECONDS
from tracker.redis_layout import (
    apply_view,
    guard_record,
    peer_op,
    processes_key,
    redis_persists,
    relayed,
    swarm_keys,
    swarms_key,
    view_args,
)
from tracker.redis_pubsub import FAILURES, REDIS_TIMEOUT_SECONDS, PubSub
from tracker.redis_store import SharedSwarmStore
from tracker.redis_wire import Publisher, Subscription

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.05
# Relayed messages go out at the end of the loop turn, or this long after the last send if that
# is later: under load, several turns' messages share one PUBLISH (each costs a command in
# Redis and a read and a wake-up in the receiving process), for at most 5 ms more on the way.
SEND_EVERY_SECONDS = 0.005
REFRESH_SECONDS = 0.5
HEARTBEAT_SECONDS = REFRESH_SECONDS
# A refresh reads every peer of a swarm only if it changed since the replica was rebuilt, and at
# least this often. A rebuild gives the replica's peers their last_seen, and the core's sweep
# drops a peer unseen for peer_ttl (tracker/core/config.py): rebuilt at least four times per
# peer_ttl (full_view_seconds), a swarm in use here keeps its replica through three of these
# rebuilds missed or late. And what Redis lost without a script seeing it (a key evicted under
# maxmemory) is back in the replica within this.
FULL_VIEW_SECONDS = 30.0
# A process silent this long is dead: the others drop its peers at their next refresh, well
# within one sweep (tracker.service.SWEEP_SECONDS), and, by the same rule, their guards its
# sockets (tracker/core/sockets_elsewhere.py).
DEAD_AFTER_SECONDS = FORGET_AFTER_SECONDS


def full_view_seconds(peer_ttl: float) -> float:
    return min(FULL_VIEW_SECONDS, peer_ttl / 4)


class RedisLink(PubSub):
    def __init__(self, service, url: str, prefix: str, store: SharedSwarmStore) -> None:
        self.service = service
        self.url = url
        self.prefix = prefix
        self.store = store
        self.process = store.process
        self.broadcast = f"{prefix}:all"
        # Messages for other processes, by channel (redis_layout's records): one PUBLISH per
        # channel and send.
        self.outbox: dict[str, list[bytes]] = {}
        self.sending = False  # a send is scheduled
        self.sent_at = 0.0  # the loop's time of the last send
        self.client = None
        self.shas_loaded_once = False
        self.shas: dict[str, str] = {}
        self.up = False
        self.dead: list[str] = []
        # The live processes but this one: where the guard's requests go (a process started
        # since the last refresh gets them from the next one on).
        self.others: list[str] = []
        self.written: set[bytes] = set()  # swarms written since the last heartbeat
        self.last_heartbeat = 0.0
        self.tasks: list[asyncio.Task] = []
        self.subscription: Subscription | None = None
        self.publisher: Publisher | None = None
        # Payloads the subscription received, for the delivering task (a protocol callback
        # cannot await the sends).
        self.inbox: list[bytes] = []
        self.inbox_filled = asyncio.Event()

    def channel(self, process: str) -> str:
        # "p3": the records of redis_layout (fixed-width fields); a process of an earlier
        # version (JSON messages on "p", separated hex fields on "p2") and one of this one,
        # side by side during a rolling restart, do not talk.
        return f"{self.prefix}:p3:{process}"

    # Lifecycle

    async def start(self) -> None:
        self.client = aioredis.Redis.from_url(
            self.url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self._forever(self.flush, FLUSH_SECONDS)),
            loop.create_task(self._forever(self.refresh, REFRESH_SECONDS)),
            loop.create_task(self._listen_forever()),
            loop.create_task(self._publisher_forever()),
            loop.create_task(self._deliver_forever()),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.client is not None:
            with contextlib.suppress(*FAILURES):
                await self.client.zrem(processes_key(self.prefix), self.process)
            await self.client.aclose()
        for connection in (self.subscription, self.publisher):
            if connection is not None:
                connection.transport.abort()

    async def _forever(self, step, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await step()
            except FAILURES as error:
                self._down(error)
            except Exception as error:  # noqa: BLE001 - one bad step must not end the task
                # Whatever failed (a client's connection torn down mid-reply can fail with
                # other errors than ConnectionError), the replica and the journal may be stale
                # or half written: served as in an outage, until the next step reconnects and
                # writes everything again.
                log.error("the tracker's Redis link failed: %s", type(error).__name__)
                self._down(error)

    async def _connected(self) -> None:
        """Scripts loaded and persistence checked: at start and after every outage (a
        restarted Redis has neither the scripts nor, perhaps, the same settings)."""
        if self.up:
            return
        client = self.client
        # Connections of before the outage may be broken in ways a command does not notice.
        await client.connection_pool.disconnect()
        for name in ("WRITE", "VIEW", "HEARTBEAT"):
            self.shas[name] = await client.script_load(getattr(redis_scripts, name))
        share = not await redis_persists(client)
        if share != self.store.share_http or not self.shas_loaded_once:
            self.shas_loaded_once = True
            log.warning(
                "Redis %s: HTTP peers are %s",
                "does not persist" if share else "persists to disk",
                "shared" if share else "kept per process (no address on a disk)",
            )
        with self.service.lock:  # a switch empties swarms from a thread
            self.store.share_http = share
            self.store.resync()
        self.up = True
        log.warning("the tracker shares its swarms through Redis (process %s)", self.process)

    def _down(self, error: Exception) -> None:
        if self.up:
            log.error("Redis unreachable (%s): serving this process's peers", type(error).__name__)
        self.up = False
        self.outbox.clear()
        with self.service.lock:
            self.store.forget_replica()

    def _evalsha(self, pipe, name: str, keys: list[str], args: list) -> None:
        pipe.evalsha(self.shas[name], len(keys), *keys, *args)

    async def _execute(self, pipe) -> list:
        results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, NoScriptError):
                self.up = False  # Redis restarted between two calls: load them again
                raise result
            if isinstance(result, Exception):
                raise result
        return results

    # Writer

    def relay(self, recipient: RemoteConnection, message) -> None:
        """Queue an offer or answer for a socket of another process (called by carry_out)."""
        if not self.up:
            return
        payload = relayed(self.process, recipient, message)
        if payload is None:
            return
        self.outbox.setdefault(self.channel(recipient.process), []).append(payload)
        if not self.sending:
            self.sending = True
            loop = asyncio.get_running_loop()
            wait = self.sent_at + SEND_EVERY_SECONDS - loop.time()
            if wait > 0:
                loop.call_later(wait, self.send)
            else:
                loop.call_soon(self.send)

    def send(self) -> None:
        """The messages for other processes, and to each the requests this process's guard
        counted: one PUBLISH per process, written without waiting. Dropped if Redis is
        unreachable: the senders offer again at their next announce."""
        self.sending = False
        self.sent_at = asyncio.get_running_loop().time()
        every, some = self.service.guard_events(wanted=bool(self.others))
        outbox, self.outbox = self.outbox, {}
        if not self.up or self.publisher is None:
            return
        for process in self.others:
            events = every + some[process] if process in some else every
            if events:
                counted = orjson.dumps({"f": self.process, "e": events})
                outbox.setdefault(self.channel(process), []).append(guard_record(counted))
        if outbox:
            self.publisher.publish([(ch, b"".join(rs)) for ch, rs in outbox.items()])

    async def flush(self) -> None:
        # First: the guard's requests are taken even while Redis is unreachable (and dropped,
        # as relays are), or they would pile up, one per WebSocket message, until it is back.
        self.send()
        await self._connected()
        store = self.store
        web_ttl, http_ttl = self._ttls()
        with self.service.lock:  # a switch empties swarms from a thread
            # Rewritten a quarter interval before the next announce would find the entry with
            # only one interval left: a live peer's entry keeps more than one interval and a
            # quarter, so one lost or late announce does not expire it in Redis.
            interval = self.service.core.config.announce_interval
            store.rewrite_after = max(0.0, min(web_ttl, http_ttl) / 1000 - 1.25 * interval)
            journal, dropped, completed = store.take_journal()
        if not (journal or dropped or completed):
            return
        ops: dict[bytes, list] = {}
        for (info_hash, stored_id), change in journal.items():
            ops.setdefault(info_hash, []).extend(
                peer_op(self.process, stored_id, change, self.store.connection_number)
            )
        for info_hash, count in completed.items():
            ops.setdefault(info_hash, []).extend(("dn", b"", count))
        for info_hash in dropped:
            ops.setdefault(info_hash, []).extend(("dr", b"", b""))
        swarms = list(ops)
        self.written.update(swarms)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for info_hash in swarms:
                    args = [self.process, web_ttl, http_ttl, *ops[info_hash]]
                    self._evalsha(pipe, "WRITE", swarm_keys(self.prefix, info_hash), args)
                results = await self._execute(pipe)
        except FAILURES:
            # Kept for the next attempt (removals included).
            with self.service.lock:
                store.restore_journal(journal, dropped, completed)
            raise
        for info_hash, taken in zip(swarms, results, strict=True):
            for pseudonym in taken:
                await self.service.taken_elsewhere(info_hash, pseudonym)

    def _ttls(self) -> tuple[int, int]:
        # A web peer lives as long as its socket announces; an HTTP peer's address two
        # intervals (the core's peer_ttl) after its last announce, here as in the core.
        ttl = int(1000 * self.service.core.config.peer_ttl)
        return ttl, ttl

    # Refresher

    async def refresh(self) -> None:
        await self._connected()
        now = self.service.now()
        web_ttl, _ = self._ttls()
        procs = processes_key(self.prefix)
        dead_after = int(1000 * DEAD_AFTER_SECONDS)
        if self.last_heartbeat and now - self.last_heartbeat > DEAD_AFTER_SECONDS:
            # Silent long enough for the others to take this process for dead: its peers
            # may have been removed as ghosts.
            with self.service.lock:
                self.store.resync()
        written, self.written = self.written, set()
        try:
            dead, listed, live, fresh = await self.client.evalsha(
                self.shas["HEARTBEAT"], 2, procs, swarms_key(self.prefix), self.process,
                dead_after, max(web_ttl, dead_after), *(h.hex() for h in written),
            )  # fmt: skip
        except FAILURES:
            self.written |= written
            raise
        if fresh and self.last_heartbeat:
            # Beating before, absent now: Redis lost its data (restarted empty, perhaps while
            # another process loaded the scripts again, so that no call here failed).
            with self.service.lock:
                self.store.resync()
        self.dead = [process.decode() for process in dead]
        self.others = [p.decode() for p in live if p.decode() != self.process]
        self.last_heartbeat = now
        with self.service.lock:
            since = now - self.service.core.config.announce_interval
            swarms = set(self.store.swarms_in_use(now, since))
        swarms = list(swarms | {bytes.fromhex(h.decode()) for h in listed})
        if not swarms:
            return
        with self.service.lock:
            full_every = full_view_seconds(self.service.core.config.peer_ttl)
            args = view_args(self.store, swarms, now, full_every, web_ttl, self.dead)
        async with self.client.pipeline(transaction=False) as pipe:
            for info_hash, swarm_args in zip(swarms, args, strict=True):
                keys = swarm_keys(self.prefix, info_hash)
                self._evalsha(pipe, "VIEW", keys, swarm_args)
            results = await self._execute(pipe)
        now = self.service.now()
        with self.service.lock:
            for info_hash, reply in zip(swarms, results, strict=True):
                apply_view(self.store, info_hash, reply, now)
