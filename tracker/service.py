"""The process-wide tracker: one core, its policy, and the sockets it relays between.

Offers and answers are relayed in process, straight to the target consumer: a channel layer
carries under 2k messages a second with drops (interop-notes). The core is called under one lock
because the sync HTTP views run in a worker thread while the consumers run on the event loop.
"""

import asyncio
import random
import threading
import time

from tracker.access import TrackerPolicy
from tracker.core import InMemorySwarmStore, KindCounts, Tracker

# How often silent peers, stale offers and idle sockets are swept.
SWEEP_SECONDS = 15.0


class TrackerService:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every swarm and socket (a fresh start, as after a restart)."""
        self.policy = TrackerPolicy()
        self.rng = random.Random()
        self.lock = threading.Lock()
        self.tracker = Tracker(self.policy.config, InMemorySwarmStore(), self.policy.access)
        self.sockets: set = set()
        self._sweeper: asyncio.Task | None = None

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
                for info_hash in before - self.policy.allowed():
                    self.tracker.drop_swarm(info_hash)

    def now(self) -> float:
        return time.monotonic()

    def handle_web(self, consumer, raw: str | bytes) -> list:
        with self.lock:
            return self.tracker.handle_web(consumer, raw, self.now(), self.rng)

    def disconnect(self, consumer) -> None:
        self.sockets.discard(consumer)
        with self.lock:
            self.tracker.handle_disconnect(consumer, self.now())

    def connect(self, consumer) -> None:
        self.sockets.add(consumer)
        self._ensure_sweeper()

    def _ensure_sweeper(self) -> None:
        loop = asyncio.get_running_loop()
        if self._sweeper is None or self._sweeper.done() or self._sweeper.get_loop() is not loop:
            self._sweeper = loop.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while self.sockets:
            await asyncio.sleep(SWEEP_SECONDS)
            await self.sweep()

    def expire(self) -> None:
        """Forget silent peers and stale offers. Called from threads too: the sweeper task runs
        only while sockets are open, and HTTP peers' addresses must not outlive their TTL."""
        with self.lock:
            self.tracker.expire(self.now())

    def swarm_counts(self) -> dict[bytes, KindCounts]:
        """Peers per kind of every swarm that has any: counts only, for the admin overview."""
        with self.lock:
            store = self.tracker.store
            return {info_hash: store.count_by_kind(info_hash) for info_hash in store.info_hashes()}

    async def sweep(self) -> None:
        self.expire()
        now = self.now()
        idle_after = self.tracker.config.idle_connection_timeout
        for consumer in [s for s in self.sockets if now - s.last_message_at > idle_after]:
            await consumer.close_idle()


service = TrackerService()
