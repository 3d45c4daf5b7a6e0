"""The process-wide tracker: one core behind its guard, its policy, the sockets it relays between.

Offers and answers are relayed in process, straight to the target consumer: a channel layer
carries under 2k messages a second with drops (interop-notes). The core is called under one lock
because a sync caller (the policy reload, the sampling thread, a view under WSGI) may run in
another thread while the consumers and the HTTP shell run on the event loop.

Sources (client addresses) are held in memory only: on the consumer while its socket is open and
in the guard until a window after their last request. Alarms leave through tracker.alarms.
"""

import asyncio
import contextlib
import gc
import random
import threading
import time

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from tracker.access import TrackerPolicy
from tracker.core import Guard, GuardedTracker, InMemorySwarmStore, KindCounts, Tracker, Verdict
from tracker.sources import forget_addresses

# How often silent peers, stale offers and idle sockets are swept.
SWEEP_SECONDS = 15.0
# A closed socket leaves reference cycles (consumer, protocol, tasks) that only a full
# collection frees, and the raised thresholds (instance/asgi.py) make full collections rare:
# 2,000 sockets opened and closed four times grew RSS from 114 to 226 MB. The sweeper runs one
# full collection once this many sockets closed since the last: off the message path, about
# 1 ms per 1,000 tracked objects, once per sweep at most.
COLLECT_AFTER_CLOSED_SOCKETS = 500


