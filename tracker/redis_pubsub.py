"""The pub/sub side of a tracker process's Redis link (tracker/redis_link.py): its two bare
connections (tracker/redis_wire.py), the subscription, whose payloads a task of their own
delivers, and the publisher, which never waits; and a publish from outside the event loop.
"""

import asyncio
import contextlib
import logging

import orjson
from redis.exceptions import RedisError

from tracker.redis_layout import namespace
from tracker.redis_wire import Publisher, Subscription, connect

# The link's logger: its pub/sub side is a part of it for whoever reads or filters the logs.
log = logging.getLogger("tracker.redis_link")

# Redis calls give up after this: a stalled Redis must not stall the tasks for long.
REDIS_TIMEOUT_SECONDS = 2.0
RETRY_SECONDS = 0.5
FAILURES = (RedisError, OSError, asyncio.TimeoutError)


def publish_sync(url: str, secret_key: str, message: dict) -> None:
    """Publish to every tracker process from outside the event loop (a P2P switch committed
    in a view or a management command). Best effort: the policy version is the safety net."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS)
        with contextlib.closing(client):
            client.publish(f"{namespace(secret_key)}:all", orjson.dumps([message]))
    except RedisError as error:
        log.warning("telling the tracker processes failed: %s", type(error).__name__)


class PubSub:
    """Mixed into RedisLink: `url`, `process`, `broadcast`, `channel()`, `service`, `inbox`
    and `inbox_filled` are its."""

    async def _listen_forever(self) -> None:
        channels = [self.channel(self.process), self.broadcast]
        await self._connect_forever(
            "subscription", lambda login: Subscription(login, channels, self._received)
        )

    async def _publisher_forever(self) -> None:
        await self._connect_forever("publisher", Publisher)

    async def _connect_forever(self, name: str, protocol) -> None:
        failing = False
        while True:
            try:
                connection = await connect(self.url, protocol, REDIS_TIMEOUT_SECONDS)
                setattr(self, name, connection)
                failing = False
                await connection.keep_alive()
            except (*FAILURES, ConnectionError) as error:
                # Once per outage: the writer and the refresher say when Redis is down, but this
                # connection may fail alone (an option of the URL only redis-py honours).
                if not failing:
                    log.warning("the tracker's Redis %s failed: %s", name, type(error).__name__)
                failing = True
            except Exception as error:  # noqa: BLE001 - the connection must come back
                log.error("the tracker's Redis %s failed: %s", name, type(error).__name__)
            setattr(self, name, None)
            await asyncio.sleep(RETRY_SECONDS)

    def _received(self, payloads: list[bytes]) -> None:
        self.inbox.extend(payloads)
        self.inbox_filled.set()

    async def _deliver_forever(self) -> None:
        """Everything received since the last turn, at once: the sends never wait
        (instance/ws_protocol.py), so a backlog is cleared in one turn of the loop."""
        while True:
            await self.inbox_filled.wait()
            self.inbox_filled.clear()
            payloads, self.inbox = self.inbox, []
            for payload in payloads:
                try:
                    await self.service.from_elsewhere(payload)
                except Exception as error:  # noqa: BLE001 - one bad payload, not the rest
                    log.error("a message from another process failed: %s", type(error).__name__)
