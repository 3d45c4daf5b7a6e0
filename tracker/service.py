"""The process's tracker: what only a process can own around the core's front door.

The lock (a sync caller, such as a P2P switch committed in a view's thread, may run beside the
event loop), the registry of open sockets and which source each belongs to, the housekeeping
tasks, and carrying out what the core returns: messages sent, sockets closed, alarms raised.
Offers and answers are relayed in process, straight to the target socket: a channel layer
carries under 2k messages a second with drops.

Sources (client addresses) are held in memory only: on the consumer while its socket is open and
in the guard until a window after their last request. Alarms leave through tracker.alarms.
"""

import asyncio
import contextlib
import itertools
import logging
import random
import threading
import time
from collections.abc import Iterable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from tracker.access import POLICY_POLL_SECONDS, TrackerPolicy, p2p_of
from tracker.core import (
    HttpResult,
    InMemorySwarmStore,
    KindCounts,
    RemoteConnection,
    Result,
    TrackerCore,
    encode_http,
    encode_web,
)
from tracker.models import PolicyVersion
from tracker.service_sharing import SharedTracker
from tracker.sources import forget_addresses
from tracker.swarm_history import SAMPLE_SECONDS, history

log = logging.getLogger(__name__)

# How often silent peers, stale offers and idle sockets are swept. An HTTP peer's address is
# forgotten two intervals after its last announce, at most this much later.
SWEEP_SECONDS = 15.0