class TrackerService:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every swarm, socket and source (a fresh start, as after a restart)."""
        self.policy = TrackerPolicy()
        self.rng = random.Random()
        self.lock = threading.Lock()
        self.tracker = Tracker(self.policy.config, InMemorySwarmStore(), self.policy.access)
        self.guard = Guard(self.policy.guard_config)
        self.gate = GuardedTracker(self.tracker, self.guard, self.policy.known)
        self.sockets: set = set()
        self.by_source: dict[str, set] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        if getattr(self, "_sweeper", None) is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is gone already
                self._sweeper.cancel()
        self._sweeper: asyncio.Task | None = None
        self.closed_since_collection = 0
        self._reloading: asyncio.Future | None = None

    async def ensure_policy(self) -> None:
        """Reload a stale policy once for all sockets: the ones whose frames arrive meanwhile
        wait for that one reload instead of each taking its own thread hop (the benchmark saw
        hundreds of overlapping hops every time the cache went stale)."""
        if not self.policy.stale:
            return
        loop = asyncio.get_running_loop()
        reloading = self._reloading
        if reloading is None or reloading.done() or reloading.get_loop() is not loop:
            reloading = self._reloading = asyncio.ensure_future(sync_to_async(self._reload)())
        await asyncio.shield(reloading)

    def _reload(self) -> None:
        # No request cycle runs here to recycle the reload thread's database connection:
        # without this, one broken by a database restart would stay broken.
        close_old_connections()
        self.apply_policy()

    def apply_policy(self) -> None:
        """Reload the policy if a video or the settings changed; the core gets the new limits.

        Swarms whose P2P was just switched off are emptied at once: no offer or answer of
        theirs is relayed any more, and their peers get the failure reason on their next
        message.
        """
        if self.policy.stale:
            before = self.policy.allowed()
            self.policy.refresh()
            with self.lock:
                self.tracker.config = self.policy.config
                self.guard.config = self.policy.guard_config
                for info_hash in before - self.policy.allowed():
                    self.tracker.drop_swarm(info_hash)

    def now(self) -> float:
        return time.monotonic()

    # WebSocket

    def admit(self, consumer) -> bool:
        """Check a new socket's source before its upgrade is accepted; False: refuse it."""
        with self.lock:
            consumer.meter, verdict = self.gate.open_socket(consumer.source_key, self.now())
        if verdict is not None:
            self.report(verdict, consumer.source_key)
        return consumer.meter is not None or consumer.source_key is None

    def connect(self, consumer) -> None:
        self._loop = asyncio.get_running_loop()
        self.sockets.add(consumer)
        if consumer.source_key is not None:
            self.by_source.setdefault(consumer.source_key, set()).add(consumer)
        self._ensure_sweeper()

    def handle_web(self, consumer, raw: str | bytes) -> list:
        with self.lock:
            outgoing, verdict = self.gate.handle_web(
                consumer, consumer.meter, raw, self.now(), self.rng
            )
        if verdict is not None:
            self.report(verdict, consumer.source_key)
        return outgoing

    def meter_control_frame(self, consumer) -> bool:
        """Count a ping or pong against the socket's budget; False: it is over, close it."""
        with self.lock:
            verdict = self.gate.meter_control_frame(consumer.meter, self.now())
        if verdict is None:
            return True
        self.report(verdict, consumer.source_key)
        return False

    def disconnect(self, consumer) -> None:
        if consumer in self.sockets:
            self.sockets.discard(consumer)
            self.closed_since_collection += 1
        key = getattr(consumer, "source_key", None)
        if key is not None and key in self.by_source:
            self.by_source[key].discard(consumer)
            if not self.by_source[key]:
                del self.by_source[key]
        with self.lock:
            now = self.now()
            self.gate.close_socket(getattr(consumer, "meter", None), now)
            self.tracker.handle_disconnect(consumer, now)

    # HTTP

    def admit_http(self, key: str | None):
        """The guard's record of an HTTP request's source, counted, and a refusal if it is
        blocked or over its request budget."""
        with self.lock:
            source, verdict = self.gate.admit_http(key, self.now())
        if verdict is not None and (verdict.alarms or verdict.new_block):
            self.report(verdict, key)
        return source, verdict

    def http_announce(self, source, message) -> tuple[dict, Verdict | None]:
        with self.lock:
            reply, verdict = self.gate.handle_http_announce(source, message, self.now(), self.rng)
        if verdict is not None:
            self.report(verdict, source.key)
        return reply, verdict

    def http_scrape(self, source, message) -> tuple[dict, Verdict | None]:
        with self.lock:
            reply, verdict = self.gate.handle_http_scrape(source, message, self.now())
        if verdict is not None:
            self.report(verdict, source.key)
        return reply, verdict

    # Alarms and blocks

    def report(self, verdict: Verdict, key: str | None) -> None:
        """Queue the verdict's alarms (O(1)); a blocked source's sockets are closed."""
        if verdict.alarms:
            from tracker.alarms import dispatcher

            at = timezone.now()
            for alarm in verdict.alarms:
                dispatcher.submit(alarm, at)
        if verdict.blocked_until is not None and key is not None and self._loop is not None:
            # From the event loop or from an HTTP worker thread alike.
            self._loop.call_soon_threadsafe(self._close_source, key)

    def _close_source(self, key: str) -> None:
        for consumer in list(self.by_source.get(key, ())):
            asyncio.ensure_future(consumer.close_blocked())

    # Housekeeping

    def _ensure_sweeper(self) -> None:
        loop = asyncio.get_running_loop()
        if self._sweeper is None or self._sweeper.done() or self._sweeper.get_loop() is not loop:
            self._sweeper = loop.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        # One more sweep after the last socket closed, to collect what the closed ones left.
        while self.sockets or self.closed_since_collection:
            await asyncio.sleep(SWEEP_SECONDS)
            await self.sweep()

    def expire(self) -> None:
        """Forget silent peers, stale offers and idle sources. Called from threads too: the
        sweeper task runs only while sockets are open, and HTTP peers' addresses (and sources)
        must not outlive their TTL."""
        with self.lock:
            now = self.now()
            self.tracker.expire(now)
            self.guard.expire(now)
        forget_addresses(now)

    def swarm_counts(self) -> dict[bytes, KindCounts]:
        """Peers per kind of every swarm that has any: counts only, for the admin overview."""
        with self.lock:
            store = self.tracker.store
            return {info_hash: store.count_by_kind(info_hash) for info_hash in store.info_hashes()}

    async def sweep(self) -> None:
        self.expire()
        now = self.now()
        idle_after = self.tracker.config.idle_connection_timeout
        # A close never waits for the peer to read (instance/ws_protocol.py), so one stuck
        # socket cannot hold up the others.
        for consumer in [s for s in self.sockets if now - s.last_message_at > idle_after]:
            await consumer.close_idle()
        closed = self.closed_since_collection
        if closed >= COLLECT_AFTER_CLOSED_SOCKETS or (closed and not self.sockets):
            self.closed_since_collection = 0
            gc.collect()


service = TrackerService()
