"""The spy guard of several tracker processes: each counts the others' requests too.

A source whose requests land on two processes must meet one budget, not one per process. Each
process's guard records the requests it counts (Guard.shared), the shell passes them to the
others (named by the keyed hash of their source, never the address), and each replays them on
its own guard: the same inputs, so the same counts and, from the same number of refused
requests on, the same block, wherever the requests landed. Only the process that received a
request answers it and rings its alarms; a replayed request that starts a block closes that
source's sockets here too.

Shared: the videos asked about (the video limit and its breaches), HTTP requests and HTTP
announces per video, WebSocket messages against the source's message budget, and requests
refused for a budget that is the process's own (a socket's messages; the address's sockets on
that process, whose count is per process: an address may hold the socket limit on each).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from .guard import Guard

Event = tuple[str, str, tuple]  # (source key, kind, arguments)


def take_events(guard: Guard) -> list[Event]:
    events, guard.shared = guard.shared or [], []
    return events


def replay(
    guard: Guard,
    events: Iterable[Event],
    video_of: Callable[[bytes], Hashable | None],
    counted_as: Callable[[bytes], Hashable],
    now: float,
) -> list[str]:
    """Count requests another process counted; returns the sources this blocked."""
    journal, guard.shared = guard.shared, None  # a replayed request is not shared again
    blocked = []
    try:
        for key, kind, args in events:
            source = guard.source(key, now)
            if kind == "v":
                verdict = guard.request_videos(source, args, video_of, now)
            elif kind == "r":
                verdict = guard.http_request(source, now)
            elif kind == "a":
                verdict = guard.http_announce(source, counted_as(args[0]), now)
            elif kind == "m":
                verdict = guard.meter_source(source, now)
            elif kind == "b":
                # Refused there for a budget of its own (a socket's messages, the sockets of
                # the address on that process): a step towards a block here too.
                verdict = None if source.blocked_until > now else guard.breach(source, "", now)
            else:
                continue
            if verdict is not None and verdict.new_block:
                blocked.append(key)
    finally:
        guard.shared = journal
    return blocked


def adopt(guard: Guard, stand_in: str, key: str) -> None:
    """Requests of `key` replayed before this process saw it were counted under `stand_in`
    (its hash, all the others send): from now on they count under `key`."""
    sources = guard._sources
    source = sources.pop(stand_in, None)
    if source is not None and key not in sources:
        source.key = key
        sources[key] = source