class TrackerService(SharedTracker):
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every swarm, socket and source (a fresh start, as after a restart)."""
        for task in getattr(self, "_tasks", ()):
            with contextlib.suppress(RuntimeError):  # its event loop is gone already
                task.cancel()
        self.policy = TrackerPolicy()
        self.rng = random.Random()
        self.lock = threading.Lock()
        self.core = TrackerCore(InMemorySwarmStore(), self.policy.current)
        self.sockets: set = set()
        self.by_source: dict[str, set] = {}
        # Sockets by number, for messages other processes relay to them (tracker.redis_link).
        self.numbered: dict[int, object] = {}
        # Source keys and the keyed hashes other processes know them by (shared guard).
        self.hash_of: dict[str, str] = {}
        self.key_of: dict[str, str] = {}
        self._numbers = itertools.count(1)
        self.link = None
        self._next_sample = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._polling = False
        self._reloading: asyncio.Future | None = None

    def now(self) -> float:
        return time.monotonic()

    # The policy

    @property
    def stale(self) -> bool:
        """Whether the shells must load the policy before serving (a server process's poller
        keeps it fresh; elsewhere it is checked when old)."""
        return self.policy.stale and not self._polling

    async def ensure_policy(self) -> None:
        """Load a stale policy once for all callers: the ones that arrive meanwhile wait for
        that one load instead of each taking its own thread hop."""
        if not self.policy.stale:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        reloading = self._reloading
        if reloading is None or reloading.done() or reloading.get_loop() is not loop:
            reloading = self._reloading = asyncio.ensure_future(self._reload_in_thread())
        await asyncio.shield(reloading)

    async def _reload_in_thread(self) -> None:
        await sync_to_async(self._reload_on_own_connection)()

    def _reload_on_own_connection(self) -> None:
        # No request cycle runs in the thread of this hop to recycle its database connection:
        # without this, one broken by a database restart would stay broken.
        close_old_connections()
        self.reload()

    def reload(self) -> None:
        """Load the policy if it changed anywhere; the core applies it (sync)."""
        policy = self.policy.refresh()
        if policy is not None:
            with self.lock:
                result = self.core.apply(policy)
            self.carry_out_soon(result)

    def p2p_changed(self, info_hashes: Iterable[bytes]) -> None:
        """P2P of these swarms was switched (committed): the core loads just them, and those
        switched off are emptied and their sockets told at once (sync)."""
        changes, videos = p2p_of(info_hashes)
        with self.lock:
            result = self.core.switch(changes, videos)
        self.carry_out_soon(result)
        self.policy.noted(PolicyVersion.current())

    # WebSocket

    def open_socket(self, consumer, key: str | None):
        """The new socket's meter, or False to refuse its upgrade (checked before it is
        accepted); a socket admitted is registered under its source."""
        # The loop first: a refusal that blocks the source closes its other sockets on it.
        self._loop = asyncio.get_running_loop()
        if self.link is not None:
            self._learn(key)
        with self.lock:
            meter, result = self.core.open_socket(key, self.now())
        self.carry_out_soon(result)
        if result.refused:
            return False
        self.sockets.add(consumer)
        consumer.relay_id = number = next(self._numbers)
        self.numbered[number] = consumer
        if key is not None:
            self.by_source.setdefault(key, set()).add(consumer)
        self._ensure_housekeeping()
        return meter

    def sockets_per_source(self) -> int:
        """The guard's limit of sockets per source (the server's cap on silent connections)."""
        return self.core.sockets_per_source

    async def receive(self, consumer, raw: str | bytes) -> None:
        with self.lock:
            result = self.core.receive_web(consumer, consumer.meter, raw, self.now(), self.rng)
        await self.carry_out(result)

    async def control_frame(self, consumer) -> None:
        with self.lock:
            result = self.core.control_frame(consumer, consumer.meter, self.now())
        await self.carry_out(result)

    def disconnect(self, consumer, key: str | None, meter) -> None:
        self.sockets.discard(consumer)
        self.numbered.pop(getattr(consumer, "relay_id", None), None)
        if key is not None and key in self.by_source:
            self.by_source[key].discard(consumer)
            if not self.by_source[key]:
                del self.by_source[key]
        with self.lock:
            self.core.disconnect(consumer, meter, self.now())

    # HTTP

    def announce_http(self, query: bytes, address: str, key: str | None) -> tuple[int, bytes]:
        if self.link is not None:
            self._learn(key)
        with self.lock:
            result = self.core.announce_http(query, address, key, self.now(), self.rng)
        return self._answer_http(result)

    def scrape_http(self, query: bytes, key: str | None) -> tuple[int, bytes]:
        if self.link is not None:
            self._learn(key)
        with self.lock:
            result = self.core.scrape_http(query, key, self.now())
        return self._answer_http(result)

    def _answer_http(self, result: HttpResult) -> tuple[int, bytes]:
        """The reply's status and body; its alarms raised and a blocked source's sockets
        closed, as for any result."""
        if result.alarms or result.blocked_source is not None:
            self.carry_out_soon(Result(alarms=result.alarms, blocked_source=result.blocked_source))
        return encode_http(result.reply)

    # Carrying out results

    async def carry_out(self, result: Result) -> None:
        """Send the messages, close the sockets, raise the alarms of a result (event loop)."""
        for recipient, message in result.messages:
            if type(recipient) is RemoteConnection:
                self.link.relay(recipient, message)
            else:
                await recipient.send_text(encode_web(message))
        for connection, code in result.close:
            await connection.close_with(code)
        self._raise_alarms(result.alarms)
        if result.blocked_source is not None:
            self._close_source(result.blocked_source)

    def carry_out_soon(self, result: Result) -> None:
        """carry_out from any thread, on the sockets' event loop. Without a loop no socket is
        open here, so there is nothing to send or close: the alarms are raised all the same."""
        loop = self._loop
        sockets_affected = result.messages or result.close or result.blocked_source is not None
        if sockets_affected and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(asyncio.ensure_future, self.carry_out(result))
        else:
            self._raise_alarms(result.alarms)

    def _raise_alarms(self, alarms) -> None:
        if alarms:
            from tracker.alarms import dispatcher

            at = timezone.now()
            for alarm in alarms:
                dispatcher.submit(alarm, at)

    def _close_source(self, key: str) -> None:
        for consumer in list(self.by_source.get(key, ())):
            asyncio.ensure_future(consumer.close_blocked())

    # Housekeeping

    async def start(self) -> None:
        """With the server (ASGI lifespan): the policy loaded, then the sweeper and the policy
        poller run for the life of the process, sockets or not. With PEERVEIL_REDIS_URL, the
        swarms are shared with the instance's other tracker processes (tracker.redis_link)."""
        self._loop = asyncio.get_running_loop()
        if settings.REDIS_URL and self.link is None:
            self._share_through_redis()
        await self._reload_in_thread()
        self._polling = True
        self._ensure_housekeeping()
        if self.link is not None:
            await self.link.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._polling = False
        if self.link is not None:
            await self.link.stop()

    def _ensure_housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [t for t in self._tasks if not t.done() and t.get_loop() is loop]
        if not self._tasks:
            self._tasks.append(loop.create_task(self._sweep_forever()))
            if self._polling:
                self._tasks.append(loop.create_task(self._poll_policy_forever()))

    async def _sweep_forever(self) -> None:
        # Started by the server, it runs for ever; started by a socket where no server started
        # it (tests), while sockets are open.
        while self._polling or self.sockets:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception as error:  # noqa: BLE001 - one failed sweep must not end the sweeper
                # The type only: the sweep works on tables keyed by client addresses, and an
                # exception's message (a KeyError) could quote one.
                log.error("the tracker's sweep failed: %s", type(error).__name__)

    async def _poll_policy_forever(self) -> None:
        while True:
            await asyncio.sleep(POLICY_POLL_SECONDS)
            try:
                await self._reload_in_thread()
            except Exception as error:  # noqa: BLE001 - a database outage must not end the polling
                log.error("loading the tracker's policy failed: %s", type(error).__name__)

    def expire(self) -> None:
        """Forget silent peers, stale offers and idle sources (any thread)."""
        with self.lock:
            self.core.expire(self.now())
        forget_addresses(self.now())

    def swarm_counts(self) -> dict[bytes, KindCounts]:
        """Peers per kind of every swarm that has any: counts only, for the admin overview."""
        with self.lock:
            return self.core.counts()

    def stats(self) -> dict[str, int]:
        with self.lock:
            return self.core.stats()

    def viewers(self, info_hashes: list[bytes]) -> dict[bytes, int]:
        """Distinct viewers of each of these swarms in this process: counts only."""
        with self.lock:
            return self.core.viewers(info_hashes)

    async def sweep(self) -> None:
        """Forget what expired, sample the swarm sizes once a minute, close idle sockets."""
        # No garbage collection here: a closed socket's objects are freed by reference
        # counting when it closes (instance/http_protocol.py, instance/ws_protocol.py). A full
        # collection with 7,400 sockets open paused the loop for 0.65 s (900,000 tracked
        # objects), and at every sweep after 500 closes it made the p99 of scrapes 396 ms.
        self.expire()
        now = self.now()
        if now >= self._next_sample:
            history.record(time.time(), self.swarm_counts())
            self._next_sample = now + SAMPLE_SECONDS
        idle_after = self.core.config.idle_connection_timeout
        # A close never waits for the peer to read (instance/ws_protocol.py), so one stuck
        # socket cannot hold up the others.
        for consumer in [s for s in self.sockets if now - s.last_message_at > idle_after]:
            await consumer.close_idle()


service = TrackerService()
