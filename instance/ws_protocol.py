"""uvicorn's sans-I/O WebSocket protocol (`--ws websockets-sansio`) with lighter per-socket state.

The tracker keeps thousands of mostly idle sockets open; what each one costs is what an instance
pays (issue 8: memory per open socket). uvicorn gives every connection an asyncio.Queue for the
messages to the app and an asyncio.Event for write back-pressure: four deques and two Events,
and an empty deque is 600 bytes, about 3 KB a socket in all (tracemalloc under
bench/tracker_bench.py --gc-probe tracemalloc). The protocol uses only put_nowait/get/empty of
the one and set/clear/wait of the other, with a single reader at a time; the classes below do
exactly that with a list and one future. `manage.py serve` names this class in `--ws`.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


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
        if not isinstance(self.queue, asyncio.Queue) or not isinstance(
            self.writable, asyncio.Event
        ):
            # A uvicorn whose protocol changed shape: keep its own objects rather than guess.
            return
        self.queue = MessageQueue()
        writable = WritableFlag()
        if self.writable.is_set():
            writable.set()
        self.writable = writable
