"""uvicorn's sans-I/O WebSocket protocol (`--ws websockets-sansio`): lighter per-socket state,
sends that never wait for a slow reader, and control frames the tracker can meter.

The tracker keeps thousands of mostly idle sockets open; what each one costs is what an instance
pays (memory per open socket). uvicorn gives every connection an asyncio.Queue for the
messages to the app and an asyncio.Event for write back-pressure: four deques and two Events,
and an empty deque is 600 bytes, about 3 KB a socket in all (tracemalloc under
bench/tracker_bench.py --gc-probe tracemalloc). The protocol uses only put_nowait/get/empty of
the one and set/clear/wait of the other, with a single reader at a time; the classes below do
exactly that with a list and one future. `manage.py serve` names this class in `--ws`.

Back-pressure: uvicorn's send() waits until the peer has read enough of what was sent before. The
tracker sends to a socket from inside another socket's receive loop (an offer relayed to a peer),
so one peer that stops reading froze every sender relaying to it and the idle sweeper closing
sockets one by one. Here a send never waits: what the peer has not read stays in the transport's
buffer, and a socket whose buffer stays over the transport's high-water mark for DRAIN_SECONDS,
or grows past SEND_BUFFER_LIMIT, is dropped and leaves its swarms, as aquatic does.

Control frames: websockets answers a ping by itself, so a ping flood never reached the tracker's
message budget and pinned the core. Each ping or pong is passed to the app as a
CONTROL_FRAME_EVENT, which the consumer meters like a message; reading pauses until the app has
taken it, as for a data frame.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# The ASGI event the protocol sends the app for each ping or pong it received (an extension:
# other servers never send it, and an app that does not know it ignores it).
CONTROL_FRAME_EVENT = "peerveil.websocket.control"
# How long a socket's unsent data may stay over the transport's high-water mark (64 KiB: a few
# dozen offers) before the socket is dropped. A browser on a slow link reads that much in well
# under a second; a peer that stopped reading never does.
DRAIN_SECONDS = 5.0
# Unsent bytes at which a socket is dropped at once, however recently it last read.
SEND_BUFFER_LIMIT = 1024 * 1024
# The close code an app sees for a dropped slow reader: 1013 "Try Again Later" (IANA WebSocket
# Close Code registry). No close frame is sent: a peer that does not read would never see it.
CLOSE_SLOW_READER = 1013


class MessageQueue:
    """The part of asyncio.Queue uvicorn's protocol uses, for one reader (the app's receive).
    uvicorn pauses reading from the socket while a message waits, so it rarely holds more
    than one."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list = []
        self._waiter: asyncio.Future | None = None

    def put_nowait(self, item) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self):
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class WritableFlag:
    """The part of asyncio.Event uvicorn's protocol uses for write back-pressure (set by
    resume_writing, cleared by pause_writing, awaited by send)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            return await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.queue, asyncio.Queue) and isinstance(self.writable, asyncio.Event):
            self.queue = MessageQueue()
            self.writable = WritableFlag()
        # else a uvicorn whose protocol changed shape: keep its own objects rather than guess.
        # Sends never wait: the flag stays set, and pause_writing() starts the drain deadline.
        self.writable.set()
        self.drain_timer: asyncio.TimerHandle | None = None
        self.dropped = False

    def pause_writing(self) -> None:
        if self.drain_timer is None and not self.dropped:
            self.drain_timer = self.loop.call_later(DRAIN_SECONDS, self.drop_slow_reader)

    def resume_writing(self) -> None:
        if self.drain_timer is not None:
            self.drain_timer.cancel()
            self.drain_timer = None

    def drop_slow_reader(self) -> None:
        """Abort the connection (its unsent data is discarded) and tell the app it closed."""
        self.drain_timer = None
        if self.dropped or self.disconnected:
            return
        self.dropped = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": CLOSE_SLOW_READER})
        self.transport.abort()

    async def send(self, message) -> None:
        if self.dropped:
            raise ClientDisconnected()
        await super().send(message)
        if self.transport.get_write_buffer_size() > SEND_BUFFER_LIMIT:
            self.drop_slow_reader()
        elif message["type"] == "websocket.close" and self.close_timer is not None:
            # uvicorn ends the closing handshake after close_timeout with transport.close(),
            # which waits for the unsent data to drain: never, for a peer that does not read.
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        # After drop_slow_reader the app reads no further event: a second disconnect is inert.
        self.resume_writing()
        super().connection_lost(exc)
        # websockets' ServerProtocol parses with a generator whose frame holds the protocol,
        # kept suspended even after the close: a reference cycle (protocol, parser, its
        # reader, the close frames: about ten objects) that only a full collection would free,
        # and the raised thresholds (instance/asgi.py) make those rare: RSS grew by 16 to 21%
        # over eight cycles of 3,000 sockets (tests/test_memory_cycles_live.py). Nothing is
        # parsed once the connection is lost (receive_data and receive_eof are fed from
        # data_received and eof_received only), so dropping the generator frees them at once.
        self.conn.parser = None

    def handle_ping(self) -> None:
        super().handle_ping()
        self._pass_control_frame()

    def handle_pong(self, event) -> None:
        super().handle_pong(event)
        self._pass_control_frame()

    def _pass_control_frame(self) -> None:
        if not self.handshake_complete or self.close_sent or self.dropped:
            return
        self.queue.put_nowait({"type": CONTROL_FRAME_EVENT})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
