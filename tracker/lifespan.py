"""The ASGI lifespan of the served instance: the tracker's housekeeping starts with the server.

The sweeper (silent peers forgotten, idle sockets closed, swarm sizes sampled) and the policy
poller (a switch made by another process applied within half a second) run for the life of the
server process, whether or not a socket is open.
"""

from tracker.service import service


async def lifespan(scope, receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await service.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await service.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return
