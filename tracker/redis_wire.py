"""Two bare connections of a tracker process to Redis: the subscription that receives what
other processes relay here, and the publisher that relays to them. asyncio protocols on one
socket each, parsed by hiredis; the rest of the link (scripts whose replies it needs) uses
redis-py.

Why not redis-py here, both measured on two processes sharing one core under saturation:
- Receiving. redis-py reads through an asyncio StreamReader, which stops reading the socket
  once 128 KiB wait in its buffer, so its listener took a few hundred messages per turn of the
  event loop while the WebSocket protocols took every announce that arrived: the offers queued
  in Redis's output buffers for the subscribers grew to 12 MB within 8 s (Redis drops a
  subscriber at 32 MB, and every message with it). A protocol's data_received takes whatever
  the loop read, as the WebSocket protocols do.
- Sending. A redis-py pipeline per loop turn costs a round trip and its Python overhead for
  each batch of offers; PUBLISH's reply (how many received it) is of no use to the sender, so
  the publisher writes and never waits.

Liveness: a PING every PING_SECONDS; a connection silent for DEAD_SECONDS is closed, and the
link connects again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import hiredis

log = logging.getLogger(__name__)

PING_SECONDS = 1.0
DEAD_SECONDS = 3.0
# Unsent bytes at which the publisher drops messages instead of buffering more: a Redis that
# stopped reading (stalled, or a network partition not yet noticed) must not grow the process.
PUBLISH_BUFFER_LIMIT = 8 * 1024 * 1024
_PING = b"*1\r\n$4\r\nPING\r\n"


def command(*parts: str | bytes) -> bytes:
    """One command in RESP (the Redis serialization protocol): an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RawConnection(asyncio.Protocol):
    """`ready` is set once Redis answered what connection_made sent; `lost` when the
    connection is gone."""

    def __init__(self, login: bytes) -> None:
        self.login = login
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        # Retrieved even when nobody waits any more (a connection that timed out).
        self.ready.add_done_callback(lambda done: done.cancelled() or done.exception())
        self.lost = loop.create_future()
        self.heard = loop.time()

    def greeting(self) -> bytes:
        raise NotImplementedError

    def replied(self, reply) -> None:
        raise NotImplementedError

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.login + self.greeting())

    def data_received(self, data: bytes) -> None:
        self.heard = asyncio.get_running_loop().time()
        reader = self.reader
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError:
                self.transport.abort()
                return
            if reply is False:
                break
            if isinstance(reply, hiredis.ReplyError):
                self.refused(reply)
            else:
                self.replied(reply)
        self.received_all()

    def refused(self, error: hiredis.ReplyError) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"Redis refused: {error}"))
            self.transport.abort()
        else:
            log.warning("Redis refused a command: %s", error)

    def received_all(self) -> None:
        """Called after the replies of one read were handled."""

    def connection_lost(self, exc) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("Redis closed the connection"))
        if not self.lost.done():
            self.lost.set_result(None)

    async def keep_alive(self) -> None:
        """Ping until the connection is lost; close it if Redis stops answering."""
        loop = asyncio.get_running_loop()
        while not self.lost.done():
            if loop.time() - self.heard > DEAD_SECONDS:
                self.transport.abort()
                return
            self.transport.write(_PING)
            await asyncio.sleep(PING_SECONDS)
        await self.lost


class Subscription(RawConnection):
    """`deliver(payloads)` is called with the payloads of the messages parsed from one read
    (in the order published), inside data_received."""

    def __init__(self, login: bytes, channels: list[str], deliver: Callable[[list], None]):
        super().__init__(login)
        self.channels = channels
        self.deliver = deliver
        self.payloads: list[bytes] = []

    def greeting(self) -> bytes:
        return command("SUBSCRIBE", *self.channels)

    def replied(self, reply) -> None:
        # Subscribed, RESP2 replies are ["message", channel, payload], ["subscribe", channel,
        # count] and ["pong", ""].
        if type(reply) is not list or not reply:
            return  # +OK of AUTH
        kind = reply[0]
        if kind == b"message":
            self.payloads.append(reply[2])
        elif kind == b"subscribe" and reply[2] == len(self.channels) and not self.ready.done():
            self.ready.set_result(None)

    def received_all(self) -> None:
        if self.payloads:
            payloads, self.payloads = self.payloads, []
            self.deliver(payloads)


class Publisher(RawConnection):
    def greeting(self) -> bytes:
        return _PING

    def replied(self, reply) -> None:
        # Every reply but the first PONG is PUBLISH's count of receivers (or a later PONG).
        if not self.ready.done() and reply == b"PONG":
            self.ready.set_result(None)

    def publish(self, messages: list[tuple[str, bytes]]) -> bool:
        """Write PUBLISH commands, without waiting; False if they were dropped."""
        transport = self.transport
        if transport is None or transport.is_closing() or not self.ready.done():
            return False
        if transport.get_write_buffer_size() > PUBLISH_BUFFER_LIMIT:
            return False
        transport.write(b"".join(command("PUBLISH", ch, data) for ch, data in messages))
        return True


async def connect(url: str, protocol: Callable[[bytes], RawConnection], timeout: float):
    """A connection to the Redis at `url` (redis://, rediss:// or unix://, with its user and
    password), returned once Redis answered its greeting."""
    parts = urlsplit(url)
    login = b""
    if parts.password is not None:
        user = unquote(parts.username or "default")
        login = command("AUTH", user, unquote(parts.password))
    loop = asyncio.get_running_loop()
    if parts.scheme == "unix":
        connecting = loop.create_unix_connection(lambda: protocol(login), parts.path)
    else:
        tls = ssl.create_default_context() if parts.scheme == "rediss" else None
        connecting = loop.create_connection(
            lambda: protocol(login), parts.hostname or "localhost", parts.port or 6379, ssl=tls
        )
    _, connection = await asyncio.wait_for(connecting, timeout)
    try:
        await asyncio.wait_for(asyncio.shield(connection.ready), timeout)
    except BaseException:
        connection.transport.abort()
        raise
    return connection
