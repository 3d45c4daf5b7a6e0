"""The spy guard of several tracker processes: each counts the others' requests too.

A source whose requests land on two processes must meet one budget, not one per process. Each
process's guard records the requests it counts (Guard.shared), the shell passes them to the
others (named by the keyed hash of their source, never the address), and each replays them on
its own guard: the same inputs, so the same counts and, from the same number of refused
requests on, the same block, wherever the requests landed. Only the process that received a
request answers it and rings its alarms; a replayed request that starts a block closes that
source's sockets here too.

Shared: the videos asked about (the video limit and its breaches), HTTP requests and HTTP
announces per video, WebSocket messages against the source's message budget, requests refused
for a budget of a socket or of the address's sockets, and the sockets themselves: each open and
close, and every SNAPSHOT_SECONDS the whole table of open sockets per source, which replaces
the last one (sockets_elsewhere.py), so that the limit of sockets per source counts the
source's sockets on every process and a lost message is corrected at the next table.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from .guard import Guard
from .sockets_elsewhere import SNAPSHOT_SECONDS, SocketsElsewhere

__all__ = ["SNAPSHOT_SECONDS", "adopt", "replay", "share", "take_events"]

Event = tuple[str, str, tuple]  # (source key, kind, arguments)
# A socket opened, closed; a table of open sockets starts, one source's row in it.
_SOCKET_KINDS = frozenset(("o", "c", "S", "n"))
# A video already counted for its source, asked about again, is told to the others at most
# once per this share of the video window: they only move its sighting forward, so their
# window may let it go this much early, and a viewer's player (an announce per rendition and
# interval, more often when it starts) costs the others nothing most of the time.
SIGHTING_SHARE_OF_WINDOW = 1 / 8


def share(guard: Guard) -> None:
    guard.shared = []
    guard.elsewhere = SocketsElsewhere()


def take_events(
    guard: Guard,
    sockets: bool = False,
    now: float = 0.0,
    video_of: Callable[[bytes], Hashable | None] | None = None,
) -> tuple[list[Event], dict[str, list[Event]]]:
    """The requests counted since the last call: (those every other process counts, those
    only some do, by process); `sockets`: then the table of open sockets per source, which
    replaces the one the others held for this process.

    A WebSocket message ("m") draws on its source's message budget, which a process asks only
    when one of the source's sockets there sends a message: it goes only to the processes
    holding a socket of the source. Most sources are one browser with one socket, so most
    messages are counted once, not once per process. One the budget refused ("M") goes to every
    process, which counts it as a message if it holds a socket of the source, else as a
    breach: the steps towards a block are counted everywhere, and the block holds everywhere.
    A process where the source opens a socket is told, at once, what is left of the budget
    here ("l"), and takes the lower of that and its own: the budget is one wherever the
    source's sockets are, as if every message had been counted everywhere. Videos asked about
    again ("v") whose sighting was told lately are not told again (`video_of`: the swarms'
    videos, told_lately)."""
    events, guard.shared = guard.shared or [], []
    elsewhere = guard.elsewhere
    some: dict[str, list[Event]] = {}
    if elsewhere is None:
        return events, some
    every = []
    for event in events:
        kind = event[1]
        if kind == "m":
            for process in elsewhere.holders(event[0]):
                some.setdefault(process, []).append(event)
        elif kind != "v" or video_of is None or not told_lately(guard, event, video_of, now):
            every.append(event)
    # After the messages: a level counts them already, and a message replayed after it would
    # be counted twice.
    arrivals, elsewhere.arrivals = elsewhere.arrivals, []
    per_source = guard.config.source_messages_per_minute
    for process, key in arrivals:
        source = guard._sources.get(key)
        if source is not None:
            left = source.bucket.level(per_source, per_source / 60.0, now)
            if left < per_source:
                some.setdefault(process, []).append((key, "l", (b"%.2f" % left,)))
    if sockets:
        every.append(("", "S", ()))
        every.extend(
            (key, "n", (str(source.sockets).encode(),))
            for key, source in guard._sources.items()
            if source.sockets > 0
        )
    return every, some


def told_lately(
    guard: Guard, event: Event, video_of: Callable[[bytes], Hashable | None], now: float
) -> bool:
    """Whether a "v" event only asks again about videos counted for its source, told to the
    others less than SIGHTING_SHARE_OF_WINDOW of the window ago (if not, it is told now)."""
    key, _, info_hashes = event
    # (source key, videos asked about) -> when that sighting was told, oldest first.
    told = guard.sightings_told
    horizon = now - guard.config.video_window * SIGHTING_SHARE_OF_WINDOW
    while told:
        oldest = next(iter(told))
        if told[oldest] > horizon:
            break
        del told[oldest]
    source = guard._sources.get(key)
    counted = source is not None and all(
        (video := video_of(info_hash)) is not None and video in source.videos
        for info_hash in info_hashes
    )
    if not counted:
        return False
    sighting = (key, info_hashes)
    if sighting in told:
        return True
    told[sighting] = now
    return False


def replay(
    guard: Guard,
    events: Iterable[Event],
    video_of: Callable[[bytes], Hashable | None],
    counted_as: Callable[[bytes], Hashable],
    now: float,
    process: str = "",
) -> list[str]:
    """Count requests another process counted; returns the sources this blocked. `process`
    names the sender, whose open sockets are counted apart (and replaced by its tables)."""
    journal, guard.shared = guard.shared, None  # a replayed request is not shared again
    elsewhere = guard.elsewhere
    table: dict[str, int] | None = None
    blocked = []
    try:
        for key, kind, args in events:
            if kind in _SOCKET_KINDS:
                if elsewhere is None:
                    continue
                if kind == "o":
                    elsewhere.opened(process, key, now)
                elif kind == "c":
                    elsewhere.closed(process, key, now)
                elif kind == "S":
                    table = {}
                    elsewhere.replace(process, table, now)
                elif table is not None:
                    table[key] = int(args[0])
                continue
            source = guard.source(key, now)
            if kind == "v":
                verdict = guard.request_videos(source, args, video_of, now)
            elif kind == "r":
                verdict = guard.http_request(source, now)
            elif kind == "a":
                verdict = guard.http_announce(source, counted_as(args[0]), now)
            elif kind == "m" or (kind == "M" and source.sockets):
                verdict = guard.meter_source(source, now)
            elif kind == "M":
                # A message refused there for the address's budget, and no socket of it here
                # to count its messages: the breach is counted, as every process does.
                verdict = None if source.blocked_until > now else guard.breach(source, "", now)
            elif kind == "l":
                per_source = guard.config.source_messages_per_minute
                source.bucket.lower(float(args[0]), per_source, per_source / 60.0, now)
                continue
            elif kind == "b":
                # Refused there (a socket's messages, the address's sockets): a step towards
                # a block here too.
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
    if guard.elsewhere is not None:
        guard.elsewhere.adopt(stand_in, key)
