"""The WebSocket shell of the tracker at /tracker/socket: frames in, the service carries out what
the core returns."""

import logging

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from instance.ws_protocol import CONTROL_FRAME_EVENT
from tracker.core import CLOSE_POLICY_VIOLATION
from tracker.service import service
from tracker.sources import scope_address, source_key

log = logging.getLogger(__name__)

# Close code for a socket that stayed silent too long (RFC 6455 section 7.4.1: 1001 going away).
CLOSE_IDLE = 1001


class TrackerConsumer(AsyncWebsocketConsumer):
    """One per socket. No channel layer and no per-message database work on this path.

    The client's address is kept on the consumer, in memory, while the socket is open (as its
    source key): the guard counts by it and a block closes every socket of the address."""

    meter = None
    source_key = None
    closing = False

    async def __call__(self, scope, receive, send):
        # Channels' default loop starts a task and an asyncio.wait per message and closes old
        # database connections in a thread each time; the tracker needs none of that (it uses no
        # channel layer and no database per message): a plain receive loop measured about 20%
        # more messages per second.
        self.scope = scope
        self.base_send = send
        self.channel_layer = None
        self.last_message_at = service.now()
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.on_frame(message.get("text") or message.get("bytes") or "")
                elif kind == CONTROL_FRAME_EVENT:
                    await self.on_control_frame()
                elif kind == "websocket.connect":
                    await self.websocket_connect(message)
                elif kind == "websocket.disconnect":
                    await self.websocket_disconnect(message)
        except StopConsumer:
            pass

    async def connect(self):
        if service.stale:
            await service.ensure_policy()
        self.source_key = source_key(scope_address(self.scope))
        meter = service.open_socket(self, self.source_key)
        if meter is False:
            # Closing before accepting refuses the upgrade: the server answers 403.
            await self.close()
            return
        self.meter = meter
        await self.accept()

    async def disconnect(self, code):
        service.disconnect(self, self.source_key, self.meter)

    async def on_frame(self, raw: str | bytes) -> None:
        self.last_message_at = service.now()
        if service.stale:
            await service.ensure_policy()
        await service.receive(self, raw)

    async def on_control_frame(self) -> None:
        """A ping or pong (the server answered a ping itself): it costs the socket's message
        budget, and does not count as activity for the idle sweeper. Frames parsed from the
        same read as one over the budget are not counted again."""
        if not self.closing:
            await service.control_frame(self)

    async def send_text(self, text: str) -> None:
        try:
            await self.base_send({"type": "websocket.send", "text": text})
        except Exception:  # noqa: BLE001 - the target socket went away; the sender is unaffected
            log.debug("dropped a message to a closed socket")

    async def close_idle(self) -> None:
        await self.close_with(CLOSE_IDLE)

    async def close_blocked(self) -> None:
        await self.close_with(CLOSE_POLICY_VIOLATION)

    async def close_with(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        try:
            await self.close(code=code)
        except Exception:  # noqa: BLE001 - already closed by the client
            log.debug("a socket closed before the tracker closed it")
        finally:
            service.disconnect(self, self.source_key, self.meter)
